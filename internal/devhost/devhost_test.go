package devhost

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/azurite/azuritetest"
	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/customhandler"
)

// TestHostRescansDuringLongIngest: a blob dropped while another one's
// invocation is still running is dispatched without waiting for it, and
// each invocation carries its blob's content as the host sends it.
func TestHostRescansDuringLongIngest(t *testing.T) {
	srv := azuritetest.Start(t)
	blobs, err := blobstore.NewFromEnv("", func(k string) string {
		if k == "AzureWebJobsStorage" {
			return srv.ConnectionString()
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if err := blobs.EnsureContainer(ctx, "incoming"); err != nil {
		t.Fatal(err)
	}
	contents := map[string][]byte{
		"long.jsonl":  bytes.Repeat([]byte(`{"text": "slow"}`+"\n"), 100_000),
		"short.jsonl": []byte(`{"text": "quick"}` + "\n"),
	}
	started := make(chan string, 4)
	release := make(chan struct{})
	handler := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var inv customhandler.InvokeRequest
		if err := json.NewDecoder(r.Body).Decode(&inv); err != nil {
			t.Error(err)
		}
		name := inv.MetaString("name")
		if got, err := inv.BlobContent("blob"); err != nil || !bytes.Equal(got, contents[name]) {
			t.Errorf("%s: content of %d bytes (%v), want %d", name, len(got), err, len(contents[name]))
		}
		started <- name
		if name == "long.jsonl" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		json.NewEncoder(w).Encode(customhandler.InvokeResponse{Logs: []string{"ok"}})
	}))
	defer handler.Close()
	defer close(release)

	h := &Host{Blobs: blobs, HandlerURL: handler.URL, Container: "incoming", Function: "EmbedBlob", Binding: "blob",
		PollEvery: 20 * time.Millisecond, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	upload := func(name string) {
		if _, err := blobs.UploadBytes(ctx, "incoming", name, contents[name], ""); err != nil {
			t.Fatal(err)
		}
	}
	upload("long.jsonl")
	ran := make(chan error, 1)
	go func() { ran <- h.Run(ctx, nil) }()
	if got := <-started; got != "long.jsonl" {
		t.Fatalf("first invocation %s", got)
	}
	upload("short.jsonl")
	select {
	case got := <-started:
		if got != "short.jsonl" {
			t.Errorf("second invocation %s", got)
		}
	case <-time.After(time.Minute): // a guard against hanging, not a timing check
		t.Fatal("the blob dropped during a long invocation was not dispatched while it ran")
	}
	cancel()
	if err := <-ran; err != nil {
		t.Error(err)
	}
}

// TestGatewayErrorsAreJSON: what the gateway refuses itself is answered
// like an API error, {"error": …}, and a body that stops arriving is cut
// off after BodyTimeout.
func TestGatewayErrorsAreJSON(t *testing.T) {
	handler := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError) // the invocation failed
	}))
	defer handler.Close()
	fns, err := LoadFunctions("../../functions")
	if err != nil {
		t.Fatal(err)
	}
	h, err := (&Gateway{HandlerURL: handler.URL, Functions: fns, BodyTimeout: 200 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler()
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(h)
	defer gw.Close()

	t.Run("failed invocation", func(t *testing.T) {
		resp, err := http.Post(gw.URL+"/api/train/spam", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		checkJSONError(t, resp, http.StatusInternalServerError)
	})
	t.Run("stalled body", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(gw.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// Ten of the hundred bytes promised, then nothing.
		fmt.Fprintf(conn, "POST /api/train/spam HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"seed\": 1")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		checkJSONError(t, resp, http.StatusRequestTimeout)
	})
}

func checkJSONError(t *testing.T, resp *http.Response, status int) {
	t.Helper()
	defer resp.Body.Close()
	var e struct{ Error string }
	err := json.NewDecoder(resp.Body).Decode(&e)
	if resp.StatusCode != status || err != nil || e.Error == "" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("answer %d %q (%v), %v; want %d with a JSON error", resp.StatusCode, e.Error, err, resp.Header, status)
	}
}
