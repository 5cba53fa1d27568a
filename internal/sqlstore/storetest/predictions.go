package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/sketch"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// predictionOf is a deterministic test prediction of document id.
func predictionOf(task, version string, id int64, at time.Time) tinyhead.Prediction {
	p := float64(id%97) / 97
	label := "a"
	if p < 0.5 {
		label, p = "b", 1-p
	}
	return tinyhead.Prediction{DocumentID: id, Task: task, Version: version, Label: label, Probability: p, Margin: 2*p - 1,
		Probabilities: fmt.Sprintf(`{"a":%g,"b":%g}`, p, 1-p), ScoredAt: at}
}

// score scans the unscored documents of task and writes a prediction of
// each, as batch scoring does, stopping after pages pages (0: all); it
// returns the ids scored.
func score(t *testing.T, s tinyhead.Store, task, version string, pages int) []int64 {
	t.Helper()
	var ids []int64
	n := 0
	at := time.Now() // before every page's snapshot
	stop := fmt.Errorf("stop")
	err := s.ScanUnscored(t.Context(), task, version, model, "", func(page []tinyhead.ScoreRow) error {
		preds := make([]tinyhead.Prediction, len(page))
		for i, r := range page {
			if len(r.Embedding) != 8 || r.HasSketch || r.Sketch != nil {
				t.Fatalf("document %d: embedding of %d values, sketch %v %v (none asked for)", r.ID, len(r.Embedding), r.HasSketch, r.Sketch)
			}
			if i > 0 && r.ID <= page[i-1].ID {
				t.Fatalf("ids out of order: %d after %d", r.ID, page[i-1].ID)
			}
			preds[i] = predictionOf(task, version, r.ID, at)
			ids = append(ids, r.ID)
		}
		if err := s.PutPredictions(t.Context(), preds); err != nil {
			t.Fatal(err)
		}
		if n++; n == pages {
			return stop
		}
		return nil
	})
	if err != nil && err != stop {
		t.Fatal(err)
	}
	return ids
}

