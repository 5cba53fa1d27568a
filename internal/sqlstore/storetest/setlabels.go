package storetest

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

func setLabels(t *testing.T, s tinyhead.Store, source, version string, edits ...tinyhead.LabelEdit) []tinyhead.LabelResult {
	t.Helper()
	res, err := s.SetLabels(t.Context(), source, version, edits)
	if err != nil {
		t.Fatalf("SetLabels: %v", err)
	}
	if len(res) != len(edits) {
		t.Fatalf("SetLabels: %d results for %d edits", len(res), len(edits))
	}
	return res
}

func lr(documents, changed int) tinyhead.LabelResult {
	return tinyhead.LabelResult{Documents: documents, Changed: changed}
}

func edit(ref tinyhead.DocRef, task, label string) tinyhead.LabelEdit {
	return tinyhead.LabelEdit{Doc: ref, Task: task, Label: label}
}

// testSetLabels names documents by each kind of identifier, reports
// unknown ones, removes labels and applies edits in order.
func testSetLabels(t *testing.T, s tinyhead.Store) {
	const a, b = "incoming/a.csv", "incoming/b.jsonl"
	put(t, s,
		doc(a, "1", "v1", "shared text", map[string]string{"spam": "ham"}),
		doc(a, "2", "v1", "second", nil),
		doc(b, "x", "w1", "shared text", nil), // the same text in another file
		doc(b, "y", "w1", "third", map[string]string{"topic": "old"}))
	// A text embedded by another model only: a content hash names the
	// documents of a text that hold a vector of the model.
	other := withVector(doc(b, "z", "w1", "another model's text", nil), "other-model", vectorOf("z", 8))
	put(t, s, other)
	id2 := get(t, s, a, "2").ID
	hash := tinyhead.ContentHash("shared text")

	res := setLabels(t, s, "", "",
		edit(tinyhead.DocRef{ID: id2}, "topic", "sport"),
		edit(tinyhead.DocRef{Source: b, Item: "y"}, "topic", " news "), // trimmed
		edit(tinyhead.DocRef{ContentHash: hash, Model: model}, "spam", "spam"),
		edit(tinyhead.DocRef{ID: id2 + 1000}, "topic", "x"),
		edit(tinyhead.DocRef{Source: a, Item: "missing"}, "topic", "x"),
		edit(tinyhead.DocRef{Source: "incoming/none.csv", Item: "1"}, "topic", "x"),
		edit(tinyhead.DocRef{ContentHash: tinyhead.ContentHash("never stored"), Model: model}, "topic", "x"),
		edit(tinyhead.DocRef{ContentHash: hash, Model: "third-model"}, "topic", "x"),
		edit(tinyhead.DocRef{Source: b, Item: "y"}, "spam", ""), // no label to remove
	)
	want := []tinyhead.LabelResult{lr(1, 1), lr(1, 1), lr(2, 2), lr(0, 0), lr(0, 0), lr(0, 0), lr(0, 0), lr(0, 0), lr(1, 0)}
	if !slices.Equal(res, want) {
		t.Errorf("results %v, want %v", res, want)
	}
	for _, c := range []struct {
		source, item string
		want         map[string]string
	}{
		{a, "1", map[string]string{"spam": "spam"}},
		{a, "2", map[string]string{"topic": "sport"}},
		{b, "x", map[string]string{"spam": "spam"}},
		{b, "y", map[string]string{"topic": "news"}},
		{b, "z", map[string]string{}}, // another model's document keeps its labels
	} {
		if got := get(t, s, c.source, c.item).Labels; !maps.Equal(got, c.want) {
			t.Errorf("%s/%s: labels %v, want %v", c.source, c.item, got, c.want)
		}
	}

	// In order: the last edit of a document's task wins; an unchanged
	// label is not counted; "" removes.
	res = setLabels(t, s, "", "",
		edit(tinyhead.DocRef{ID: id2}, "topic", "a"),
		edit(tinyhead.DocRef{ID: id2}, "topic", "b"),
		edit(tinyhead.DocRef{Source: a, Item: "1"}, "spam", "spam"),
		edit(tinyhead.DocRef{Source: b, Item: "y"}, "topic", ""),
	)
	if want := []tinyhead.LabelResult{lr(1, 1), lr(1, 1), lr(1, 0), lr(1, 1)}; !slices.Equal(res, want) {
		t.Errorf("second call: results %v, want %v", res, want)
	}
	if got := get(t, s, a, "2").Labels; !maps.Equal(got, map[string]string{"topic": "b"}) {
		t.Errorf("after two edits: labels %v, want topic=b", got)
	}
	if got := get(t, s, b, "y").Labels; len(got) != 0 {
		t.Errorf("after removal: labels %v, want none", got)
	}
	if res := setLabels(t, s, "", ""); len(res) != 0 {
		t.Errorf("no edits: results %v", res)
	}
}

