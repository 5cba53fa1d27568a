package storetest

import (
	"maps"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

func testPutCreatesThenUpdates(t *testing.T, s tinyhead.Store) {
	const src = "incoming/reviews.csv"
	before := time.Now()
	docs := []tinyhead.Document{
		doc(src, "1", "v1", "first text", map[string]string{"sentiment": "pos"}),
		doc(src, "2", "v1", "second text", nil),
		doc(src, "3", "v1", "third text", map[string]string{"sentiment": "neg", "topic": "food"}),
	}
	put(t, s, docs...)
	after := time.Now()
	ids := map[int64]bool{}
	for _, want := range docs {
		got := get(t, s, src, want.Item)
		checkDoc(t, got, want)
		checkRecent(t, "CreatedAt", got.CreatedAt, before, after)
		ids[got.ID] = true
	}
	if len(ids) != len(docs) {
		t.Errorf("ids %v: want %d distinct", ids, len(docs))
	}

	old := get(t, s, src, "2")
	updated := doc(src, "2", "v2", "second text, edited", map[string]string{"sentiment": "neg"})
	updated = withVector(updated, "other-model", vectorOf("x", 16))
	put(t, s, updated)
	got := get(t, s, src, "2")
	checkDoc(t, got, updated)
	if got.ID != old.ID {
		t.Errorf("update changed ID from %d to %d", old.ID, got.ID)
	}
	if !got.CreatedAt.Equal(old.CreatedAt) {
		t.Errorf("update changed CreatedAt from %v to %v", old.CreatedAt, got.CreatedAt)
	}

	put(t, s, docs...) // a re-put changes nothing in number
	if st := stats(t, s); st.Documents != 3 {
		t.Errorf("after re-put: %d documents, want 3", st.Documents)
	}
	// Another version than the stored one: its labels replace the stored
	// ones (see NewVersionReplacesLabels).
	checkDoc(t, get(t, s, src, "2"), docs[1])

	// New and existing rows interleaved in one batch.
	mixed := []tinyhead.Document{
		doc(src, "1", "v3", "first, v3", map[string]string{"sentiment": "neg"}),
		doc(src, "4", "v3", "fourth", map[string]string{"sentiment": "pos"}),
		doc(src, "5", "v3", "fifth", nil),
		doc(src, "2", "v3", "second, v3", map[string]string{"sentiment": ""}),
		doc(src, "6", "v3", "sixth", nil),
		doc(src, "3", "v3", "third, v3", nil),
	}
	put(t, s, mixed...)
	for _, d := range mixed {
		got := get(t, s, src, d.Item)
		checkDoc(t, got, d) // row 3, a new version without labels, has none

	}
	if st := stats(t, s); st.Documents != 6 {
		t.Errorf("after mixed batch: %d documents, want 6", st.Documents)
	}
}

func testPutEmpty(t *testing.T, s tinyhead.Store) {
	if err := s.PutDocuments(t.Context(), nil); err != nil {
		t.Errorf("PutDocuments(nil): %v", err)
	}
	if st := stats(t, s); st.Documents != 0 {
		t.Errorf("%d documents, want 0", st.Documents)
	}
}

func testPutSameKeyTwiceInBatch(t *testing.T, s tinyhead.Store) {
	const src = "incoming/dup.jsonl"
	first := doc(src, "x", "v1", "text A", map[string]string{"t1": "a", "t2": "b"})
	second := doc(src, "x", "v1", "text B", map[string]string{"t1": "c"})
	put(t, s, first, doc(src, "y", "v1", "other", nil), second)
	want := second
	want.Labels = map[string]string{"t1": "c", "t2": "b"} // as if written one after the other
	checkDoc(t, get(t, s, src, "x"), want)
	if st := stats(t, s); st.Documents != 2 {
		t.Errorf("%d documents, want 2", st.Documents)
	}
	if first.Labels["t1"] != "a" || len(second.Labels) != 1 {
		t.Errorf("PutDocuments modified the caller's label maps: %v, %v", first.Labels, second.Labels)
	}
}

func testPutLabels(t *testing.T, s tinyhead.Store) {
	const src = "incoming/labels.csv"
	d := doc(src, "1", "v1", "some text", map[string]string{"topic": "sports", "spam": "ham"})
	put(t, s, d)
	checkDoc(t, get(t, s, src, "1"), d)

	// Replace one label, remove another with "".
	d = doc(src, "1", "v2", "some text", map[string]string{"topic": "politics", "spam": ""})
	put(t, s, d)
	checkDoc(t, get(t, s, src, "1"), d)

	// Tasks that a re-put of the same version does not mention keep their
	// labels.
	d = doc(src, "1", "v2", "some text", nil)
	put(t, s, d)
	d.Labels = map[string]string{"topic": "politics"}
	checkDoc(t, get(t, s, src, "1"), d)

	// Removing a label that is not there is no error.
	put(t, s, doc(src, "1", "v2", "some text", map[string]string{"never-set": ""}))
	checkDoc(t, get(t, s, src, "1"), d)

	// Labels are case-sensitive values.
	put(t, s, doc(src, "2", "v1", "b", map[string]string{"topic": "Politics"}))
	want := map[string]map[string]int{"topic": {"politics": 1, "Politics": 1}}
	if st := stats(t, s); !labelsEqual(st.Labels, want) {
		t.Errorf("label counts %v, want %v", st.Labels, want)
	}
}

func testSetLabel(t *testing.T, s tinyhead.Store) {
	const src = "incoming/setlabel.jsonl"
	d := doc(src, "1", "v1", "text", map[string]string{"keep": "me"})
	put(t, s, d)
	ctx := t.Context()
	steps := []struct {
		label string
		want  map[string]string
	}{
		{"a", map[string]string{"keep": "me", "task": "a"}},
		{"b", map[string]string{"keep": "me", "task": "b"}},
		{"b", map[string]string{"keep": "me", "task": "b"}},
		{"", map[string]string{"keep": "me"}},
		{"", map[string]string{"keep": "me"}},
	}
	for _, step := range steps {
		if err := s.SetLabel(ctx, src, "1", "task", step.label); err != nil {
			t.Fatalf("SetLabel(%q): %v", step.label, err)
		}
		if got := get(t, s, src, "1"); !maps.Equal(got.Labels, step.want) {
			t.Errorf("after SetLabel(%q): labels %v, want %v", step.label, got.Labels, step.want)
		}
	}
	wantNotFound(t, "SetLabel on a missing document", s.SetLabel(ctx, src, "missing", "task", "a"))
	wantNotFound(t, `SetLabel("") on a missing document`, s.SetLabel(ctx, src, "missing", "task", ""))
	wantNotFound(t, "SetLabel on a missing source", s.SetLabel(ctx, "incoming/none", "1", "task", "a"))
}

func testVectorRoundTrip(t *testing.T, s tinyhead.Store) {
	const src = "incoming/vectors.jsonl"
	special := []float32{
		0, float32(math.Copysign(0, -1)), 1, -1,
		math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, // subnormal
		math.Float32frombits(0x007fffff), // largest subnormal
		math.Float32frombits(0x00800000), // smallest normal
		math.MaxFloat32, -math.MaxFloat32,
		float32(math.Inf(1)), float32(math.Inf(-1)),
		math.Float32frombits(0x7fc00001), // quiet NaN with a payload
		math.Float32frombits(0xffc12345), // negative NaN
		float32(math.Pi), 1e-20, -3.4e38, 0.1, 1.0000001,
	}
	cases := map[string][]float32{
		"special": special,
		"one":     {float32(math.Copysign(0, -1))},
		"512":     vectorOf("512", 512),
		"1536":    vectorOf("1536", 1536),
	}
	var docs []tinyhead.Document
	for name, v := range cases {
		d := withVector(doc(src, name, "v1", "text "+name, nil), model, v)
		docs = append(docs, d)
	}
	put(t, s, docs...)
	hashes := []string{}
	for _, d := range docs {
		checkDoc(t, get(t, s, src, d.Item), d)
		hashes = append(hashes, d.ContentHash)
	}
	got, err := s.EmbeddingsByHash(t.Context(), model, hashes)
	if err != nil {
		t.Fatalf("EmbeddingsByHash: %v", err)
	}
	for _, d := range docs {
		if !sameBits(got[d.ContentHash], d.Embeddings[model]) {
			t.Errorf("EmbeddingsByHash %s: got %v, want %v", d.Item, got[d.ContentHash], d.Embeddings[model])
		}
	}
}

func testEmbeddingsByHash(t *testing.T, s tinyhead.Store) {
	const src = "incoming/hash.csv"
	a := doc(src, "1", "v1", "shared text", nil)
	b := doc(src, "2", "v1", "shared text", nil) // same hash, same vector
	c := doc(src, "3", "v1", "other text", nil)
	d := withVector(doc(src, "4", "v1", "text of another model", nil), "model-2", vectorOf("m2", 4))
	put(t, s, a, b, c, d)
	ctx := t.Context()

	got, err := s.EmbeddingsByHash(ctx, model, []string{a.ContentHash, c.ContentHash, c.ContentHash, d.ContentHash, "unknown"})
	if err != nil {
		t.Fatalf("EmbeddingsByHash: %v", err)
	}
	if len(got) != 2 || !sameBits(got[a.ContentHash], a.Embeddings[model]) || !sameBits(got[c.ContentHash], c.Embeddings[model]) {
		t.Errorf("EmbeddingsByHash(%s) = %v, want the vectors of a and c only", model, got)
	}
	got, err = s.EmbeddingsByHash(ctx, "model-2", []string{a.ContentHash, d.ContentHash})
	if err != nil {
		t.Fatalf("EmbeddingsByHash: %v", err)
	}
	if len(got) != 1 || !sameBits(got[d.ContentHash], d.Embeddings["model-2"]) {
		t.Errorf("EmbeddingsByHash(model-2) = %v, want the vector of d only", got)
	}
	for _, hashes := range [][]string{nil, {}, {"unknown"}} {
		got, err = s.EmbeddingsByHash(ctx, model, hashes)
		if err != nil || got == nil || len(got) != 0 {
			t.Errorf("EmbeddingsByHash(%q) = %v, %v; want an empty map", hashes, got, err)
		}
	}
}

// testEmbeddingsByHashMany asks for more hashes than SQL Server takes
// parameters in one statement (2,100).
func testEmbeddingsByHashMany(t *testing.T, s tinyhead.Store) {
	const src, n = "incoming/many.jsonl", 2300
	var docs []tinyhead.Document
	for i := range n {
		d := doc(src, itoa(i), "v1", "text number "+itoa(i), nil)
		d = withVector(d, model, vectorOf(d.Text, 4))
		docs = append(docs, d)
	}
	for i := 0; i < n; i += 500 {
		put(t, s, docs[i:min(i+500, n)]...)
	}
	var hashes []string
	for i := range 60 {
		hashes = append(hashes, tinyhead.ContentHash("never stored "+itoa(i)))
	}
	for _, d := range docs {
		hashes = append(hashes, d.ContentHash)
	}
	got, err := s.EmbeddingsByHash(t.Context(), model, hashes)
	if err != nil {
		t.Fatalf("EmbeddingsByHash(%d hashes): %v", len(hashes), err)
	}
	if len(got) != n {
		t.Errorf("EmbeddingsByHash(%d hashes): %d found, want %d", len(hashes), len(got), n)
	}
	for _, d := range docs {
		if !sameBits(got[d.ContentHash], d.Embeddings[model]) {
			t.Fatalf("hash of item %s: got %v, want %v", d.Item, got[d.ContentHash], d.Embeddings[model])
		}
	}
}

func testPruneSource(t *testing.T, s tinyhead.Store) {
	const src, other = "incoming/prune.csv", "incoming/other.csv"
	ctx := t.Context()
	for i := 1; i <= 5; i++ {
		put(t, s, doc(src, itoa(i), "v1", "old "+itoa(i), map[string]string{"task": "old"}))
	}
	put(t, s, doc(other, "1", "v1", "other source", map[string]string{"task": "other"}))
	// Version 2 of the file has rows 1–3 only.
	for i := 1; i <= 3; i++ {
		put(t, s, doc(src, itoa(i), "v2", "new "+itoa(i), map[string]string{"task": "new"}))
	}
	n, err := s.PruneSource(ctx, src, "v2")
	if err != nil || n != 2 {
		t.Fatalf("PruneSource = %d, %v; want 2, nil", n, err)
	}
	for i := 1; i <= 3; i++ {
		if d := get(t, s, src, itoa(i)); d.SourceVersion != "v2" {
			t.Errorf("item %d: version %q, want v2", i, d.SourceVersion)
		}
	}
	for i := 4; i <= 5; i++ {
		_, err := s.GetDocument(ctx, src, itoa(i))
		wantNotFound(t, "GetDocument of a pruned row", err)
	}
	get(t, s, other, "1")
	st := stats(t, s)
	want := map[string]map[string]int{"task": {"new": 3, "other": 1}} // labels went with their rows
	if st.Documents != 4 || !labelsEqual(st.Labels, want) {
		t.Errorf("after prune: %d documents, labels %v; want 4, %v", st.Documents, st.Labels, want)
	}
	if n, err := s.PruneSource(ctx, src, "v2"); err != nil || n != 0 {
		t.Errorf("second PruneSource = %d, %v; want 0, nil", n, err)
	}
	if n, err := s.PruneSource(ctx, "incoming/unknown.csv", "v1"); err != nil || n != 0 {
		t.Errorf("PruneSource of an unknown source = %d, %v; want 0, nil", n, err)
	}
}

// testConcurrentPut writes the same keys from several goroutines: every
// call succeeds and no key is duplicated.
func testConcurrentPut(t *testing.T, s tinyhead.Store) {
	const src, workers, rows = "incoming/race.csv", 6, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			var docs []tinyhead.Document
			for i := range rows {
				docs = append(docs, doc(src, itoa(i), "v"+itoa(w), "text "+itoa(i), map[string]string{"worker": itoa(w)}))
			}
			errs <- s.PutDocuments(t.Context(), docs)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent PutDocuments: %v", err)
		}
	}
	st := stats(t, s)
	if st.Documents != rows {
		t.Errorf("%d documents, want %d", st.Documents, rows)
	}
	total := 0
	for _, n := range st.Labels["worker"] {
		total += n
	}
	if total != rows {
		t.Errorf("%d labels of task worker, want %d (one per document)", total, rows)
	}
}

