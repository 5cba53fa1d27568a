package storetest

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// model2 is a second embedding model, of another dimension.
const model2 = "model-2"

// testTwoModels: a document embedded by two models holds two vectors,
// each found by its model only; both models see the document's labels; a
// later write that carries one model's vector keeps the other's, and a
// write with the same text under another item shares the stored vectors.
func testTwoModels(t *testing.T, s tinyhead.Store) {
	const src = "incoming/two.csv"
	ctx := t.Context()
	a := doc(src, "1", "v1", "two models", map[string]string{"spam": "spam"})
	a.Embeddings[model2] = vectorOf("two models, model 2", 4)
	b := doc(src, "2", "v1", "one model", map[string]string{"spam": "ham"})
	put(t, s, a, b)
	checkDoc(t, get(t, s, src, "1"), a)
	checkDoc(t, get(t, s, src, "2"), b)

	for m, want := range map[string]map[string]int{model: {"spam": 1, "ham": 1}, model2: {"spam": 1}} {
		if got := tasks(t, s, m)["spam"]; !maps.Equal(got.Labels, want) {
			t.Errorf("Tasks(%s) spam labels = %v, want %v", m, got.Labels, want)
		}
		var items []string
		err := s.ScanLabeled(ctx, "spam", m, true, func(r tinyhead.LabeledRow) error {
			items = append(items, r.Item)
			if want := get(t, s, src, r.Item).Embeddings[m]; !sameBits(r.Embedding, want) {
				t.Errorf("ScanLabeled(%s) item %s: vector %v, want %v", m, r.Item, r.Embedding, want)
			}
			return nil
		})
		if err != nil || len(items) != len(want) {
			t.Errorf("ScanLabeled(%s) = %v, %v; want %d rows", m, items, err, len(want))
		}
	}
	if st := stats(t, s); st.Documents != 2 || !maps.Equal(st.ByModel, map[string]int{model: 2, model2: 1}) {
		t.Errorf("Stats = %+v, want 2 documents, %s: 2, %s: 1", st, model, model2)
	}

	// A new version of the row with one model's vector keeps the other's.
	a2 := withVector(doc(src, "1", "v2", "two models", map[string]string{"spam": "spam"}), model, vectorOf("two models", 8))
	put(t, s, a2)
	if got := get(t, s, src, "1"); !maps.EqualFunc(got.Embeddings, a.Embeddings, sameBits) {
		t.Errorf("after a write with one vector: %v, want both kept %v", got.Embeddings, a.Embeddings)
	}
	// The same text under another key shares them, even written without
	// vectors.
	c := doc("incoming/other.csv", "1", "v1", "two models", nil)
	c.Embeddings = nil
	put(t, s, c)
	if got := get(t, s, "incoming/other.csv", "1"); !maps.EqualFunc(got.Embeddings, a.Embeddings, sameBits) {
		t.Errorf("the same text elsewhere: %v, want %v", got.Embeddings, a.Embeddings)
	}
	// A stored vector is never replaced: a text has one vector per model.
	d := withVector(doc(src, "3", "v1", "one model", nil), model, vectorOf("not the same", 8))
	put(t, s, d)
	if got := get(t, s, src, "3").Embeddings[model]; !sameBits(got, b.Embeddings[model]) {
		t.Errorf("a second vector for a stored (model, text): got %v, want the first %v", got, b.Embeddings[model])
	}
	ids := map[string]int64{}
	for _, item := range []string{"1", "2"} {
		ids[item] = get(t, s, src, item).ID
	}
	byID, err := s.EmbeddingsByID(ctx, model2, []int64{ids["1"], ids["2"]})
	if err != nil || len(byID) != 1 || !sameBits(byID[ids["1"]], a.Embeddings[model2]) {
		t.Errorf("EmbeddingsByID(%s) = %v, %v; want item 1's vector only", model2, byID, err)
	}
	if err := s.PutDocuments(ctx, []tinyhead.Document{withVector(doc(src, "9", "v1", "x", nil), "", []float32{1})}); err == nil {
		t.Error("PutDocuments with an empty model id succeeded")
	}
}