// testSetLabelsAtomic: one invalid edit fails the call, and nothing of it
// is written.
func testSetLabelsAtomic(t *testing.T, s tinyhead.Store) {
	const src = "incoming/atomic.csv"
	put(t, s, doc(src, "1", "v1", "one", map[string]string{"task": "old"}))
	ok := edit(tinyhead.DocRef{Source: src, Item: "1"}, "task", "new")
	long := make([]byte, 1025)
	for i := range long {
		long[i] = 'x'
	}
	for name, bad := range map[string]tinyhead.LabelEdit{
		"task with a space":  edit(tinyhead.DocRef{Source: src, Item: "1"}, "task ", "x"),
		"empty task":         edit(tinyhead.DocRef{Source: src, Item: "1"}, "", "x"),
		"label too long":     edit(tinyhead.DocRef{Source: src, Item: "1"}, "task", string(long)),
		"no document named":  edit(tinyhead.DocRef{}, "task", "x"),
		"model without hash": edit(tinyhead.DocRef{Model: model}, "task", "x"),
	} {
		if _, err := s.SetLabels(t.Context(), "", "", []tinyhead.LabelEdit{ok, bad}); err == nil {
			t.Errorf("%s: SetLabels succeeded", name)
		}
		if got := get(t, s, src, "1").Labels["task"]; got != "old" {
			t.Errorf("%s: label %q after a failed call, want old", name, got)
		}
	}
}

// testSetLabelsLastChange: a changed or new label moves its task's
// LastChange, a removal its row count; writing a label again changes
// neither.
func testSetLabelsLastChange(t *testing.T, s tinyhead.Store) {
	const src = "incoming/change.csv"
	put(t, s, doc(src, "1", "v1", "one", map[string]string{"task": "a"}),
		doc(src, "2", "v1", "two", map[string]string{"task": "b"}),
		doc(src, "3", "v1", "three", nil))
	ref := func(item string) tinyhead.DocRef { return tinyhead.DocRef{Source: src, Item: item} }
	first := tasks(t, s, model)["task"]

	time.Sleep(10 * time.Millisecond)
	setLabels(t, s, "", "", edit(ref("1"), "task", "a"), edit(ref("2"), "task", "b"))
	if same := tasks(t, s, model)["task"]; !same.LastChange.Equal(first.LastChange) || same.Rows != 2 {
		t.Errorf("after writing the same labels: %+v, want %+v", same, first)
	}
	setLabels(t, s, "", "", edit(ref("2"), "task", "a"))
	relabelled := tasks(t, s, model)["task"]
	if !relabelled.LastChange.After(first.LastChange) || relabelled.Labels["a"] != 2 {
		t.Errorf("after a relabel: %+v (LastChange before %v)", relabelled, first.LastChange)
	}
	time.Sleep(10 * time.Millisecond)
	setLabels(t, s, "", "", edit(ref("3"), "task", "c"))
	added := tasks(t, s, model)["task"]
	if !added.LastChange.After(relabelled.LastChange) || added.Rows != 3 {
		t.Errorf("after a new label: %+v", added)
	}
	setLabels(t, s, "", "", edit(ref("3"), "task", ""))
	if removed := tasks(t, s, model)["task"]; removed.Rows != 2 {
		t.Errorf("after a removal: %+v, want 2 rows", removed)
	}
	// A task that only SetLabels ever wrote is a task.
	setLabels(t, s, "", "", edit(ref("1"), "fresh", "x"), edit(ref("2"), "fresh", "y"))
	if fresh := tasks(t, s, model)["fresh"]; fresh.Rows != 2 || fresh.LastChange.IsZero() {
		t.Errorf("new task: %+v", fresh)
	}
}

