package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

func tasks(t *testing.T, s tinyhead.Store, model string) map[string]tinyhead.TaskSummary {
	t.Helper()
	list, err := s.Tasks(t.Context(), model)
	if err != nil {
		t.Fatalf("Tasks: %v", err)
	}
	out := map[string]tinyhead.TaskSummary{}
	for _, ts := range list {
		out[ts.Task] = ts
	}
	return out
}

func testTasks(t *testing.T, s tinyhead.Store) {
	if got := tasks(t, s, model); len(got) != 0 {
		t.Fatalf("empty store: %v", got)
	}
	before := time.Now().Add(-time.Second)
	put(t, s,
		doc("f", "1", "v", "a", map[string]string{"spam": "spam", "lang": "en"}),
		doc("f", "2", "v", "b", map[string]string{"spam": "ham"}),
		doc("f", "3", "v", "c", map[string]string{"spam": "ham"}),
		doc("f", "4", "v", "d", nil),
	)
	other := withVector(doc("g", "1", "v", "e", map[string]string{"spam": "spam"}), "other-model", vectorOf("e", 8))
	put(t, s, other)

	got := tasks(t, s, model)
	spam := got["spam"]
	if len(got) != 2 || spam.Rows != 3 || spam.Labels["ham"] != 2 || spam.Labels["spam"] != 1 || got["lang"].Rows != 1 {
		t.Fatalf("tasks = %+v", got)
	}
	checkRecent(t, "LastChange", spam.LastChange, before, time.Now().Add(time.Second))
	if o := tasks(t, s, "other-model"); o["spam"].Rows != 1 {
		t.Errorf("other model: %+v", o)
	}

	// Relabelling moves LastChange forward without changing the row count.
	time.Sleep(10 * time.Millisecond)
	if err := s.SetLabel(t.Context(), "f", "2", "spam", "spam"); err != nil {
		t.Fatal(err)
	}
	after := tasks(t, s, model)["spam"]
	if after.Rows != 3 || after.Labels["spam"] != 2 || !after.LastChange.After(spam.LastChange) {
		t.Errorf("after relabel: %+v (before %v)", after, spam.LastChange)
	}
}

func testScanLabeled(t *testing.T, s tinyhead.Store) {
	const n = 2*1024 + 7 // more than two pages
	docs := make([]tinyhead.Document, 0, n)
	for i := range n {
		label := "even"
		if i%2 == 1 {
			label = "odd"
		}
		docs = append(docs, doc("big", itoa(i), "v", "text "+itoa(i), map[string]string{"parity": label}))
	}
	for start := 0; start < n; start += 500 {
		put(t, s, docs[start:min(start+500, n)]...)
	}
	put(t, s, doc("other", "x", "v", "unlabelled for parity", map[string]string{"lang": "en"}))

	for _, withVectors := range []bool{false, true} {
		t.Run(fmt.Sprintf("vectors=%v", withVectors), func(t *testing.T) {
			seen := 0
			var lastID int64
			err := s.ScanLabeled(t.Context(), "parity", model, withVectors, func(r tinyhead.LabeledRow) error {
				if r.ID <= lastID {
					t.Fatalf("ids out of order: %d after %d", r.ID, lastID)
				}
				lastID = r.ID
				want := docs[atoi(t, r.Item)]
				if r.Source != "big" || r.Label != want.Labels["parity"] {
					t.Fatalf("row %+v, want label %s", r, want.Labels["parity"])
				}
				if withVectors != (r.Embedding != nil) {
					t.Fatalf("withVectors=%v but embedding %v", withVectors, r.Embedding)
				}
				if withVectors && !sameBits(r.Embedding, want.Embeddings[model]) {
					t.Fatalf("row %s: embedding differs", r.Item)
				}
				seen++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if seen != n {
				t.Fatalf("scanned %d rows, want %d", seen, n)
			}
		})
	}
	stop := errors.New("stop")
	if err := s.ScanLabeled(t.Context(), "parity", model, false, func(tinyhead.LabeledRow) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("fn's error: got %v", err)
	}
	if err := s.ScanLabeled(t.Context(), "parity", "no-such-model", false, func(tinyhead.LabeledRow) error {
		return errors.New("no rows expected")
	}); err != nil {
		t.Error(err)
	}
}

func testEmbeddingsByID(t *testing.T, s tinyhead.Store) {
	const n = 2500 // more than one IN list
	docs := make([]tinyhead.Document, 0, n)
	for i := range n {
		docs = append(docs, doc("ids", itoa(i), "v", "row "+itoa(i), map[string]string{"t": "x"}))
	}
	for start := 0; start < n; start += 500 {
		put(t, s, docs[start:min(start+500, n)]...)
	}
	var ids []int64
	byID := map[int64]tinyhead.Document{}
	err := s.ScanLabeled(t.Context(), "t", model, false, func(r tinyhead.LabeledRow) error {
		ids = append(ids, r.ID)
		byID[r.ID] = docs[atoi(t, r.Item)]
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.EmbeddingsByID(t.Context(), model, append(ids, -42))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("%d embeddings, want %d (the missing id absent)", len(got), n)
	}
	for id, v := range got {
		if !sameBits(v, byID[id].Embeddings[model]) {
			t.Fatalf("id %d: embedding differs", id)
		}
	}
}

func testModels(t *testing.T, s tinyhead.Store) {
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i, v := range []string{"v1", "v2"} {
		err := s.RecordModel(ctx, tinyhead.ModelRecord{Task: "spam", Version: v, CreatedAt: now.Add(time.Duration(i) * time.Second),
			Rows: 100 + i, Metrics: `{"accuracy":0.9}`, BlobPath: "spam/" + v + "/model.onnx"})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordModel(ctx, tinyhead.ModelRecord{Task: "spam", Version: "v1", CreatedAt: now, Metrics: "{}"}); err == nil {
		t.Error("recording the same version twice must fail")
	}
	promoted := func() []string {
		list, err := s.Models(ctx, "spam")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range list {
			if m.Promoted {
				out = append(out, m.Version)
			}
		}
		return out
	}
	for _, v := range []string{"v1", "v2", "v1"} {
		if err := s.PromoteModel(ctx, "spam", v); err != nil {
			t.Fatal(err)
		}
		if p := promoted(); len(p) != 1 || p[0] != v {
			t.Fatalf("after promoting %s: promoted %v", v, p)
		}
	}
	wantNotFound(t, "PromoteModel of an unknown version", s.PromoteModel(ctx, "spam", "v9"))
	if p := promoted(); len(p) != 1 || p[0] != "v1" {
		t.Errorf("a failed promotion changed the promoted model: %v", p)
	}
	list, err := s.Models(ctx, "spam")
	if err != nil || len(list) != 2 || list[0].Version != "v1" || list[1].Rows != 101 || list[1].BlobPath != "spam/v2/model.onnx" ||
		!list[0].CreatedAt.Equal(now) || list[0].Metrics != `{"accuracy":0.9}` {
		t.Errorf("Models = %+v, %v", list, err)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("item %q: %v", s, err)
	}
	return n
}
