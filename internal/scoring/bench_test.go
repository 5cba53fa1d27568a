package scoring_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/scoring"
	"github.com/tinyhead/tinyhead/internal/sqlstore"
	"github.com/tinyhead/tinyhead/internal/testenv"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
	"github.com/tinyhead/tinyhead/internal/training"
)

// BenchmarkScore measures batch scoring on SQLite end to end — pages of
// embeddings read, the head run in Go, the predictions written — as a
// full pass of Service.Score over every document, and reports documents/s.
//
//	TINYHEAD_BENCH_DB=$PWD/.cache/local/tinyhead.db TINYHEAD_BENCH_SCORING_ROWS=1000000 \
//		go test -run XXX -bench Score -benchtime 3x -timeout 30m ./internal/scoring/
//
// "spamassassin" scores a copy of the local run's database
// (scripts/run-local.sh) with a head trained on its "spam" labels;
// "synthetic-N" scores N random 512-d rows (a SQLite file written once and
// kept under .cache/bench/) with a random head of the default recipe's
// size (512→16→2): throughput depends on the sizes, not the values.
func BenchmarkScore(b *testing.B) {
	if db := os.Getenv("TINYHEAD_BENCH_DB"); db != "" {
		b.Run("spamassassin", func(b *testing.B) { benchSpamAssassin(b, db) })
	}
	rows := os.Getenv("TINYHEAD_BENCH_SCORING_ROWS")
	if rows == "" {
		rows = "100000"
	}
	for _, s := range strings.Split(rows, ",") {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("TINYHEAD_BENCH_SCORING_ROWS: %v", err)
		}
		b.Run(fmt.Sprintf("synthetic-%d", n), func(b *testing.B) {
			store := syntheticDB(b, n)
			reg := newRegistry()
			saveHead(b, reg, "bench", "v1", syntheticModel, randomHead(512, 16, []string{"ham", "spam"}, 1))
			benchScore(b, store, reg, "bench", n)
		})
	}
}

// benchScore runs full scoring passes of task and reports documents/s.
func benchScore(b *testing.B, store *sqlstore.Store, models scoring.Models, task string, want int) {
	svc := &scoring.Service{Store: store, Models: models, Log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	var scored int
	var elapsed, cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		if _, err := store.DeletePredictions(ctx, task, ""); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start, cpu0 := time.Now(), cpuTime()
		res, err := svc.Score(ctx, task, scoring.Request{})
		if err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
		cpu += cpuTime() - cpu0
		scored += res.Scored
		if res.Scored != want || !res.Done {
			b.Fatalf("scored %d of %d documents: %+v", res.Scored, want, res)
		}
	}
	b.ReportMetric(float64(scored)/elapsed.Seconds(), "docs/s")
	// On a shared machine the wall-clock rate depends on the others' load;
	// documents per CPU second (user + system, of this process) less so.
	b.ReportMetric(float64(scored)/cpu.Seconds(), "docs/cpu-s")
	b.ReportMetric(0, "ns/op")
}

// benchSpamAssassin scores a copy of the local run's database with a head
// trained on its "spam" task (the default recipe, as Train makes it).
func benchSpamAssassin(b *testing.B, db string) {
	dir := b.TempDir()
	for _, suffix := range []string{"", "-wal"} {
		if err := copyFile(db+suffix, filepath.Join(dir, "tinyhead.db"+suffix)); err != nil && !(suffix != "" && os.IsNotExist(err)) {
			testenv.Missing(b, "the local run's database (run scripts/run-local.sh): %v", err)
		}
	}
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, sqlstore.DriverSQLite, filepath.Join(dir, "tinyhead.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	st, err := store.Stats(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if len(st.ByModel) != 1 {
		b.Fatalf("documents of %d embedding models: %v", len(st.ByModel), st.ByModel)
	}
	var model string
	for m := range st.ByModel {
		model = m
	}
	reg := newRegistry()
	trainer := &training.Service{Store: store, Registry: reg, Embedders: tinyhead.Embedders{fixedModel{model, 512}}, Log: slog.New(slog.DiscardHandler)}
	if _, err := trainer.Train(ctx, "spam", training.Request{}); err != nil {
		b.Fatal(err)
	}
	benchScore(b, store, reg, "spam", st.Documents)
}

// cpuTime is the process's user and system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type fixedModel struct {
	id  string
	dim int
}

func (m fixedModel) ModelID() string { return m.id }
func (m fixedModel) Dim() int        { return m.dim }

// Embed is never called: training reads stored vectors only.
func (m fixedModel) Embed(context.Context, []string) ([][]float32, error) {
	return nil, fmt.Errorf("fixedModel embeds nothing")
}

const syntheticModel = "synthetic-512"

// syntheticDB opens a SQLite file of n documents with random 512-d
// embeddings, writing it the first time: one transaction of plain
// INSERTs, which is faster than ingest's path and measures nothing here.
func syntheticDB(b *testing.B, n int) *sqlstore.Store {
	ctx := context.Background()
	dir := filepath.Join(testenv.RepoRoot(), ".cache", "bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("scoring-synthetic-%d.db", n))
	ready := path + ".done"
	if _, err := os.Stat(ready); err != nil {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(path + suffix)
		}
		store, err := sqlstore.Open(ctx, sqlstore.DriverSQLite, path)
		if err != nil {
			b.Fatal(err)
		}
		store.Close()
		if err := writeSynthetic(ctx, path, n); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(ready, nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	store, err := sqlstore.Open(ctx, sqlstore.DriverSQLite, path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	return store
}

func writeSynthetic(ctx context.Context, path string, n int) error {
	db, err := sql.Open("sqlite", path+"?_pragma=synchronous(OFF)&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	doc, err := tx.PrepareContext(ctx, `INSERT INTO documents (source, item, source_version, content_hash, text,
		embedding_model, embedding, dim, created_at, updated_at) VALUES ('incoming/synthetic.csv', ?, 'v1', ?, ?, '', x'', 0, ?, ?)`)
	if err != nil {
		return err
	}
	vec, err := tx.PrepareContext(ctx, `INSERT INTO embeddings (model, content_hash, dim, embedding, created_at) VALUES (?, ?, 512, ?, ?)`)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	emb := make([]byte, 512*4)
	at := time.Now().UTC().Format("2006-01-02T15:04:05.000000000Z")
	for i := range n {
		for k := 0; k < 512; k++ {
			binary.LittleEndian.PutUint32(emb[4*k:], math.Float32bits(float32(rng.NormFloat64()/math.Sqrt(512))))
		}
		item := strconv.Itoa(i)
		text := "synthetic row " + item
		hash := tinyhead.ContentHash(text)
		if _, err := doc.ExecContext(ctx, item, hash, text, at, at); err != nil {
			return err
		}
		if _, err := vec.ExecContext(ctx, syntheticModel, hash, emb, at); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