// testSetLabelsClaim: edits from a version of a labels file are refused,
// writing nothing, once a newer version of that file is claimed.
func testSetLabelsClaim(t *testing.T, s tinyhead.Store) {
	const src, labels = "incoming/claim.csv", "incoming/_labels/claim.csv"
	put(t, s, doc(src, "1", "v1", "one", nil))
	ref := tinyhead.DocRef{Source: src, Item: "1"}
	begin(t, s, version(labels, "L1", 0))
	setLabels(t, s, labels, "L1", edit(ref, "task", "a"))
	begin(t, s, version(labels, "L2", 1))
	_, err := s.SetLabels(t.Context(), labels, "L1", []tinyhead.LabelEdit{edit(ref, "task", "old")})
	wantSuperseded(t, "SetLabels of the older version", err)
	setLabels(t, s, labels, "L2", edit(ref, "other", "b"))
	if got := get(t, s, src, "1").Labels; !maps.Equal(got, map[string]string{"task": "a", "other": "b"}) {
		t.Errorf("labels %v, want task=a other=b", got)
	}
	// The labels file is not a source of documents.
	if n, err := s.SourceVersions(t.Context(), labels); err != nil || len(n) != 2 {
		t.Errorf("SourceVersions(labels file) = %v, %v; want its two ingest versions", n, err)
	}
}

// testSetLabelsOverlap: in a call of several hundred edits, references of
// every kind that name the same documents are applied in order, each
// counted against the label the edits before it left; a label that ends
// as it was stored is not rewritten, so its task's LastChange stays.
func testSetLabelsOverlap(t *testing.T, s tinyhead.Store) {
	const src, n = "incoming/overlap.csv", 300
	docs := make([]tinyhead.Document, n)
	for i := range docs {
		text, labels := fmt.Sprintf("text %d", i), map[string]string(nil)
		if i < 2 {
			text = "dup" // items 0 and 1 share a text
		}
		if i%2 == 0 {
			labels = map[string]string{"task": "s"}
		}
		docs[i] = doc(src, strconv.Itoa(i), "v1", text, labels)
	}
	put(t, s, docs...)
	key := func(i int) tinyhead.DocRef { return tinyhead.DocRef{Source: src, Item: strconv.Itoa(i)} }
	id0 := get(t, s, src, "0").ID

	edits := []tinyhead.LabelEdit{
		edit(tinyhead.DocRef{ContentHash: tinyhead.ContentHash("dup"), Model: model}, "task", "n"),
		edit(tinyhead.DocRef{ID: id0}, "task", "s"), // back to its stored label
		edit(key(1), "task", ""), // removes the label the first edit set
	}
	want := []tinyhead.LabelResult{lr(2, 2), lr(1, 1), lr(1, 1)}
	for i := 2; i < n; i++ {
		edits = append(edits, edit(key(i), "task", "n"))
		want = append(want, lr(1, 1))
	}
	for i := 2; i < n; i++ {
		edits = append(edits, edit(key(i), "task", "n"))
		want = append(want, lr(1, 0))
	}
	edits = append(edits, edit(key(n), "task", "n")) // no such item
	want = append(want, lr(0, 0))
	if res := setLabels(t, s, "", "", edits...); !slices.Equal(res, want) {
		t.Errorf("results %v, want %v", res, want)
	}
	for i, want := range map[int]string{0: "s", 1: "", 2: "n", 3: "n", n - 1: "n"} {
		if got := get(t, s, src, strconv.Itoa(i)).Labels["task"]; got != want {
			t.Errorf("item %d: label %q, want %q", i, got, want)
		}
	}
	if got := tasks(t, s, model)["task"]; got.Rows != n-1 || got.Labels["n"] != n-2 {
		t.Errorf("task after the edits: %+v, want %d rows, %d labelled n", got, n-1, n-2)
	}

	before := tasks(t, s, model)["task"]
	time.Sleep(10 * time.Millisecond)
	res := setLabels(t, s, "", "", edit(key(0), "task", "z"), edit(tinyhead.DocRef{ID: id0}, "task", "s"))
	if want := []tinyhead.LabelResult{lr(1, 1), lr(1, 1)}; !slices.Equal(res, want) {
		t.Errorf("there and back: results %v, want %v", res, want)
	}
	if after := tasks(t, s, model)["task"]; !after.LastChange.Equal(before.LastChange) {
		t.Errorf("there and back: LastChange %v, want %v", after.LastChange, before.LastChange)
	}
}
