package storetest

import (
	"slices"
	"testing"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// testDeleteSource deletes a blob's rows: its documents and labels go, and
// with them the embeddings that only they held; other sources, a text
// they share and their ingests stay; the source's ingest records say
// deleted, so a late attempt at an old version does nothing; a new
// version ingests as usual; the task summaries reflect it at once.
func testDeleteSource(t *testing.T, s tinyhead.Store) {
	const src, other = "incoming/gone.jsonl", "incoming/kept.jsonl"
	ctx := t.Context()
	put(t, s,
		doc(src, "1", "e1", "only in the deleted blob", map[string]string{"spam": "spam", "lang": "en"}),
		doc(src, "2", "e1", "in both blobs", map[string]string{"spam": "ham"}),
		doc(src, "3", "e1", "unlabelled", nil),
	)
	put(t, s, doc(other, "1", "k1", "in both blobs", map[string]string{"spam": "ham"}))
	done := beginIngest(t, s, src, "e1")
	done.Status, done.RowsOK = tinyhead.IngestDone, 3
	finishIngest(t, s, done)
	beginIngest(t, s, src, "e0") // an older attempt that never finished
	keptIngest := beginIngest(t, s, other, "k1")

	if got, err := s.Sources(ctx); err != nil || !slices.Equal(got, []string{src, other}) {
		t.Fatalf("Sources = %v, %v; want [%s %s]", got, err, src, other)
	}
	versions := sourceVersions(t, s, src)
	if !slices.Equal(versions, []string{"e0", "e1"}) {
		t.Fatalf("SourceVersions = %q, want [e0 e1]", versions)
	}
	n, err := s.DeleteSource(ctx, src, versions)
	if err != nil || n != 3 {
		t.Fatalf("DeleteSource = %d, %v; want 3, nil", n, err)
	}
	for _, item := range []string{"1", "2", "3"} {
		_, err := s.GetDocument(ctx, src, item)
		wantNotFound(t, "GetDocument of a deleted row", err)
	}
	get(t, s, other, "1")
	st := stats(t, s)
	wantLabels := map[string]map[string]int{"spam": {"ham": 1}}
	if st.Documents != 1 || st.ByModel[model] != 1 || !labelsEqual(st.Labels, wantLabels) {
		t.Errorf("Stats after delete: %+v; want 1 document, labels %v", st, wantLabels)
	}
	sums := tasks(t, s, model)
	if len(sums) != 1 || sums["spam"].Rows != 1 || sums["spam"].Labels["ham"] != 1 {
		t.Errorf("Tasks after delete: %+v; want spam with 1 ham row only", sums)
	}
	onlyGone, shared := tinyhead.ContentHash("only in the deleted blob"), tinyhead.ContentHash("in both blobs")
	known, err := s.EmbeddingsByHash(ctx, model, []string{onlyGone, shared})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := known[onlyGone]; ok {
		t.Error("the embedding of a deleted text is still found by its hash")
	}
	if !sameBits(known[shared], vectorOf("in both blobs", 8)) {
		t.Errorf("the embedding of a text another blob holds: %v", known[shared])
	}
	if got, err := s.Sources(ctx); err != nil || !slices.Equal(got, []string{other}) {
		t.Errorf("Sources after delete = %v, %v; want [%s]", got, err, other)
	}

	for _, etag := range []string{"e0", "e1"} {
		if in := getIngest(t, s, src, etag); in.Status != tinyhead.IngestDeleted {
			t.Errorf("ingest %s after delete: %+v, want status deleted", etag, in)
		}
	}
	if in := getIngest(t, s, other, "k1"); !sameIngest(in, keptIngest) {
		t.Errorf("ingest of another source changed: %+v, want %+v", in, keptIngest)
	}
	// A late attempt at a deleted version learns it was deleted.
	late := beginIngest(t, s, src, "e1")
	if late.Status != tinyhead.IngestDeleted || late.Attempts != 2 || late.RowsOK != 3 {
		t.Errorf("BeginIngest of a deleted version = %+v, want deleted after 2 attempts", late)
	}

	// Deleting again, or a source never stored, or no version, deletes
	// nothing.
	if n, err := s.DeleteSource(ctx, src, versions); err != nil || n != 0 {
		t.Errorf("second DeleteSource = %d, %v; want 0, nil", n, err)
	}
	if n, err := s.DeleteSource(ctx, "incoming/never.csv", []string{"e1"}); err != nil || n != 0 {
		t.Errorf("DeleteSource of an unknown source = %d, %v; want 0, nil", n, err)
	}
	if n, err := s.DeleteSource(ctx, other, nil); err != nil || n != 0 {
		t.Errorf("DeleteSource of no version = %d, %v; want 0, nil", n, err)
	}
	if v := sourceVersions(t, s, "incoming/never.csv"); len(v) != 0 {
		t.Errorf("SourceVersions of an unknown source = %q", v)
	}
	if in := getIngest(t, s, src, "e1"); in.Status != tinyhead.IngestDeleted {
		t.Errorf("ingest e1 after a second delete: %+v", in)
	}

	// The blob uploaded again (a new ETag) ingests as usual.
	again := beginIngest(t, s, src, "e2")
	if again.Status != tinyhead.IngestRunning || again.Attempts != 1 {
		t.Errorf("BeginIngest of a new version after delete = %+v, want running, 1 attempt", again)
	}
	d := doc(src, "1", "e2", "uploaded again", map[string]string{"spam": "spam"})
	put(t, s, d)
	again.Status, again.RowsOK = tinyhead.IngestDone, 1
	finishIngest(t, s, again)
	checkDoc(t, get(t, s, src, "1"), d)
	if got := getIngest(t, s, src, "e2"); got.Status != tinyhead.IngestDone {
		t.Errorf("new version's ingest: %+v", got)
	}
	if sums := tasks(t, s, model); sums["spam"].Rows != 2 {
		t.Errorf("Tasks after the upload again: %+v; want 2 spam rows", sums)
	}
}

// testDeleteSourceKeepsNewerVersions: a version written after the
// versions to delete were read (the blob uploaded again between the check
// that it is gone and the deletion) keeps its rows, including rows it
// rewrote in place, and its ingest record.
func testDeleteSourceKeepsNewerVersions(t *testing.T, s tinyhead.Store) {
	const src = "incoming/again.csv"
	ctx := t.Context()
	beginIngest(t, s, src, "old")
	put(t, s,
		doc(src, "1", "old", "first", map[string]string{"task": "a"}),
		doc(src, "2", "old", "second", map[string]string{"task": "b"}),
		doc(src, "3", "old", "third", nil),
	)
	versions := sourceVersions(t, s, src)

	// The new version begins and rewrites row 1 before the deletion.
	newer := beginIngest(t, s, src, "new")
	d1 := doc(src, "1", "new", "first, again", map[string]string{"task": "c"})
	d4 := doc(src, "4", "new", "fourth", map[string]string{"task": "c"})
	put(t, s, d1, d4)

	n, err := s.DeleteSource(ctx, src, versions)
	if err != nil || n != 2 {
		t.Fatalf("DeleteSource = %d, %v; want the 2 rows of the old version", n, err)
	}
	checkDoc(t, get(t, s, src, "1"), d1)
	checkDoc(t, get(t, s, src, "4"), d4)
	for _, item := range []string{"2", "3"} {
		_, err := s.GetDocument(ctx, src, item)
		wantNotFound(t, "GetDocument of a row of the old version", err)
	}
	if in := getIngest(t, s, src, "new"); !sameIngest(in, newer) {
		t.Errorf("the new version's ingest record %+v, want %+v", in, newer)
	}
	if in := getIngest(t, s, src, "old"); in.Status != tinyhead.IngestDeleted {
		t.Errorf("the old version's ingest record %+v, want deleted", in)
	}
	if st := stats(t, s); st.Documents != 2 || !labelsEqual(st.Labels, map[string]map[string]int{"task": {"c": 2}}) {
		t.Errorf("Stats = %+v; want the new version's 2 rows", st)
	}
}

// testSourceVersionsMany: more versions than one statement takes are
// listed and deleted.
func testSourceVersionsMany(t *testing.T, s tinyhead.Store) {
	const src, n = "incoming/many.csv", 1200
	var docs []tinyhead.Document
	for i := range n {
		docs = append(docs, doc(src, itoa(i), "v"+itoa(i), "text "+itoa(i), map[string]string{"task": "x"}))
	}
	put(t, s, docs...)
	versions := sourceVersions(t, s, src)
	if len(versions) != n {
		t.Fatalf("%d versions, want %d", len(versions), n)
	}
	if got, err := s.DeleteSource(t.Context(), src, versions); err != nil || got != n {
		t.Fatalf("DeleteSource = %d, %v; want %d", got, err, n)
	}
	if st := stats(t, s); st.Documents != 0 || len(st.Labels) != 0 {
		t.Errorf("Stats = %+v; want nothing", st)
	}
}

func sourceVersions(t *testing.T, s tinyhead.Store, source string) []string {
	t.Helper()
	v, err := s.SourceVersions(t.Context(), source)
	if err != nil {
		t.Fatalf("SourceVersions(%q): %v", source, err)
	}
	return v
}

// testSources lists each source once, in byte order, and none once its
// documents are gone.
func testSources(t *testing.T, s tinyhead.Store) {
	ctx := t.Context()
	if got, err := s.Sources(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Sources of an empty store = %v, %v", got, err)
	}
	put(t, s,
		doc("incoming/b.csv", "1", "v", "b1", nil),
		doc("incoming/b.csv", "2", "v", "b2", nil),
		doc("incoming/B.csv", "1", "v", "B1", nil),
		doc("incoming/a/x.txt", "#1", "v", "x", map[string]string{"a": "x"}),
		doc("models/not-a-blob", "1", "v", "m", nil),
	)
	want := []string{"incoming/B.csv", "incoming/a/x.txt", "incoming/b.csv", "models/not-a-blob"}
	if got, err := s.Sources(ctx); err != nil || !slices.Equal(got, want) {
		t.Errorf("Sources = %q, %v; want %q", got, err, want)
	}
	if _, err := s.PruneSource(ctx, "incoming/b.csv", "other"); err != nil {
		t.Fatal(err)
	}
	want = slices.DeleteFunc(want, func(s string) bool { return s == "incoming/b.csv" })
	if got, err := s.Sources(ctx); err != nil || !slices.Equal(got, want) {
		t.Errorf("Sources after a prune = %q, %v; want %q", got, err, want)
	}
}