func testNotFound(t *testing.T, s tinyhead.Store) {
	ctx := t.Context()
	put(t, s, doc("incoming/a.csv", "1", "v1", "text", nil))
	_, err := s.GetDocument(ctx, "incoming/a.csv", "2")
	wantNotFound(t, "GetDocument of a missing item", err)
	_, err = s.GetDocument(ctx, "incoming/b.csv", "1")
	wantNotFound(t, "GetDocument of a missing source", err)
	_, err = s.GetIngest(ctx, "incoming/a.csv", "etag")
	wantNotFound(t, "GetIngest of a missing version", err)
	wantNotFound(t, "SetLabel of a missing item", s.SetLabel(ctx, "incoming/a.csv", "2", "task", "x"))
}

func testStats(t *testing.T, s tinyhead.Store) {
	st := stats(t, s)
	if st.Documents != 0 || st.ByModel == nil || len(st.ByModel) != 0 || st.Labels == nil || len(st.Labels) != 0 {
		t.Errorf("empty store: Stats = %+v, want zero counts and empty maps", st)
	}
	m2 := doc("incoming/s.csv", "4", "v1", "d", map[string]string{"spam": "ham"})
	m2.Embeddings = map[string][]float32{"model-2": vectorOf("d", 8)}
	put(t, s,
		doc("incoming/s.csv", "1", "v1", "a", map[string]string{"spam": "spam", "topic": "x"}),
		doc("incoming/s.csv", "2", "v1", "b", map[string]string{"spam": "ham"}),
		doc("incoming/s.csv", "3", "v1", "c", nil),
		m2,
	)
	st = stats(t, s)
	wantModels := map[string]int{model: 3, "model-2": 1}
	wantLabels := map[string]map[string]int{"spam": {"spam": 1, "ham": 2}, "topic": {"x": 1}}
	if st.Documents != 4 || !maps.Equal(st.ByModel, wantModels) || !labelsEqual(st.Labels, wantLabels) {
		t.Errorf("Stats = %+v, want 4 documents, %v, %v", st, wantModels, wantLabels)
	}
}

func labelsEqual(a, b map[string]map[string]int) bool {
	return maps.EqualFunc(a, b, func(x, y map[string]int) bool { return maps.Equal(x, y) })
}
