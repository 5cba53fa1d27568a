package storetest

import (
	"slices"
	"testing"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

func listIngests(t *testing.T, s tinyhead.Store, f tinyhead.IngestFilter) []string {
	t.Helper()
	recs, err := s.ListIngests(t.Context(), f)
	if err != nil {
		t.Fatalf("ListIngests(%+v): %v", f, err)
	}
	var out []string
	for i, in := range recs {
		if i > 0 && in.ID >= recs[i-1].ID {
			t.Errorf("ListIngests(%+v): ids %d then %d, want newest first", f, recs[i-1].ID, in.ID)
		}
		got, err := s.GetIngest(t.Context(), in.Source, in.ETag)
		if err != nil || !sameIngest(got, in) || got.ID != in.ID {
			t.Errorf("ListIngests(%+v): %+v, GetIngest says %+v, %v", f, in, got, err)
		}
		out = append(out, in.Source+"@"+in.ETag)
	}
	return out
}

// testListIngests lists ingest records newest first, by source, by name
// prefix (a folder), by status and a page at a time.
func testListIngests(t *testing.T, s tinyhead.Store) {
	const a, b = "incoming/a.csv", "incoming/_labels/b.csv"
	if got := listIngests(t, s, tinyhead.IngestFilter{}); len(got) != 0 {
		t.Errorf("empty store: %v", got)
	}
	for _, v := range []tinyhead.BlobVersion{version(a, "e1", 0), version(b, "e1", 0), version(a, "e2", 1), version(b, "e2", 1)} {
		begin(t, s, v)
	}
	// a@e1 was superseded by a@e2; b@e1 by b@e2.
	finishIngest(t, s, tinyhead.Ingest{Source: a, ETag: "e2", Status: tinyhead.IngestDone, RowsOK: 3, RowsRejected: 1, Error: "1 rows rejected; row 2: empty text"})
	all := []string{b + "@e2", a + "@e2", b + "@e1", a + "@e1"}
	listed := all
	// Names that LIKE would read as patterns, and one a prefix of a also
	// starts.
	const ab, pct, brk, bsl = "incoming/ab.csv", "incoming/_%.csv", "incoming/[x].csv", `incoming/\x.csv`
	for _, src := range []string{ab, pct, brk, bsl} {
		begin(t, s, version(src, "e1", 2))
		listed = append([]string{src + "@e1"}, listed...)
	}
	for _, c := range []struct {
		name string
		f    tinyhead.IngestFilter
		want []string
	}{
		{"all", tinyhead.IngestFilter{}, listed},
		{"one source", tinyhead.IngestFilter{Source: a}, []string{a + "@e2", a + "@e1"}},
		{"unknown source", tinyhead.IngestFilter{Source: "incoming/none"}, nil},
		{"status", tinyhead.IngestFilter{Status: tinyhead.IngestSuperseded}, []string{b + "@e1", a + "@e1"}},
		{"source and status", tinyhead.IngestFilter{Source: b, Status: tinyhead.IngestRunning}, []string{b + "@e2"}},
		{"limit", tinyhead.IngestFilter{Limit: 3}, listed[:3]},
		{"folder", tinyhead.IngestFilter{Prefix: "incoming/_labels/"}, []string{b + "@e2", b + "@e1"}},
		{"prefix of a name", tinyhead.IngestFilter{Prefix: "incoming/a"}, []string{ab + "@e1", a + "@e2", a + "@e1"}},
		{"case-sensitive", tinyhead.IngestFilter{Prefix: "incoming/A"}, nil},
		{"wildcards are literal", tinyhead.IngestFilter{Prefix: "incoming/_%"}, []string{pct + "@e1"}},
		{"bracket is literal", tinyhead.IngestFilter{Prefix: "incoming/[x]"}, []string{brk + "@e1"}},
		{"backslash is literal", tinyhead.IngestFilter{Prefix: `incoming/\`}, []string{bsl + "@e1"}},
		{"prefix and status", tinyhead.IngestFilter{Prefix: "incoming/_labels/", Status: tinyhead.IngestRunning}, []string{b + "@e2"}},
		{"whole name", tinyhead.IngestFilter{Prefix: a}, []string{a + "@e2", a + "@e1"}},
	} {
		if got := listIngests(t, s, c.f); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	// Paging: Before the last ID of a page gives the next page.
	var pages []string
	before := int64(0)
	for range 10 {
		recs, err := s.ListIngests(t.Context(), tinyhead.IngestFilter{Limit: 3, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range recs {
			pages = append(pages, in.Source+"@"+in.ETag)
		}
		if len(recs) < 3 {
			break
		}
		before = recs[len(recs)-1].ID
	}
	if !slices.Equal(pages, listed) {
		t.Errorf("paged: %v, want %v", pages, listed)
	}
	done, err := s.GetIngest(t.Context(), a, "e2")
	if err != nil || done.RowsOK != 3 || done.RowsRejected != 1 || done.Error == "" {
		t.Errorf("finished record %+v, %v", done, err)
	}
}

// testIngestProgress: the attempt holding a running version records its
// rows so far; another attempt, or a finished version, changes nothing.
func testIngestProgress(t *testing.T, s tinyhead.Store) {
	const src = "incoming/progress.csv"
	ctx := t.Context()
	in := begin(t, s, version(src, "e1", 0))
	if err := s.IngestProgress(ctx, src, "e1", in.Attempts, 512); err != nil {
		t.Fatal(err)
	}
	if got := getIngest(t, s, src, "e1"); got.RowsOK != 512 || got.Status != tinyhead.IngestRunning {
		t.Errorf("after progress: %+v", got)
	}
	if err := s.IngestProgress(ctx, src, "e1", in.Attempts+1, 1); err != nil {
		t.Fatal(err)
	}
	finishIngest(t, s, tinyhead.Ingest{Source: src, ETag: "e1", Status: tinyhead.IngestDone, RowsOK: 700})
	if err := s.IngestProgress(ctx, src, "e1", in.Attempts, 5); err != nil {
		t.Fatal(err)
	}
	if got := getIngest(t, s, src, "e1"); got.RowsOK != 700 || got.Status != tinyhead.IngestDone {
		t.Errorf("after a late progress report: %+v", got)
	}
	if err := s.IngestProgress(ctx, src, "none", 1, 5); err != nil {
		t.Errorf("progress of an unknown version: %v", err)
	}
}