func unscored(t *testing.T, s tinyhead.Store, task, version string) int {
	t.Helper()
	n, err := s.CountUnscored(t.Context(), task, version, model)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func predictionsOf(t *testing.T, s tinyhead.Store, task string, ids []int64) map[int64]tinyhead.Prediction {
	t.Helper()
	got, err := s.PredictionsOf(t.Context(), task, ids)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func testPredictions(t *testing.T, s tinyhead.Store) {
	const n = 2*1024 + 7 // more than two pages
	docs := make([]tinyhead.Document, 0, n)
	for i := range n {
		docs = append(docs, doc("p", itoa(i), "v", "scored text "+itoa(i), nil))
	}
	for start := 0; start < n; start += 500 {
		put(t, s, docs[start:min(start+500, n)]...)
	}
	put(t, s, withVector(doc("q", "1", "v", "another model", nil), "other-model", vectorOf("q", 8)))

	if got := unscored(t, s, "spam", "v1"); got != n {
		t.Fatalf("CountUnscored before scoring = %d, want %d", got, n)
	}
	before := time.Now()
	ids := score(t, s, "spam", "v1", 0)
	if len(ids) != n {
		t.Fatalf("scored %d documents, want %d (the other model's left out)", len(ids), n)
	}
	if got := unscored(t, s, "spam", "v1"); got != 0 {
		t.Errorf("CountUnscored after scoring = %d", got)
	}
	if again := score(t, s, "spam", "v1", 0); len(again) != 0 {
		t.Errorf("a second pass scored %d documents", len(again))
	}
	if got := unscored(t, s, "other-task", "v1"); got != n {
		t.Errorf("another task: %d unscored, want %d", got, n)
	}
	got := predictionsOf(t, s, "spam", append(ids, -1))
	if len(got) != n {
		t.Fatalf("PredictionsOf: %d rows, want %d", len(got), n)
	}
	for _, id := range ids {
		p, want := got[id], predictionOf("spam", "v1", id, time.Time{})
		checkRecent(t, "ScoredAt", p.ScoredAt, before, time.Now())
		p.ScoredAt = time.Time{}
		if p != want {
			t.Fatalf("document %d: prediction %+v, want %+v", id, p, want)
		}
	}

	// A new version: one page rescored, the rest still of v1 until the
	// scan ends and the old rows are deleted.
	page := score(t, s, "spam", "v2", 1)
	if len(page) != 1024 || unscored(t, s, "spam", "v2") != n-1024 {
		t.Fatalf("one page of v2: %d scored, %d left", len(page), unscored(t, s, "spam", "v2"))
	}
	if p := predictionsOf(t, s, "spam", ids[:1])[ids[0]]; p.Version != "v2" {
		t.Errorf("rescored document: %+v", p)
	}
	deleted, err := s.DeletePredictions(t.Context(), "spam", "v2")
	if err != nil || deleted != n-1024 {
		t.Fatalf("DeletePredictions = %d, %v; want %d", deleted, err, n-1024)
	}
	if got := predictionsOf(t, s, "spam", ids); len(got) != 1024 {
		t.Errorf("after deleting v1's rows: %d predictions, want 1024", len(got))
	}

	// A document rewritten after it was scored is scored again.
	score(t, s, "spam", "v2", 0)
	time.Sleep(10 * time.Millisecond)
	put(t, s, doc("p", "5", "v", "rewritten text", nil))
	if got := unscored(t, s, "spam", "v2"); got != 1 {
		t.Errorf("after rewriting one document: %d unscored, want 1", got)
	}

	// A deleted document's prediction goes with it, and a late write of
	// one is left out.
	if _, err := s.DeleteSource(t.Context(), "p", []string{"v"}); err != nil {
		t.Fatal(err)
	}
	if got := predictionsOf(t, s, "spam", ids); len(got) != 0 {
		t.Errorf("predictions of deleted documents: %d", len(got))
	}
	if err := s.PutPredictions(t.Context(), []tinyhead.Prediction{predictionOf("spam", "v2", ids[0], time.Now())}); err != nil {
		t.Errorf("a prediction of a deleted document: %v", err)
	}
	if got := predictionsOf(t, s, "spam", ids[:1]); len(got) != 0 {
		t.Errorf("a prediction of a deleted document was stored: %+v", got)
	}
	if n, err := s.DeletePredictions(t.Context(), "spam", ""); err != nil || n != 0 {
		t.Errorf("DeletePredictions of an empty task = %d, %v", n, err)
	}
}

func testPutPredictionsInvalid(t *testing.T, s tinyhead.Store) {
	put(t, s, doc("p", "1", "v", "one", nil), doc("p", "2", "v", "two", nil))
	ids := score(t, s, "spam", "v1", 0)
	at := time.Now()
	a, b := predictionOf("spam", "v2", ids[0], at), predictionOf("spam", "v2", ids[1], at)
	otherTask := b
	otherTask.Task = "other"
	noTime := b
	noTime.ScoredAt = time.Time{}
	noLabel := b
	noLabel.Label = ""
	for name, page := range map[string][]tinyhead.Prediction{
		"descending ids":  {b, a},
		"two tasks":       {a, otherTask},
		"no ScoredAt":     {a, noTime},
		"no label":        {a, noLabel},
		"bad task name":   {{DocumentID: ids[0], Task: " x", Version: "v", Label: "a", ScoredAt: at}},
		"no version name": {{DocumentID: ids[0], Task: "spam", Label: "a", ScoredAt: at}},
	} {
		if err := s.PutPredictions(t.Context(), page); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	for id, p := range predictionsOf(t, s, "spam", ids) {
		if p.Version != "v1" {
			t.Errorf("document %d: a refused page changed its prediction: %+v", id, p)
		}
	}
}

func testUncertain(t *testing.T, s tinyhead.Store) {
	put(t, s,
		doc("u", "1", "v", "one", map[string]string{"spam": "spam"}),
		doc("u", "2", "v", "two", nil),
		doc("u", "3", "v", "three", map[string]string{"other": "x"}),
		doc("u", "4", "v", "four", nil),
		doc("u", "5", "v", "five", nil),
	)
	byItem := map[string]int64{}
	for _, item := range []string{"1", "2", "3", "4", "5"} {
		byItem[item] = get(t, s, "u", item).ID
	}
	at := time.Now()
	margins := map[string]float64{"1": 0.01, "2": 0.5, "3": 0.2, "4": 0.2, "5": 0.9}
	var preds []tinyhead.Prediction
	for _, item := range []string{"1", "2", "3", "4", "5"} {
		p := predictionOf("spam", "v1", byItem[item], at)
		p.Margin = margins[item]
		preds = append(preds, p)
	}
	if err := s.PutPredictions(t.Context(), preds); err != nil {
		t.Fatal(err)
	}
	got, err := s.Uncertain(t.Context(), "spam", "v1", 3)
	if err != nil {
		t.Fatal(err)
	}
	var items []string
	for _, sg := range got {
		items = append(items, sg.Item)
		if sg.Source != "u" || sg.Text == "" || sg.Version != "v1" || sg.Margin != margins[sg.Item] {
			t.Errorf("suggestion %+v", sg)
		}
	}
	// Item 1 is labelled; 3 and 4 tie on margin and come by id.
	if fmt.Sprint(items) != "[3 4 2]" {
		t.Errorf("suggested %v, want [3 4 2]", items)
	}
	if got, err := s.Uncertain(t.Context(), "spam", "v0", 3); err != nil || len(got) != 0 {
		t.Errorf("another version: %v, %v", got, err)
	}
	if got, err := s.Uncertain(t.Context(), "spam", "v1", 0); err != nil || len(got) != 0 {
		t.Errorf("n = 0: %v, %v", got, err)
	}
}

// testScanUnscoredSketches: ScanUnscored returns each document's sketch
// of the version asked for, byte for byte (an empty one and one stored
// off-row included), and says which documents have none of it.
func testScanUnscoredSketches(t *testing.T, s tinyhead.Store) {
	long := strings.Repeat("a long text of many distinct words ", 40)
	for i := range 3000 {
		long += " w" + strconv.Itoa(i)
	}
	texts := []string{"with a sketch", "of another version", "without one", "empty sketch", long}
	for i, text := range texts {
		put(t, s, doc("sk", itoa(i), "v", text, nil))
	}
	want := map[string][]byte{
		texts[0]: sketch.Encode(nil, sketch.Of(texts[0])),
		texts[3]: {},
		texts[4]: sketch.Encode(nil, sketch.Of(long)),
	}
	stored := map[string][]byte{}
	for text, b := range want {
		stored[tinyhead.ContentHash(text)] = b
	}
	if err := s.PutSketches(t.Context(), "sk-v1", stored); err != nil {
		t.Fatal(err)
	}
	other := map[string][]byte{tinyhead.ContentHash(texts[1]): sketch.Encode(nil, sketch.Of(texts[1]))}
	if err := s.PutSketches(t.Context(), "sk-v0", other); err != nil {
		t.Fatal(err)
	}
	var got []tinyhead.ScoreRow
	err := s.ScanUnscored(t.Context(), "spam", "v1", model, "sk-v1", func(page []tinyhead.ScoreRow) error {
		for _, r := range page {
			r.Sketch = slices.Clone(r.Sketch) // the page's buffers are reused
			got = append(got, r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(texts) {
		t.Fatalf("scanned %d documents, want %d", len(got), len(texts))
	}
	for i, r := range got {
		w, ok := want[texts[i]]
		if r.HasSketch != ok || !bytes.Equal(r.Sketch, w) {
			t.Errorf("document %d (%.20q): sketch %v of %d bytes, want %v of %d", i, texts[i], r.HasSketch, len(r.Sketch), ok, len(w))
		}
	}
}
