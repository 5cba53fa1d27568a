package storetest

import (
	"maps"
	"slices"
	"testing"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// testNewVersionReplacesLabels: within one version, a put merges labels;
// a put from another version replaces them (tasks it does not mention lose
// their labels, those set by SetLabel included).
func testNewVersionReplacesLabels(t *testing.T, s tinyhead.Store) {
	const src = "incoming/labels.jsonl"
	ctx := t.Context()
	put(t, s, doc(src, "1", "v1", "one", map[string]string{"idem": "a", "extra": "x"}),
		doc(src, "2", "v1", "two", map[string]string{"idem": "b", "extra": "y"}))
	put(t, s, doc(src, "1", "v1", "one", map[string]string{"idem": "c"})) // same version: merged
	if got := get(t, s, src, "1").Labels; !maps.Equal(got, map[string]string{"idem": "c", "extra": "x"}) {
		t.Errorf("after a re-put of v1: labels %v, want idem=c extra=x", got)
	}
	if err := s.SetLabel(ctx, src, "2", "manual", "m"); err != nil {
		t.Fatal(err)
	}
	put(t, s, doc(src, "1", "v2", "one", map[string]string{"idem": "c"}),
		doc(src, "2", "v2", "two, new text", nil))
	if got := get(t, s, src, "1").Labels; !maps.Equal(got, map[string]string{"idem": "c"}) {
		t.Errorf("after v2: labels of row 1 %v, want idem=c only", got)
	}
	if got := get(t, s, src, "2").Labels; len(got) != 0 {
		t.Errorf("after v2: labels of row 2 %v, want none", got)
	}
	st := stats(t, s)
	if tasks := slices.Sorted(maps.Keys(st.Labels)); !slices.Equal(tasks, []string{"idem"}) {
		t.Errorf("tasks with labels %v, want [idem]", tasks)
	}
	// A later put of the same version merges again.
	put(t, s, doc(src, "2", "v2", "two, new text", map[string]string{"extra": "z"}))
	put(t, s, doc(src, "2", "v2", "two, new text", map[string]string{"idem": "d"}))
	if got := get(t, s, src, "2").Labels; !maps.Equal(got, map[string]string{"idem": "d", "extra": "z"}) {
		t.Errorf("after two puts of v2: labels %v, want idem=d extra=z", got)
	}
}
