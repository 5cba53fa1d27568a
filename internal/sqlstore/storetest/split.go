package storetest

import (
	"strings"
	"testing"

	"github.com/tinyhead/tinyhead/internal/sqlstore/rowcheck"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// testGroupAndTest: a document's validation group and test mark are stored
// with it, read back by GetDocument and ScanLabeled, replaced by a later
// write of the document (a relabel through SetLabel keeps them), and a
// group over the column size is refused.
func testGroupAndTest(t *testing.T, s tinyhead.Store) {
	longest := strings.Repeat("é", rowcheck.MaxGroupLen) // one UTF-16 unit each, two bytes
	withSplit := func(d tinyhead.Document, group string, test bool) tinyhead.Document {
		d.Group, d.Test = group, test
		return d
	}
	put(t, s,
		withSplit(doc("f", "1", "v", "a", map[string]string{"t": "x"}), "thread-1", false),
		withSplit(doc("f", "2", "v", "b", map[string]string{"t": "y"}), "thread-1", true),
		withSplit(doc("f", "3", "v", "c", map[string]string{"t": "x"}), "", true),
		withSplit(doc("f", "4", "v", "d", map[string]string{"t": "y"}), longest, false),
		doc("f", "5", "v", "e", map[string]string{"t": "x"}),
	)
	want := map[string]struct {
		group string
		test  bool
	}{"1": {"thread-1", false}, "2": {"thread-1", true}, "3": {"", true}, "4": {longest, false}, "5": {"", false}}
	check := func(when string) {
		t.Helper()
		for item, w := range want {
			if d := get(t, s, "f", item); d.Group != w.group || d.Test != w.test {
				t.Errorf("%s: GetDocument(f, %s): group %.20q test %v; want %.20q, %v", when, item, d.Group, d.Test, w.group, w.test)
			}
		}
		seen := 0
		for _, vectors := range []bool{false, true} {
			err := s.ScanLabeled(t.Context(), "t", model, vectors, func(r tinyhead.LabeledRow) error {
				seen++
				if w := want[r.Item]; r.Group != w.group || r.Test != w.test {
					t.Errorf("%s: ScanLabeled row %s: group %.20q test %v; want %.20q, %v", when, r.Item, r.Group, r.Test, w.group, w.test)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if seen != 2*len(want) {
			t.Errorf("%s: ScanLabeled saw %d rows, want %d", when, seen, 2*len(want))
		}
	}
	check("after the first write")

	// A later write replaces both, within the same version or from another.
	put(t, s, withSplit(doc("f", "1", "v", "a", map[string]string{"t": "x"}), "", true),
		withSplit(doc("f", "3", "v2", "c", map[string]string{"t": "x"}), "thread-2", false))
	want["1"] = struct {
		group string
		test  bool
	}{"", true}
	want["3"] = struct {
		group string
		test  bool
	}{"thread-2", false}
	if err := s.SetLabel(t.Context(), "f", "2", "t", "x"); err != nil {
		t.Fatal(err)
	}
	check("after rewrites and a relabel")

	err := s.PutDocuments(t.Context(), []tinyhead.Document{withSplit(doc("f", "9", "v", "z", nil), longest+"x", false)})
	if err == nil || !strings.Contains(err.Error(), "group") {
		t.Errorf("a group over %d UTF-16 units: %v; want an error naming the group", rowcheck.MaxGroupLen, err)
	}
}
