package reembed_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/devenv"
	"github.com/tinyhead/tinyhead/internal/embedmodel"
	"github.com/tinyhead/tinyhead/internal/onnxembed/embedtest"
	"github.com/tinyhead/tinyhead/internal/reembed"
	"github.com/tinyhead/tinyhead/internal/sqlstore"
	"github.com/tinyhead/tinyhead/internal/testenv"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// BenchmarkReembedSpamAssassin re-embeds every text of the local run's
// database (SpamAssassin, 6,046 rows; scripts/run-local.sh makes it), a
// copy of it, with a second model (the default model's files under
// another id), and measures, in the same run, the raw model on the same
// texts in batches of the same size: the rates and their ratio say what
// claiming, reading the texts and storing the vectors cost.
func BenchmarkReembedSpamAssassin(b *testing.B) {
	ctx := context.Background()
	src, err := devenv.Path(os.Getenv, "TINYHEAD_LOCAL_DB", "local/tinyhead.db")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(src); err != nil {
		testenv.Missing(b, "%s not found: run scripts/run-local.sh first", src)
	}
	embedtest.InitRuntime(b)
	const model = "use-lite-en@0.2.0-copy"
	emb, err := embedmodel.Open(testenv.ModelCopy(b, model, 0), embedmodel.Options{Threads: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer emb.Close()
	var raw, run time.Duration
	texts := 0
	for b.Loop() {
		store := copyStore(b, src)
		// The texts, as a run reads them (the claims lapse at once).
		pending, err := store.ClaimMissing(ctx, model, "bench", "", 1<<20, time.Nanosecond)
		if err != nil {
			b.Fatal(err)
		}
		in := make([]string, len(pending))
		for i, p := range pending {
			in[i] = p.Text
		}
		start := time.Now()
		for i := 0; i < len(in); i += reembed.DefaultBatchSize {
			if _, err := emb.Embed(ctx, in[i:min(i+reembed.DefaultBatchSize, len(in))]); err != nil {
				b.Fatal(err)
			}
		}
		raw += time.Since(start)

		svc := &reembed.Service{Store: store, Embedders: tinyhead.Embedders{emb}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		start = time.Now()
		st, err := svc.Run(ctx, model, time.Now().Add(time.Hour))
		run += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if !st.Done || st.Run.Embedded != len(in) {
			b.Fatalf("re-embedded %d of %d texts: %+v", st.Run.Embedded, len(in), st)
		}
		texts += len(in)
		store.Close()
	}
	b.ReportMetric(float64(texts)/raw.Seconds(), "model-texts/s")
	b.ReportMetric(float64(texts)/run.Seconds(), "reembed-texts/s")
	b.ReportMetric(raw.Seconds()/run.Seconds(), "reembed/model")
	b.ReportMetric(float64(texts)/float64(b.N), "texts")
	b.ReportMetric(0, "ns/op")
}

// copyStore opens a copy of the SQLite database at src (migrated in place,
// which the original must not be).
func copyStore(b *testing.B, src string) *sqlstore.Store {
	b.Helper()
	dst := filepath.Join(b.TempDir(), "tinyhead.db")
	for _, suffix := range []string{"", "-wal"} {
		data, err := os.ReadFile(src + suffix)
		if os.IsNotExist(err) && suffix != "" {
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(dst+suffix, data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	store, err := sqlstore.Open(context.Background(), sqlstore.DriverSQLite, dst)
	if err != nil {
		b.Fatal(err)
	}
	return store
}
