package app_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tinyhead/tinyhead/internal/app"
	"github.com/tinyhead/tinyhead/internal/customhandler"
	"github.com/tinyhead/tinyhead/internal/onnxembed/embedtest"
	"github.com/tinyhead/tinyhead/internal/serving"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// BenchmarkBlobInvocationMemory sends the handler a blob-trigger invocation
// carrying a blob of TINYHEAD_BENCH_BLOB_MB MiB (default 200) base64-encoded,
// as the Functions host does, streamed through a pipe so that only the
// handler's own copies count, and reports the process's peak RSS. Run it
// alone, in a fresh process (peak RSS is the process's maximum):
//
//	go test -run XXX -bench BlobInvocationMemory -benchtime 1x ./internal/app/
func BenchmarkBlobInvocationMemory(b *testing.B) {
	size := 200 << 20
	if v := os.Getenv("TINYHEAD_BENCH_BLOB_MB"); v != "" {
		mb, err := strconv.Atoi(v)
		if err != nil {
			b.Fatal(err)
		}
		size = mb << 20
	}
	a := &app.App{Ingest: &scripted{}, Training: &scripted{}, Serving: &scripted{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	h := a.Handler()
	before := rssMiB(b)
	for b.Loop() {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeBlobInvocation(pw, size)) }()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/"+app.EmbedBlobFunction, pr))
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(size>>20), "blob-MiB")
	b.ReportMetric(before, "RSS-before-MiB")
	b.ReportMetric(peakRSSMiB(b), "peak-RSS-MiB")
	b.ReportMetric(rssMiB(b), "RSS-after-MiB")
}

// BenchmarkClassifyMemory sends the handler the largest Classify request
// the host lets through (its request bodies stop at 100 MB): 99 texts of
// 1 MiB — TINYHEAD_MAX_TEXT_BYTES, the most a text may have — without a
// space, decoded, tokenized and embedded by the real model (the head is
// left out: it is a few kilobytes). It reports the process's peak RSS and
// the RSS right after the request. Run it alone, in a fresh process:
//
//	go test -run XXX -bench ClassifyMemory -benchtime 1x ./internal/app/
func BenchmarkClassifyMemory(b *testing.B) {
	emb := embedtest.Embedder(b)
	if _, err := emb.Embed(b.Context(), []string{"warm up"}); err != nil {
		b.Fatal(err)
	}
	a := &app.App{Ingest: &scripted{}, Training: &scripted{}, Serving: embedOnly{emb}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	h := a.Handler()
	const texts, textBytes = 99, 1 << 20
	debug.FreeOSMemory()
	before := rssMiB(b)
	for b.Loop() {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeClassifyInvocation(pw, texts, textBytes)) }()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/"+app.ClassifyFunction, pr))
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `\"predictions\"`) {
			b.Fatalf("status %d: %.300s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(texts*textBytes)/(1<<20), "texts-MiB")
	b.ReportMetric(before, "RSS-before-MiB")
	b.ReportMetric(peakRSSMiB(b), "peak-RSS-MiB")
	b.ReportMetric(rssMiB(b), "RSS-after-MiB")
}

// embedOnly classifies by embedding the texts and nothing more.
type embedOnly struct{ emb tinyhead.Embedder }

func (e embedOnly) ClassifyVersion(ctx context.Context, task, version string, texts []string) (*serving.Classification, error) {
	vecs, err := e.emb.Embed(ctx, texts)
	if err != nil {
		return nil, err
	}
	return &serving.Classification{Task: task, Predictions: make([]serving.Prediction, len(vecs))}, nil
}

// writeClassifyInvocation writes the host's invocation of Classify with n
// texts of size bytes, each one letter repeated, without holding them.
func writeClassifyInvocation(w io.Writer, n, size int) error {
	inv := apiInvocation(app.ClassifyFunction, "spam", "")
	meta, err := json.Marshal(inv.Metadata)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, `{"Data":{%q:{"Url":"http://localhost/api/classify/spam","Method":"POST","Params":{"task":"spam"},"Body":{"texts":[`, app.HTTPRequestBinding); err != nil {
		return err
	}
	for i := range n {
		sep := ","
		if i == 0 {
			sep = ""
		}
		chunk := bytes.Repeat([]byte{byte('a' + i%26)}, 64<<10)
		if _, err := io.WriteString(w, sep+`"`); err != nil {
			return err
		}
		for k := 0; k < size; k += len(chunk) {
			if _, err := w.Write(chunk[:min(len(chunk), size-k)]); err != nil {
				return err
			}
		}
		if _, err := io.WriteString(w, `"`); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(w, `]}}},"Metadata":%s}`, meta)
	return err
}

// writeBlobInvocation writes the host's invocation for a JSON Lines blob of
// size bytes without holding the blob or its base64 text.
func writeBlobInvocation(w io.Writer, size int) error {
	req := customhandler.BlobTriggerRequest(app.EmbedBlobFunction, app.BlobBinding,
		"http://127.0.0.1:10000/devstoreaccount1/incoming/big.jsonl", "big.jsonl", nil,
		customhandler.BlobProperties{ETag: `"0x8D1"`})
	meta, err := json.Marshal(req.Metadata)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, `{"Data":{%q:"`, app.BlobBinding); err != nil {
		return err
	}
	enc := base64.NewEncoder(base64.StdEncoding, w)
	line := []byte(`{"text": "` + strings.Repeat("lorem ipsum ", 20) + `", "labels": {"spam": "ham"}}` + "\n")
	chunk := bytes.Repeat(line, (64<<10)/len(line))
	for n := 0; n < size; n += len(chunk) {
		if _, err := enc.Write(chunk[:min(len(chunk), size-n)]); err != nil {
			return err
		}
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, `"},"Metadata":%s}`, meta)
	return err
}

// peakRSSMiB is the process's peak resident set size.
func peakRSSMiB(tb testing.TB) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return float64(ru.Maxrss) / 1024 // Linux reports KiB
}

// rssMiB is the process's resident set size now.
func rssMiB(tb testing.TB) float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		tb.Skipf("no /proc/self/statm: %v", err)
	}
	f := strings.Fields(string(b))
	pages, err := strconv.ParseFloat(f[1], 64)
	if err != nil {
		tb.Fatal(err)
	}
	return pages * float64(os.Getpagesize()) / (1 << 20)
}
