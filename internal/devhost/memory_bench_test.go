package devhost

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tinyhead/tinyhead/internal/azurite/azuritetest"
	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/customhandler"
)

// BenchmarkHostInvocationMemory plays the host for one blob of
// TINYHEAD_BENCH_BLOB_MB MiB (default 200) in Azurite, against a handler
// that reads the invocation as the real one does, and reports the
// process's peak RSS (host and handler side together). Run it alone, in
// a fresh process:
//
//	go test -run XXX -bench HostInvocationMemory -benchtime 1x ./internal/devhost/
func BenchmarkHostInvocationMemory(b *testing.B) {
	size := int64(200 << 20)
	if v := os.Getenv("TINYHEAD_BENCH_BLOB_MB"); v != "" {
		mb, err := strconv.Atoi(v)
		if err != nil {
			b.Fatal(err)
		}
		size = int64(mb) << 20
	}
	srv := azuritetest.Start(b)
	blobs, err := blobstore.NewFromEnv("", func(k string) string {
		if k == "AzureWebJobsStorage" {
			return srv.ConnectionString()
		}
		return ""
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	if err := blobs.EnsureContainer(ctx, "incoming"); err != nil {
		b.Fatal(err)
	}
	line := `{"text": "` + strings.Repeat("lorem ipsum ", 20) + `"}` + "\n"
	if _, err := blobs.Upload(ctx, "incoming", "big.jsonl", io.LimitReader(repeatReader(line), size), ""); err != nil {
		b.Fatal(err)
	}
	handler := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := customhandler.Decode(r.Body, "blob"); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(customhandler.InvokeResponse{Logs: []string{"ok"}})
	}))
	defer handler.Close()
	before := rssMiB(b)
	for b.Loop() {
		h := &Host{Blobs: blobs, HandlerURL: handler.URL, Container: "incoming", Function: "EmbedBlob", Binding: "blob",
			MaxAttempts: 1, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		var inv Invocation
		if _, err := h.Sync(ctx, func(i Invocation) { inv = i }); err != nil {
			b.Fatal(err)
		}
		if inv.Status != http.StatusOK {
			b.Fatalf("invocation: %d %s", inv.Status, inv.Response)
		}
	}
	b.ReportMetric(float64(size>>20), "blob-MiB")
	b.ReportMetric(before, "RSS-before-MiB")
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MiB")
}

// repeatReader yields its text over and over.
type repeatReader string

func (r repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		n += copy(p[n:], r)
	}
	return n, nil
}

func rssMiB(tb testing.TB) float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		tb.Skipf("no /proc/self/statm: %v", err)
	}
	pages, err := strconv.ParseFloat(strings.Fields(string(b))[1], 64)
	if err != nil {
		tb.Fatal(err)
	}
	return pages * float64(os.Getpagesize()) / (1 << 20)
}
