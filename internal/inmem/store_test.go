package inmem

import (
	"context"
	"errors"
	"math"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/sqlstore/storetest"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

func TestStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tinyhead.Store { return NewStore() })
}

func testDoc(item, text string, labels map[string]string) tinyhead.Document {
	return tinyhead.Document{Source: "incoming/f.csv", Item: item, SourceVersion: "v1", Text: text,
		Embeddings: map[string][]float32{"m": {1, 2, 3}}, Labels: labels}
}

// TestStoreFault checks that every method calls Fault with its name, fails
// with its error, and changes nothing.
func TestStoreFault(t *testing.T) {
	ctx := t.Context()
	boom := tinyhead.Errorf(tinyhead.ErrUnavailable, "database resuming")
	calls := []struct {
		op   string
		call func(s *Store) error
	}{
		{"BeginIngest", func(s *Store) error {
			_, err := s.BeginIngest(ctx, tinyhead.BlobVersion{Source: "src", ETag: "e2"}, time.Minute)
			return err
		}},
		{"RenewIngest", func(s *Store) error { return s.RenewIngest(ctx, "src", "e1", 1, time.Minute) }},
		{"FinishIngest", func(s *Store) error {
			return s.FinishIngest(ctx, tinyhead.Ingest{Source: "src", ETag: "e1", Status: tinyhead.IngestFailed})
		}},
		{"GetIngest", func(s *Store) error { _, err := s.GetIngest(ctx, "src", "e1"); return err }},
		{"EmbeddingsByHash", func(s *Store) error { _, err := s.EmbeddingsByHash(ctx, "m", []string{"h"}); return err }},
		{"PutDocuments", func(s *Store) error {
			return s.PutDocuments(ctx, []tinyhead.Document{testDoc("2", "new", map[string]string{"t": "b"})})
		}},
		{"PruneSource", func(s *Store) error { _, err := s.PruneSource(ctx, "incoming/f.csv", "v9"); return err }},
		{"DeleteSource", func(s *Store) error { _, err := s.DeleteSource(ctx, "incoming/f.csv", []string{"v1"}); return err }},
		{"SourceVersions", func(s *Store) error { _, err := s.SourceVersions(ctx, "incoming/f.csv"); return err }},
		{"Sources", func(s *Store) error { _, err := s.Sources(ctx); return err }},
		{"GetDocument", func(s *Store) error { _, err := s.GetDocument(ctx, "incoming/f.csv", "1"); return err }},
		{"SetLabel", func(s *Store) error { return s.SetLabel(ctx, "incoming/f.csv", "1", "t", "z") }},
		{"Stats", func(s *Store) error { _, err := s.Stats(ctx); return err }},
		{"Tasks", func(s *Store) error { _, err := s.Tasks(ctx, "m"); return err }},
		{"ScanLabeled", func(s *Store) error {
			return s.ScanLabeled(ctx, "t", "m", true, func(tinyhead.LabeledRow) error { return errors.New("fn called") })
		}},
		{"EmbeddingsByID", func(s *Store) error { _, err := s.EmbeddingsByID(ctx, "m", []int64{1}); return err }},
		{"ClaimMissing", func(s *Store) error { _, err := s.ClaimMissing(ctx, "m2", "o", "", 1, time.Minute); return err }},
		{"PutEmbeddings", func(s *Store) error {
			_, err := s.PutEmbeddings(ctx, "m2", "o", []tinyhead.HashVector{{ContentHash: tinyhead.ContentHash("old"), Vector: []float32{1}}})
			return err
		}},
		{"EmbeddingProgress", func(s *Store) error { _, err := s.EmbeddingProgress(ctx, "m2"); return err }},
		{"RecordModel", func(s *Store) error {
			return s.RecordModel(ctx, tinyhead.ModelRecord{Task: "t", Version: "v2", Metrics: "{}"})
		}},
		{"PromoteModel", func(s *Store) error { return s.PromoteModel(ctx, "t", "v1") }},
		{"Models", func(s *Store) error { _, err := s.Models(ctx, "t"); return err }},
		{"Close", func(s *Store) error { return s.Close() }},
	}
	for _, c := range calls {
		t.Run(c.op, func(t *testing.T) {
			s := NewStore()
			if err := s.PutDocuments(ctx, []tinyhead.Document{testDoc("1", "old", map[string]string{"t": "a"})}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.BeginIngest(ctx, tinyhead.BlobVersion{Source: "src", ETag: "e1"}, 0); err != nil {
				t.Fatal(err)
			}
			if err := s.RecordModel(ctx, tinyhead.ModelRecord{Task: "t", Version: "v1", Metrics: "{}"}); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, s)
			var seen []string
			s.SetFault(func(op string) error {
				seen = append(seen, op)
				if op == c.op {
					return boom
				}
				return nil
			})
			if err := c.call(s); !errors.Is(err, boom) || !errors.Is(err, tinyhead.ErrUnavailable) {
				t.Errorf("%s: error %v, want the fault's error", c.op, err)
			}
			if len(seen) != 1 || seen[0] != c.op {
				t.Errorf("Fault saw %q, want [%s]", seen, c.op)
			}
			s.SetFault(nil)
			if after := snapshot(t, s); after != before {
				t.Errorf("%s failed but changed the store:\nbefore %s\nafter  %s", c.op, before, after)
			}
		})
	}
}

