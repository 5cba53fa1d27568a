package azuritetest

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/azurite"
)

func TestStartStop(t *testing.T) {
	s := Start(t)
	if s.Port() == 0 {
		t.Fatal("port 0")
	}
	want := "BlobEndpoint=http://127.0.0.1:" + strconv.Itoa(s.Port()) + "/devstoreaccount1;"
	if cs := s.ConnectionString(); !strings.Contains(cs, want) || !strings.Contains(cs, "AccountKey="+azurite.AccountKey) {
		t.Errorf("ConnectionString() = %q, want it to hold %q and the account key", cs, want)
	}
	resp, err := http.Get(s.BlobEndpoint() + "?comp=list")
	if err != nil {
		t.Fatalf("GET the blob service: %v", err)
	}
	resp.Body.Close()

	s.Stop()
	s.Stop() // a second Stop is harmless
	if _, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port())), time.Second); err == nil {
		t.Errorf("port %d still accepts connections after Stop", s.Port())
	}
}

func TestTwoServers(t *testing.T) {
	a, b := Start(t), Start(t)
	if a.Port() == b.Port() {
		t.Fatalf("both servers on port %d", a.Port())
	}
}
