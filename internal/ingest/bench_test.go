package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/azurite"
	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/docparse"
	"github.com/tinyhead/tinyhead/internal/ingest"
	"github.com/tinyhead/tinyhead/internal/onnxembed/embedtest"
	"github.com/tinyhead/tinyhead/internal/sqlstore"
	"github.com/tinyhead/tinyhead/internal/testenv"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// spamTexts returns the subject-and-body texts of n distinct SpamAssassin
// emails, taken evenly from the five folders, as EmbedBlob extracts them.
// Duplicates are left out so that ingest cannot skip work by reusing an
// embedding.
func spamTexts(tb testing.TB, n int) []string {
	tb.Helper()
	dir := testenv.SpamDir(tb)
	groups := []string{"easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2"}
	var texts []string
	seen := map[string]bool{}
	for k := 0; len(texts) < n; k++ {
		progressed := false
		for _, g := range groups {
			files, _ := filepath.Glob(filepath.Join(dir, g, "*.json"))
			sort.Strings(files)
			if k >= len(files) || len(texts) == n {
				continue
			}
			progressed = true
			raw, err := os.ReadFile(files[k])
			if err != nil {
				tb.Fatal(err)
			}
			var email struct{ Text string }
			if err := json.Unmarshal(raw, &email); err != nil {
				tb.Fatal(err)
			}
			err = docparse.Parse(context.Background(), "x.eml", strings.NewReader(email.Text), docparse.Options{},
				func(it docparse.Item) error {
					if !seen[it.Text] {
						seen[it.Text] = true
						texts = append(texts, it.Text)
					}
					return nil
				}, func(docparse.RowError) {})
			if err != nil {
				tb.Fatal(err)
			}
		}
		if !progressed {
			break
		}
	}
	return texts
}

// BenchmarkEmbedThroughput measures, side by side on the same SpamAssassin
// texts and the same model session, raw model inference (Embedder.Embed)
// and end-to-end ingest (blob in Azurite → parse → embed → SQLite), and
// reports both rates and their ratio. Each iteration ingests into a fresh
// database, so nothing is reused from an earlier iteration.
func BenchmarkEmbedThroughput(b *testing.B) {
	const n = 512
	texts := spamTexts(b, n)
	emb := embedtest.Embedder(b)
	ctx := context.Background()
	az, err := azurite.Start(ctx, azurite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer az.Stop()
	blobs, err := blobstore.NewFromConnectionString(az.ConnectionString())
	if err != nil {
		b.Fatal(err)
	}
	if err := blobs.EnsureContainer(ctx, "incoming"); err != nil {
		b.Fatal(err)
	}
	var file bytes.Buffer
	enc := json.NewEncoder(&file)
	for i, t := range texts {
		enc.Encode(map[string]any{"id": fmt.Sprint(i), "text": t, "labels": map[string]string{"task": "x"}})
	}
	if _, err := blobs.UploadBytes(ctx, "incoming", "bench.jsonl", file.Bytes(), ""); err != nil {
		b.Fatal(err)
	}
	var model, endToEnd time.Duration
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		for j := 0; j < len(texts); j += 256 {
			if _, err := emb.Embed(ctx, texts[j:min(j+256, len(texts))]); err != nil {
				b.Fatal(err)
			}
		}
		model += time.Since(start)

		store, err := sqlstore.Open(ctx, "sqlite", filepath.Join(b.TempDir(), fmt.Sprintf("bench-%d.db", i)))
		if err != nil {
			b.Fatal(err)
		}
		p := &ingest.Pipeline{Blobs: blobs, Store: store, Embedders: tinyhead.Embedders{emb}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		start = time.Now()
		res, err := p.Ingest(ctx, "incoming", "bench.jsonl")
		endToEnd += time.Since(start)
		store.Close()
		if err != nil {
			b.Fatal(err)
		}
		if res.RowsOK != len(texts) {
			b.Fatalf("ingested %d rows of %d", res.RowsOK, len(texts))
		}
	}
	iters := float64(b.N)
	b.ReportMetric(iters*float64(len(texts))/model.Seconds(), "model-texts/s")
	b.ReportMetric(iters*float64(len(texts))/endToEnd.Seconds(), "ingest-texts/s")
	b.ReportMetric(model.Seconds()/endToEnd.Seconds(), "ingest/model")
	b.ReportMetric(0, "ns/op")
}
