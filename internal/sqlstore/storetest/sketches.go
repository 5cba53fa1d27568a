package storetest

import (
	"bytes"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/tinyhead/tinyhead/internal/sketch"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// testSketches: sketches are kept by content hash (documents with one
// text share one), found by document id and version, replaced by another
// version, and the backfill's query finds the labelled documents of a
// task that lack one.
func testSketches(t *testing.T, s tinyhead.Store) {
	ctx := t.Context()
	const v1, v2 = "sketch-v1", "sketch-v2"
	long := strings.Repeat("word ", 1) + strings.Repeat("many different words here ", 1)
	for i := range 3000 {
		long += " w" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
	}
	put(t, s,
		doc("src", "a", "e1", "alpha beta", map[string]string{"t": "x"}),
		doc("src", "b", "e1", "alpha beta", map[string]string{"t": "y"}),
		doc("src", "c", "e1", "gamma", map[string]string{"t": "x"}),
		doc("src", "d", "e1", "delta", map[string]string{"other": "x"}),
		doc("src", "e", "e1", long, map[string]string{"t": "y"}),
	)
	ids := map[string]int64{}
	for _, item := range []string{"a", "b", "c", "d", "e"} {
		ids[item] = get(t, s, "src", item).ID
	}
	hAB, hG, hL := tinyhead.ContentHash("alpha beta"), tinyhead.ContentHash("gamma"), tinyhead.ContentHash(long)

	missing, err := s.MissingSketches(ctx, "t", v1, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{hAB: "alpha beta", hG: "gamma", hL: long}
	if !maps.Equal(missing, want) {
		t.Fatalf("MissingSketches = %d texts %v, want the 3 texts of task t", len(missing), slices.Collect(maps.Keys(missing)))
	}
	if all, err := s.MissingSketches(ctx, "", v1, 10); err != nil || len(all) != 4 || all[tinyhead.ContentHash("delta")] != "delta" {
		t.Errorf("MissingSketches of every document = %d texts, %v; want the 4 texts", len(all), err)
	}
	if missing, err := s.MissingSketches(ctx, "t", v1, 1); err != nil || len(missing) != 1 {
		t.Errorf("MissingSketches with limit 1 = %d texts, %v", len(missing), err)
	}

	enc := map[string][]byte{}
	for h, text := range want {
		enc[h] = sketch.Encode(nil, sketch.Of(text))
	}
	if len(enc[hL]) < 8000 {
		t.Fatalf("the long text's sketch is %d bytes; the test wants one past 8,000 (off-row storage)", len(enc[hL]))
	}
	enc[hG] = []byte{} // a text without words has an empty sketch
	for range 2 {      // a repeated put changes nothing
		if err := s.PutSketches(ctx, v1, enc); err != nil {
			t.Fatal(err)
		}
	}
	if missing, err := s.MissingSketches(ctx, "t", v1, 10); err != nil || len(missing) != 0 {
		t.Errorf("MissingSketches after the puts = %d texts, %v; want none", len(missing), err)
	}
	got, err := s.SketchesByID(ctx, v1, []int64{ids["a"], ids["b"], ids["c"], ids["d"], ids["e"], 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	for item, h := range map[string]string{"a": hAB, "b": hAB, "c": hG, "e": hL} {
		b, ok := got[ids[item]]
		if !ok || !bytes.Equal(b, enc[h]) {
			t.Errorf("sketch of %s: %d bytes (present %v), want %d", item, len(b), ok, len(enc[h]))
		}
	}
	if _, ok := got[ids["d"]]; ok || len(got) != 4 {
		t.Errorf("SketchesByID returned %d sketches, want 4 (none for the document without one)", len(got))
	}
	if v, err := sketch.Decode(got[ids["e"]]); err != nil || v.Len() != len(enc[hL])/8 {
		t.Errorf("the long sketch decodes to %d entries, %v", v.Len(), err)
	}

	// A new featurizer version replaces the sketch; the old one is gone.
	other := sketch.Encode(nil, sketch.Of("something else"))
	if err := s.PutSketches(ctx, v2, map[string][]byte{hAB: other}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.SketchesByID(ctx, v2, []int64{ids["a"]}); err != nil || !bytes.Equal(got[ids["a"]], other) {
		t.Errorf("version 2 sketch = %v, %v", got, err)
	}
	if got, err := s.SketchesByID(ctx, v1, []int64{ids["a"], ids["c"]}); err != nil || len(got) != 1 {
		t.Errorf("version 1 sketches after the replacement = %d, %v; want c's only", len(got), err)
	}
	if missing, err := s.MissingSketches(ctx, "t", v1, 10); err != nil || !maps.Equal(missing, map[string]string{hAB: "alpha beta"}) {
		t.Errorf("MissingSketches of version 1 = %d texts, %v; want alpha beta", len(missing), err)
	}
}