// snapshot describes everything a Store holds except time stamps.
func snapshot(t *testing.T, s *Store) string {
	t.Helper()
	ctx := t.Context()
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.GetDocument(ctx, "incoming/f.csv", "1")
	if err != nil {
		t.Fatal(err)
	}
	in, err := s.GetIngest(ctx, "src", "e1")
	if err != nil {
		t.Fatal(err)
	}
	models, err := s.Models(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	out := strconv.Itoa(st.Documents) + " docs; labels " + d.Labels["t"] + "; text " + d.Text +
		"; ingest " + string(in.Status) + " " + strconv.Itoa(in.Attempts)
	for _, m := range models {
		out += "; model " + m.Version + " promoted=" + strconv.FormatBool(m.Promoted)
	}
	return out
}

// TestStoreFaultConcurrent sets Fault while other goroutines use the store
// (run with -race).
func TestStoreFaultConcurrent(t *testing.T) {
	s := NewStore()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 50 {
				s.PutDocuments(t.Context(), []tinyhead.Document{testDoc(strconv.Itoa(i*100+j), "x", nil)})
			}
		})
	}
	for range 50 {
		s.SetFault(func(string) error { return errors.New("fail") })
		s.SetFault(nil)
	}
	wg.Wait()
}

// TestScanLabeledUsesStore checks that fn may call the store (no lock is
// held while it runs) and that a row's vector is taken back once fn
// returns.
func TestScanLabeledUsesStore(t *testing.T) {
	s := NewStore()
	ctx := t.Context()
	var docs []tinyhead.Document
	for i := range 3 {
		docs = append(docs, testDoc(strconv.Itoa(i), "text "+strconv.Itoa(i), map[string]string{"t": "x"}))
	}
	if err := s.PutDocuments(ctx, docs); err != nil {
		t.Fatal(err)
	}
	var kept [][]float32
	err := s.ScanLabeled(ctx, "t", "m", true, func(r tinyhead.LabeledRow) error {
		kept = append(kept, r.Embedding)
		return s.SetLabel(ctx, r.Source, r.Item, "t", "y") // would deadlock under the lock
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != 3 {
		t.Fatalf("%d rows, want 3", len(kept))
	}
	for _, v := range kept {
		if !math.IsNaN(float64(v[0])) {
			t.Errorf("a kept Embedding still reads %v: want it overwritten once fn returned", v)
		}
	}
	tasks, err := s.Tasks(ctx, "m")
	if err != nil || len(tasks) != 1 || tasks[0].Labels["y"] != 3 {
		t.Errorf("Tasks = %+v, %v; want 3 rows relabelled y", tasks, err)
	}
}

// TestStoreCopiesVectors checks that callers may reuse their buffers.
func TestStoreCopiesVectors(t *testing.T) {
	s := NewStore()
	ctx := t.Context()
	d := testDoc("1", "t", map[string]string{"t": "x"})
	if err := s.PutDocuments(ctx, []tinyhead.Document{d}); err != nil {
		t.Fatal(err)
	}
	d.Embeddings["m"][0] = 99 // the caller reuses its buffer
	got, err := s.GetDocument(ctx, d.Source, d.Item)
	if err != nil {
		t.Fatal(err)
	}
	if got.Embeddings["m"][0] != 1 {
		t.Fatalf("stored vector changed with the caller's buffer: %v", got.Embeddings)
	}
	got.Embeddings["m"][0] = 42
	got.Labels["t"] = "changed"
	byHash, _ := s.EmbeddingsByHash(ctx, "m", []string{tinyhead.ContentHash("t")})
	byHash[tinyhead.ContentHash("t")][1] = 42
	byID, _ := s.EmbeddingsByID(ctx, "m", []int64{got.ID})
	byID[got.ID][2] = 42
	again, err := s.GetDocument(ctx, d.Source, d.Item)
	if err != nil {
		t.Fatal(err)
	}
	if v := again.Embeddings["m"]; v[0] != 1 || v[1] != 2 || v[2] != 3 || again.Labels["t"] != "x" {
		t.Errorf("changing what was read changed the store: %v %v", again.Embeddings, again.Labels)
	}
}

func TestStoreClosed(t *testing.T) {
	s := NewStore()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Stats(context.Background()); err == nil {
		t.Error("Stats after Close succeeded")
	}
}