// testOrphanedVectors: a vector goes when the last document holding its
// text goes — deleted with its source, pruned by a new version, or
// rewritten with another text — and not before.
func testOrphanedVectors(t *testing.T, s tinyhead.Store) {
	ctx := t.Context()
	both := func(text string) map[string][]float32 {
		return map[string][]float32{model: vectorOf(text, 8), model2: vectorOf(text, 3)}
	}
	mk := func(src, item, version, text string) tinyhead.Document {
		d := doc(src, item, version, text, nil)
		d.Embeddings = both(text)
		return d
	}
	known := func(text string) int {
		t.Helper()
		n := 0
		for _, m := range []string{model, model2} {
			got, err := s.EmbeddingsByHash(ctx, m, []string{tinyhead.ContentHash(text)})
			if err != nil {
				t.Fatal(err)
			}
			n += len(got)
		}
		return n
	}
	put(t, s, mk("incoming/a.csv", "1", "a1", "shared"), mk("incoming/a.csv", "2", "a1", "only a"),
		mk("incoming/a.csv", "3", "a1", "rewritten"), mk("incoming/a.csv", "4", "a1", "pruned"))
	put(t, s, mk("incoming/b.csv", "1", "b1", "shared"))

	// Rewritten: item 3 gets another text.
	put(t, s, mk("incoming/a.csv", "3", "a1", "new text"))
	if n := known("rewritten"); n != 0 {
		t.Errorf("vectors of a rewritten text: %d left, want 0", n)
	}
	// Pruned: version a2 keeps items 1-3.
	put(t, s, mk("incoming/a.csv", "1", "a2", "shared"), mk("incoming/a.csv", "2", "a2", "only a"), mk("incoming/a.csv", "3", "a2", "new text"))
	if n, err := s.PruneSource(ctx, "incoming/a.csv", "a2"); err != nil || n != 1 {
		t.Fatalf("PruneSource = %d, %v; want 1", n, err)
	}
	if n := known("pruned"); n != 0 {
		t.Errorf("vectors of a pruned text: %d left, want 0", n)
	}
	// Deleted: a goes; the text b shares stays.
	if n, err := s.DeleteSource(ctx, "incoming/a.csv", []string{"a1", "a2"}); err != nil || n != 3 {
		t.Fatalf("DeleteSource = %d, %v; want 3", n, err)
	}
	for text, want := range map[string]int{"only a": 0, "new text": 0, "shared": 2} {
		if n := known(text); n != want {
			t.Errorf("vectors of %q after deleting a: %d, want %d", text, n, want)
		}
	}
	if _, err := s.DeleteSource(ctx, "incoming/b.csv", []string{"b1"}); err != nil {
		t.Fatal(err)
	}
	if n := known("shared"); n != 0 {
		t.Errorf("vectors of a text no document holds: %d, want 0", n)
	}
	if p := progress(t, s, model); p != (tinyhead.EmbeddingProgress{}) {
		t.Errorf("EmbeddingProgress of an empty store = %+v", p)
	}
}

func progress(t *testing.T, s tinyhead.Store, m string) tinyhead.EmbeddingProgress {
	t.Helper()
	p, err := s.EmbeddingProgress(t.Context(), m)
	if err != nil {
		t.Fatalf("EmbeddingProgress(%s): %v", m, err)
	}
	return p
}

// backfillDocs stores n documents with texts of model only, two of them
// sharing a text, and returns the distinct hashes, sorted.
func backfillDocs(t *testing.T, s tinyhead.Store, n int) []string {
	var docs []tinyhead.Document
	seen := map[string]bool{}
	var hashes []string
	for i := range n {
		text := "backfill text " + itoa(i)
		if i == n-1 {
			text = "backfill text 0" // shared with item 0
		}
		d := doc("incoming/backfill.csv", itoa(i), "v1", text, map[string]string{"spam": []string{"a", "b"}[i%2]})
		docs = append(docs, d)
		if !seen[d.ContentHash] {
			seen[d.ContentHash] = true
			hashes = append(hashes, d.ContentHash)
		}
	}
	for i := 0; i < len(docs); i += 500 {
		put(t, s, docs[i:min(i+500, len(docs))]...)
	}
	sort.Strings(hashes)
	return hashes
}

func vectorsFor(texts []tinyhead.PendingText) []tinyhead.HashVector {
	out := make([]tinyhead.HashVector, len(texts))
	for i, p := range texts {
		out[i] = tinyhead.HashVector{ContentHash: p.ContentHash, Vector: vectorOf(p.Text, 3)}
	}
	return out
}

func hashesOf(texts []tinyhead.PendingText) []string {
	out := make([]string, len(texts))
	for i, p := range texts {
		out[i] = p.ContentHash
	}
	return out
}

