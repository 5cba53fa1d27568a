package sqlstore

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/sqlstore/rowcheck"
	"github.com/tinyhead/tinyhead/internal/testenv"

	"github.com/tinyhead/tinyhead/internal/sqlstore/storetest"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// Store implements tinyhead.Store.
var _ tinyhead.Store = (*Store)(nil)

// dialects lists the stores the shared tests run against; open returns an
// empty store.
func dialects() []struct {
	name string
	open func(t *testing.T) *Store
} {
	return []struct {
		name string
		open func(t *testing.T) *Store
	}{
		{"SQLite", openSQLiteTest},
		{"SQLServer", openMSSQLTest},
	}
}

func openSQLiteTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), DriverSQLite, filepath.Join(t.TempDir(), "tinyhead.db"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// openMSSQLTest opens the database named by TINYHEAD_TEST_MSSQL_DSN
// (testenv.MSSQLDSN) and deletes every row of tinyhead's tables, so each
// test starts empty: point it at a database used for nothing else. Tests
// against it never run in parallel.
func openMSSQLTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), DriverSQLServer, testenv.MSSQL(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Clear(t.Context()); err != nil {
		s.Close()
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	for _, d := range dialects() {
		t.Run(d.name, func(t *testing.T) {
			if d.name == "SQLServer" {
				testenv.MSSQL(t) // skips without a server
			}
			storetest.Run(t, func(t *testing.T) tinyhead.Store { return d.open(t) })
		})
	}
}

func TestScanEmbeddings(t *testing.T) {
	for _, d := range dialects() {
		t.Run(d.name, func(t *testing.T) {
			s := d.open(t)
			defer s.Close()
			ctx := t.Context()
			// More than two pages, and a second model to skip.
			const n = 2*scanPageSize + 10
			var docs []tinyhead.Document
			for i := range n {
				text := "text " + itoa(i)
				model := "m1"
				if i%7 == 3 {
					model = "m2"
				}
				docs = append(docs, tinyhead.Document{Source: "incoming/scan", Item: itoa(i), Text: text,
					Embeddings: map[string][]float32{model: {float32(i), -float32(i)}}})
			}
			if err := s.PutDocuments(ctx, docs); err != nil {
				t.Fatal(err)
			}
			var (
				last int64
				seen int
			)
			err := s.ScanEmbeddings(ctx, "m1", func(id int64, vec []float32) error {
				if id <= last {
					t.Fatalf("id %d after %d: not in id order", id, last)
				}
				last = id
				if len(vec) != 2 || vec[0] != -vec[1] || int(vec[0])%7 == 3 {
					t.Fatalf("id %d: unexpected vector %v", id, vec)
				}
				// fn may use the store: no connection is held.
				if seen%500 == 0 {
					if _, err := s.Stats(ctx); err != nil {
						return err
					}
				}
				seen++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for _, d := range docs {
				if d.Embeddings["m1"] != nil {
					want++
				}
			}
			if seen != want {
				t.Errorf("scanned %d embeddings, want %d", seen, want)
			}

			stop := errors.New("stop")
			calls := 0
			err = s.ScanEmbeddings(ctx, "m1", func(int64, []float32) error { calls++; return stop })
			if err != stop || calls != 1 {
				t.Errorf("ScanEmbeddings returned %v after %d calls, want fn's error after 1", err, calls)
			}
			if err := s.ScanEmbeddings(ctx, "none", func(int64, []float32) error { return stop }); err != nil {
				t.Errorf("ScanEmbeddings of an unknown model: %v", err)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	for _, d := range dialects() {
		t.Run(d.name, func(t *testing.T) {
			s := d.open(t)
			defer s.Close()
			ctx := t.Context()
			ok := tinyhead.Document{Source: "incoming/a", Item: "1", Text: "t", Embeddings: map[string][]float32{"m": {1}}}
			bad := map[string]func(d *tinyhead.Document){
				"empty source": func(d *tinyhead.Document) { d.Source = "" },
				"long source":  func(d *tinyhead.Document) { d.Source = strings.Repeat("s", rowcheck.MaxSourceLen+1) },
				"long item":    func(d *tinyhead.Document) { d.Item = strings.Repeat("😀", rowcheck.MaxItemLen/2+1) },
				"long model": func(d *tinyhead.Document) {
					d.Embeddings = map[string][]float32{strings.Repeat("m", rowcheck.MaxModelLen+1): {1}}
				},
				"empty task": func(d *tinyhead.Document) { d.Labels = map[string]string{"": "x"} },
				"long label": func(d *tinyhead.Document) {
					d.Labels = map[string]string{"t": strings.Repeat("l", rowcheck.MaxLabelLen+1)}
				},
				"long content hash":      func(d *tinyhead.Document) { d.ContentHash = strings.Repeat("h", 65) },
				"task ending in a space": func(d *tinyhead.Document) { d.Labels = map[string]string{"spam ": "x"} },
			}
			for name, mutate := range bad {
				d := ok
				mutate(&d)
				if err := s.PutDocuments(ctx, []tinyhead.Document{ok, d}); err == nil {
					t.Errorf("%s: PutDocuments accepted it", name)
				}
			}
			// The longest values allowed fit the columns.
			d := ok
			d.Source = strings.Repeat("s", rowcheck.MaxSourceLen)
			d.Item = strings.Repeat("😀", rowcheck.MaxItemLen/2)
			d.Labels = map[string]string{strings.Repeat("t", rowcheck.MaxTaskLen): strings.Repeat("l", rowcheck.MaxLabelLen)}
			if err := s.PutDocuments(ctx, []tinyhead.Document{d}); err != nil {
				t.Errorf("longest values: %v", err)
			}
			if got, err := s.GetDocument(ctx, d.Source, d.Item); err != nil || got.ContentHash != tinyhead.ContentHash(d.Text) {
				t.Errorf("GetDocument = %+v, %v; want the content hash filled in", got.ContentHash, err)
			}
			if st, _ := s.Stats(ctx); st.Documents != 1 {
				t.Errorf("%d documents, want 1: a rejected batch must write nothing", st.Documents)
			}
			for _, etag := range []string{"", "e1 "} {
				if _, err := s.BeginIngest(ctx, tinyhead.BlobVersion{Source: "incoming/a", ETag: etag}, time.Minute); err == nil {
					t.Errorf("BeginIngest accepted etag %q", etag)
				}
			}
			if err := s.SetLabel(ctx, d.Source, d.Item, "task ", "x"); err == nil {
				t.Errorf("SetLabel accepted a task name ending in a space")
			}
		})
	}
}

// TestClear empties every table and leaves a store that works.
func TestClear(t *testing.T) {
	for _, d := range dialects() {
		t.Run(d.name, func(t *testing.T) {
			s := d.open(t)
			defer s.Close()
			ctx := t.Context()
			doc := tinyhead.Document{Source: "incoming/c", Item: "1", Text: "t", Embeddings: map[string][]float32{"m": {1}}, Labels: map[string]string{"k": "v"}}
			if err := s.PutDocuments(ctx, []tinyhead.Document{doc}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.BeginIngest(ctx, tinyhead.BlobVersion{Source: "incoming/c", ETag: "e1"}, time.Minute); err != nil {
				t.Fatal(err)
			}
			if err := s.RecordModel(ctx, tinyhead.ModelRecord{Task: "k", Version: "v1", Metrics: "{}"}); err != nil {
				t.Fatal(err)
			}
			if err := s.Clear(ctx); err != nil {
				t.Fatal(err)
			}
			st, err := s.Stats(ctx)
			if err != nil || st.Documents != 0 || len(st.Labels) != 0 {
				t.Errorf("after Clear: %+v, %v", st, err)
			}
			if _, err := s.GetIngest(ctx, "incoming/c", "e1"); !errors.Is(err, tinyhead.ErrNotFound) {
				t.Errorf("ingest after Clear: %v", err)
			}
			if m, err := s.Models(ctx, "k"); err != nil || len(m) != 0 {
				t.Errorf("models after Clear: %v, %v", m, err)
			}
			if err := s.PutDocuments(ctx, []tinyhead.Document{doc}); err != nil {
				t.Errorf("PutDocuments after Clear: %v", err)
			}
			if err := s.Clear(canceledContext(t)); !errors.Is(err, context.Canceled) {
				t.Errorf("Clear with a canceled context: %v", err)
			}
		})
	}
}

func canceledContext(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx
}

// TestOpenConcurrently starts several processes' worth of stores on one new
// database at once: the schema is created once and every Open succeeds.
func TestOpenConcurrently(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tinyhead.db")
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			s, err := Open(t.Context(), DriverSQLite, path)
			if err == nil {
				err = s.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	s, err := Open(t.Context(), DriverSQLite, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var versions, tables int
	if err := s.db.QueryRow("SELECT COUNT(*) FROM schema_version").Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'
		AND name IN ('documents', 'labels', 'ingests', 'sources', 'models', 'embeddings', 'embedding_claims')`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if want := len(sqliteMigrations().steps); versions != want || tables != 7 {
		t.Errorf("%d schema versions and %d tables, want %d and 7", versions, tables, want)
	}
}

// TestTwoStoresOneFile writes through two stores on one file at once, as
// two processes would: SQLite's own locking must queue them.
func TestTwoStoresOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tinyhead.db")
	var stores [2]*Store
	for i := range stores {
		s, err := Open(t.Context(), DriverSQLite, path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	const rounds = 20
	var wg sync.WaitGroup
	errs := make(chan error, 4*rounds) // two results per round per store
	for i, s := range stores {
		wg.Go(func() {
			for r := range rounds {
				var docs []tinyhead.Document
				for j := range 50 {
					docs = append(docs, tinyhead.Document{Source: "incoming/s" + itoa(i), Item: itoa(r*50 + j),
						Text: "t", Embeddings: map[string][]float32{"m": {1}}, Labels: map[string]string{"k": "v"}})
				}
				errs <- s.PutDocuments(t.Context(), docs)
				// No lease: every call takes the version over.
				_, err := s.BeginIngest(t.Context(), tinyhead.BlobVersion{Source: "incoming/shared", ETag: "e1"}, 0)
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st, err := stores[0].Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	in, err := stores[1].GetIngest(t.Context(), "incoming/shared", "e1")
	if err != nil {
		t.Fatal(err)
	}
	if st.Documents != 2*rounds*50 || st.Labels["k"]["v"] != 2*rounds*50 || in.Attempts != 2*rounds {
		t.Errorf("%d documents, %d labels, %d attempts; want %d, %d, %d",
			st.Documents, st.Labels["k"]["v"], in.Attempts, 2*rounds*50, 2*rounds*50, 2*rounds)
	}
}

func TestOpenMemory(t *testing.T) {
	s, err := Open(t.Context(), DriverSQLite, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	d := tinyhead.Document{Source: "incoming/m", Item: "1", Text: "t", Embeddings: map[string][]float32{"m": {1, 2}}}
	if err := s.PutDocuments(ctx, []tinyhead.Document{d}); err != nil {
		t.Fatal(err)
	}
	// Every call sees the same in-memory database.
	if _, err := s.GetDocument(ctx, "incoming/m", "1"); err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, "postgres", "x"); err == nil {
		t.Error("Open accepted an unknown driver")
	}
	if _, err := Open(ctx, DriverSQLite, ""); err == nil {
		t.Error("Open accepted an empty SQLite DSN")
	}
	if _, err := Open(ctx, DriverSQLite, filepath.Join(t.TempDir(), "missing", "dir", "x.db")); err == nil {
		t.Error("Open accepted a path in a missing directory")
	}
	if _, err := Open(ctx, DriverSQLServer, "sqlserver://user:pass@host?fedauth=NoSuchMethod"); err == nil {
		t.Error("Open accepted an unknown fedauth method")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