// testClaimMissing: claims come in hash order after the cursor, each text
// once (a shared text is one), never one another owner holds or one
// already embedded; PutEmbeddings stores each vector once and releases the
// claims; a vector for a text no document holds is not stored.
func testClaimMissing(t *testing.T, s tinyhead.Store) {
	ctx := t.Context()
	hashes := backfillDocs(t, s, 7) // 6 distinct texts
	if p := progress(t, s, model2); p != (tinyhead.EmbeddingProgress{Texts: 6}) {
		t.Errorf("progress before = %+v, want 6 texts, none embedded", p)
	}
	a, err := s.ClaimMissing(ctx, model2, "owner-a", "", 2, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got := hashesOf(a); !slices.Equal(got, hashes[:2]) {
		t.Fatalf("first claim = %v, want the first two hashes %v", got, hashes[:2])
	}
	for _, p := range a {
		if tinyhead.ContentHash(p.Text) != p.ContentHash {
			t.Errorf("claimed text %q does not match its hash", p.Text)
		}
	}
	if p := progress(t, s, model2); p.Claimed != 2 || p.Embedded != 0 {
		t.Errorf("progress while claimed = %+v, want 2 claimed", p)
	}
	b, err := s.ClaimMissing(ctx, model2, "owner-b", "", 10, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got := hashesOf(b); !slices.Equal(got, hashes[2:]) {
		t.Fatalf("second owner's claim = %v, want the other four %v", got, hashes[2:])
	}
	// The cursor: owner-b asks after its last hash and finds nothing.
	if c, err := s.ClaimMissing(ctx, model2, "owner-c", hashes[1], 10, time.Hour); err != nil || len(c) != 0 {
		t.Fatalf("claim while all are held = %v, %v; want none", hashesOf(c), err)
	}
	n, err := s.PutEmbeddings(ctx, model2, "owner-a", vectorsFor(a))
	if err != nil || n != 2 {
		t.Fatalf("PutEmbeddings = %d, %v; want 2", n, err)
	}
	// Again (a retry, or an overtaken run): nothing is stored twice.
	if n, err := s.PutEmbeddings(ctx, model2, "owner-a", vectorsFor(a)); err != nil || n != 0 {
		t.Fatalf("PutEmbeddings again = %d, %v; want 0", n, err)
	}
	gone := tinyhead.HashVector{ContentHash: tinyhead.ContentHash("no document"), Vector: []float32{1, 2, 3}}
	n, err = s.PutEmbeddings(ctx, model2, "owner-b", append(vectorsFor(b), gone))
	if err != nil || n != 4 {
		t.Fatalf("PutEmbeddings of b and a text no document holds = %d, %v; want 4", n, err)
	}
	if p := progress(t, s, model2); p != (tinyhead.EmbeddingProgress{Texts: 6, Embedded: 6}) {
		t.Errorf("progress after = %+v, want 6 of 6, none claimed", p)
	}
	if c, err := s.ClaimMissing(ctx, model2, "owner-c", "", 10, time.Hour); err != nil || len(c) != 0 {
		t.Errorf("claim when done = %v, %v; want none", hashesOf(c), err)
	}
	shared := get(t, s, "incoming/backfill.csv", "6")
	if !sameBits(shared.Embeddings[model2], vectorOf("backfill text 0", 3)) || !sameBits(shared.Embeddings[model], vectorOf("backfill text 0", 8)) {
		t.Errorf("a shared text's vectors = %v", shared.Embeddings)
	}
	if len(tasks(t, s, model2)["spam"].Labels) != 2 || tasks(t, s, model2)["spam"].Rows != 7 {
		t.Errorf("Tasks(%s) after the backfill = %+v, want all 7 rows", model2, tasks(t, s, model2))
	}
	if _, err := s.ClaimMissing(ctx, "", "o", "", 1, time.Hour); err == nil {
		t.Error("ClaimMissing of an empty model succeeded")
	}
}

// testClaimLease: a claim whose lease ran out (its holder crashed) is
// claimed again by another owner.
func testClaimLease(t *testing.T, s tinyhead.Store) {
	ctx := t.Context()
	hashes := backfillDocs(t, s, 3)
	if _, err := s.ClaimMissing(ctx, model2, "crashed", "", 10, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	got, err := s.ClaimMissing(ctx, model2, "next", "", 10, time.Hour)
	if err != nil || !slices.Equal(hashesOf(got), hashes) {
		t.Fatalf("claim after the lease ran out = %v, %v; want all %v", hashesOf(got), err, hashes)
	}
}

// testConcurrentBackfill: four owners claim and store at once until
// nothing is left: every text is claimed by one owner only and embedded
// once.
func testConcurrentBackfill(t *testing.T, s tinyhead.Store) {
	ctx := t.Context()
	hashes := backfillDocs(t, s, 300)
	var (
		mu      sync.Mutex
		claimed = map[string]string{} // hash → owner
		wg      sync.WaitGroup
		errs    = make(chan error, 4)
	)
	for w := range 4 {
		owner := fmt.Sprintf("owner-%d", w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			after := ""
			for {
				got, err := s.ClaimMissing(ctx, model2, owner, after, 16, time.Hour)
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, p := range got {
					if prev, ok := claimed[p.ContentHash]; ok {
						errs <- fmt.Errorf("%s claimed %s, which %s held", owner, p.ContentHash, prev)
					}
					claimed[p.ContentHash] = owner
				}
				mu.Unlock()
				if _, err := s.PutEmbeddings(ctx, model2, owner, vectorsFor(got)); err != nil {
					errs <- err
					return
				}
				after = got[len(got)-1].ContentHash
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(claimed) != len(hashes) {
		t.Errorf("%d texts claimed, want %d", len(claimed), len(hashes))
	}
	if p := progress(t, s, model2); p != (tinyhead.EmbeddingProgress{Texts: len(hashes), Embedded: len(hashes)}) {
		t.Errorf("progress = %+v, want all %d embedded", p, len(hashes))
	}
}
