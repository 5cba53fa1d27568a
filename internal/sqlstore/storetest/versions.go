package storetest

import (
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// t0 is the LastModified of the oldest test version.
var t0 = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

// version is the etag-th version of source, modified sec seconds after t0.
func version(source, etag string, sec int) tinyhead.BlobVersion {
	return tinyhead.BlobVersion{Source: source, ETag: etag, Modified: t0.Add(time.Duration(sec) * time.Second)}
}

func begin(t *testing.T, s tinyhead.Store, v tinyhead.BlobVersion) tinyhead.Ingest {
	t.Helper()
	in, err := s.BeginIngest(t.Context(), v, time.Hour)
	if err != nil {
		t.Fatalf("BeginIngest(%+v): %v", v, err)
	}
	return in
}

func wantSuperseded(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, tinyhead.ErrSuperseded) || !errors.Is(err, tinyhead.ErrConflict) {
		t.Errorf("%s: error %v, want ErrSuperseded (an ErrConflict)", what, err)
	}
}

// items lists the items of source's documents and the versions they were
// written by.
func items(t *testing.T, s tinyhead.Store, source string, ids ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, id := range ids {
		d, err := s.GetDocument(t.Context(), source, id)
		if errors.Is(err, tinyhead.ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("GetDocument(%q): %v", id, err)
		}
		out[id] = d.SourceVersion
	}
	return out
}

// testVersionOrder: versions are ordered by LastModified, not by the order
// BeginIngest sees them; an older version than the claimed one is recorded
// superseded and can neither write nor prune. Of two versions of the same
// second, the claimed one stands unless the other overtakes it by name.
func testVersionOrder(t *testing.T, s tinyhead.Store) {
	const src = "incoming/order.jsonl"
	ctx := t.Context()
	v1, v2 := version(src, "0xB1", 1), version(src, "0xA2", 2) // v2's etag sorts first: the time decides
	in := begin(t, s, v2)
	if in.Status != tinyhead.IngestRunning || in.Attempts != 1 || !in.Modified.Equal(v2.Modified) {
		t.Errorf("BeginIngest(v2) = %+v, want running, 1 attempt, Modified %v", in, v2.Modified)
	}
	put(t, s, doc(src, "1", v2.ETag, "new one", map[string]string{"task": "new"}))

	old := begin(t, s, v1) // v1's trigger arrives late
	if old.Status != tinyhead.IngestSuperseded || old.Attempts != 1 || !old.Modified.Equal(v1.Modified) ||
		old.Claimed.ETag != v2.ETag || !old.Claimed.Modified.Equal(v2.Modified) {
		t.Errorf("BeginIngest(v1) after v2 = %+v, want superseded with 1 attempt, v2 claimed", old)
	}
	err := s.PutDocuments(ctx, []tinyhead.Document{
		doc(src, "1", v1.ETag, "old one", map[string]string{"task": "old"}),
		doc(src, "2", v1.ETag, "old two", nil),
	})
	wantSuperseded(t, "PutDocuments of v1", err)
	_, err = s.PruneSource(ctx, src, v1.ETag)
	wantSuperseded(t, "PruneSource keeping v1", err)
	checkDoc(t, get(t, s, src, "1"), doc(src, "1", v2.ETag, "new one", map[string]string{"task": "new"}))
	if got := items(t, s, src, "1", "2"); len(got) != 1 {
		t.Errorf("items %v, want v2's only", got)
	}
	if again := begin(t, s, v1); again.Status != tinyhead.IngestSuperseded || again.Attempts != 2 {
		t.Errorf("re-delivery of v1 = %+v, want superseded with 2 attempts", again)
	}

	// The same LastModified: the claimed version stands…
	v3a, v3b := version(src, "0xC3a", 3), version(src, "0xC3b", 3)
	if in := begin(t, s, v3b); in.Status != tinyhead.IngestRunning {
		t.Errorf("BeginIngest(v3b) = %+v, want running", in)
	}
	if got := getIngest(t, s, src, v2.ETag); got.Status != tinyhead.IngestSuperseded {
		t.Errorf("v2 after v3b was claimed: %+v, want superseded", got)
	}
	in = begin(t, s, v3a)
	if in.Status != tinyhead.IngestSuperseded || in.Claimed.ETag != v3b.ETag {
		t.Errorf("BeginIngest(v3a) after v3b = %+v, want superseded, v3b claimed", in)
	}
	// … unless the other names it: then that one runs, the claimed one is
	// superseded.
	over := v3a
	over.Overtakes = "0xStale" // not the claimed version: no effect
	if in := begin(t, s, over); in.Status != tinyhead.IngestSuperseded {
		t.Errorf("BeginIngest(v3a overtaking another) = %+v, want superseded", in)
	}
	over.Overtakes = v3b.ETag
	in = begin(t, s, over)
	if in.Status != tinyhead.IngestRunning || in.Attempts != 3 || !in.LeaseUntil.After(in.StartedAt) {
		t.Errorf("BeginIngest(v3a overtaking v3b) = %+v, want running, attempt 3, a lease", in)
	}
	if got := getIngest(t, s, src, v3b.ETag); got.Status != tinyhead.IngestSuperseded {
		t.Errorf("v3b after v3a overtook it: %+v, want superseded", got)
	}
	if in := begin(t, s, v3b); in.Status != tinyhead.IngestSuperseded || in.Claimed.ETag != v3a.ETag {
		t.Errorf("BeginIngest(v3b) after v3a overtook it = %+v, want superseded", in)
	}
	put(t, s, doc(src, "1", v3a.ETag, "v3a", nil))
	wantSuperseded(t, "PutDocuments of v3b", s.PutDocuments(ctx, []tinyhead.Document{doc(src, "1", v3b.ETag, "v3b", nil)}))

	// Writes of a source that no ingest ever claimed are not checked.
	put(t, s, doc("incoming/unclaimed.csv", "1", "any", "text", nil))
	if _, err := s.PruneSource(ctx, "incoming/unclaimed.csv", "other"); err != nil {
		t.Errorf("PruneSource of an unclaimed source: %v", err)
	}
}

// testSupersedeRunning: a newer version claimed while an older one runs
// marks the older record superseded; from then on the older attempt cannot
// write, prune or renew its lease, and the newer one replaces its rows.
func testSupersedeRunning(t *testing.T, s tinyhead.Store) {
	const src = "incoming/race.jsonl"
	ctx := t.Context()
	v1, v2 := version(src, "e1", 1), version(src, "e2", 2)
	r1 := begin(t, s, v1)
	for i := 1; i <= 4; i++ {
		put(t, s, doc(src, itoa(i), v1.ETag, "v1 row "+itoa(i), map[string]string{"idem": "a", "extra": "x"}))
	}
	r2 := begin(t, s, v2)
	if r2.Status != tinyhead.IngestRunning {
		t.Fatalf("BeginIngest(v2) = %+v, want running", r2)
	}
	if got := getIngest(t, s, src, v1.ETag); got.Status != tinyhead.IngestSuperseded {
		t.Errorf("v1 after v2 was claimed: %+v, want superseded", got)
	}
	wantSuperseded(t, "RenewIngest of v1", s.RenewIngest(ctx, src, v1.ETag, r1.Attempts, time.Hour))
	wantSuperseded(t, "PutDocuments of v1", s.PutDocuments(ctx, []tinyhead.Document{doc(src, "5", v1.ETag, "v1 row 5", nil)}))
	put(t, s, doc(src, "1", v2.ETag, "v2 row 1", map[string]string{"idem": "b"}))
	_, err := s.PruneSource(ctx, src, v1.ETag)
	wantSuperseded(t, "PruneSource keeping v1", err)
	if err := s.RenewIngest(ctx, src, v2.ETag, r2.Attempts, time.Hour); err != nil {
		t.Errorf("RenewIngest of v2: %v", err)
	}
	if n, err := s.PruneSource(ctx, src, v2.ETag); err != nil || n != 3 {
		t.Errorf("PruneSource keeping v2 = %d, %v; want 3, nil", n, err)
	}
	r1.Status, r1.RowsOK, r1.Error = tinyhead.IngestSuperseded, 4, "stopped"
	finishIngest(t, s, r1)
	if got := getIngest(t, s, src, v1.ETag); !sameIngest(got, r1) {
		t.Errorf("after FinishIngest: %+v, want %+v", got, r1)
	}
	if got := items(t, s, src, "1", "2", "3", "4", "5"); !maps.Equal(got, map[string]string{"1": v2.ETag}) {
		t.Errorf("items %v, want v2's row 1 only", got)
	}
	checkDoc(t, get(t, s, src, "1"), doc(src, "1", v2.ETag, "v2 row 1", map[string]string{"idem": "b"}))
}

// testIngestLease: the attempt that begins a version holds its lease;
// another delivery meanwhile is busy; once the lease has expired (its
// holder crashed) the next delivery takes the version over, and the old
// holder can no longer renew.
func testIngestLease(t *testing.T, s tinyhead.Store) {
	const src = "incoming/lease.csv"
	ctx := t.Context()
	v := version(src, "e1", 1)
	first := begin(t, s, v)
	if first.Status != tinyhead.IngestRunning || first.Attempts != 1 || !first.LeaseUntil.After(first.StartedAt) {
		t.Fatalf("BeginIngest = %+v, want running, attempt 1, a lease", first)
	}
	in, err := s.BeginIngest(ctx, v, time.Hour)
	if !errors.Is(err, tinyhead.ErrIngestBusy) || !errors.Is(err, tinyhead.ErrConflict) {
		t.Fatalf("second BeginIngest: error %v, want ErrIngestBusy", err)
	}
	if in.Status != tinyhead.IngestRunning || in.Attempts != 1 {
		t.Errorf("busy BeginIngest returned %+v, want the running record, 1 attempt", in)
	}
	if err := s.RenewIngest(ctx, src, v.ETag, first.Attempts, time.Hour); err != nil {
		t.Errorf("RenewIngest by the holder: %v", err)
	}
	err = s.RenewIngest(ctx, src, v.ETag, first.Attempts+1, time.Hour)
	if !errors.Is(err, tinyhead.ErrConflict) || errors.Is(err, tinyhead.ErrSuperseded) {
		t.Errorf("RenewIngest by another attempt: error %v, want ErrConflict", err)
	}
	// The holder renews with no lease left (as if it then crashed): the
	// next delivery takes over.
	if err := s.RenewIngest(ctx, src, v.ETag, first.Attempts, 0); err != nil {
		t.Fatalf("RenewIngest: %v", err)
	}
	second := begin(t, s, v)
	if second.Status != tinyhead.IngestRunning || second.Attempts != 2 {
		t.Errorf("BeginIngest after the lease expired = %+v, want running, attempt 2", second)
	}
	err = s.RenewIngest(ctx, src, v.ETag, first.Attempts, time.Hour)
	if !errors.Is(err, tinyhead.ErrConflict) {
		t.Errorf("RenewIngest by the attempt taken over: error %v, want ErrConflict", err)
	}
	second.Status = tinyhead.IngestDone
	finishIngest(t, s, second)
	err = s.RenewIngest(ctx, src, v.ETag, second.Attempts, time.Hour)
	if !errors.Is(err, tinyhead.ErrConflict) {
		t.Errorf("RenewIngest of a done version: error %v, want ErrConflict", err)
	}
	if again := begin(t, s, v); again.Status != tinyhead.IngestDone || again.Attempts != 3 {
		t.Errorf("re-delivery of a done version = %+v, want done, 3 attempts", again)
	}
	wantNotFound(t, "RenewIngest of a version never begun", s.RenewIngest(ctx, src, "e9", 1, time.Hour))
}

// testConcurrentVersions runs whole ingests of several versions of one
// source at once (begin, batches, prune, finish), each stopping when it is
// superseded: the source ends holding exactly the newest version's rows,
// and no record is left running.
func testConcurrentVersions(t *testing.T, s tinyhead.Store) {
	const src, versions, batches, rows = "incoming/concurrent.csv", 4, 3, 20
	ctx := t.Context()
	etag := func(v int) string { return "0x" + itoa(v) }
	err := together(versions, func(v int) error {
		in, err := s.BeginIngest(ctx, version(src, etag(v), v), time.Hour)
		if err != nil || in.Status != tinyhead.IngestRunning {
			return err
		}
		// Version v has rows v … v+batches*rows-1, so each overlaps the others.
		finish := func(status tinyhead.IngestStatus) error {
			in.Status = status
			return s.FinishIngest(ctx, in)
		}
		for b := range batches {
			var docs []tinyhead.Document
			for r := range rows {
				i := v + b*rows + r
				docs = append(docs, doc(src, itoa(i), etag(v), "v"+itoa(v)+" row "+itoa(i),
					map[string]string{"v" + itoa(v): "x"}))
			}
			if err := s.PutDocuments(ctx, docs); errors.Is(err, tinyhead.ErrSuperseded) {
				return finish(tinyhead.IngestSuperseded)
			} else if err != nil {
				return err
			}
		}
		if _, err := s.PruneSource(ctx, src, etag(v)); errors.Is(err, tinyhead.ErrSuperseded) {
			return finish(tinyhead.IngestSuperseded)
		} else if err != nil {
			return err
		}
		return finish(tinyhead.IngestDone)
	})
	if err != nil {
		t.Fatalf("concurrent ingests: %v", err)
	}
	newest := versions - 1
	var all []string
	for i := range versions + batches*rows {
		all = append(all, itoa(i))
	}
	got := items(t, s, src, all...)
	if len(got) != batches*rows {
		t.Errorf("%d rows stored, want the newest version's %d", len(got), batches*rows)
	}
	for id, v := range got {
		if v != etag(newest) {
			t.Errorf("row %s of version %s, want %s", id, v, etag(newest))
		}
	}
	st := stats(t, s)
	if len(st.Labels) != 1 || st.Labels["v"+itoa(newest)]["x"] != batches*rows {
		t.Errorf("labels %v, want only the newest version's", st.Labels)
	}
	for v := range versions {
		in := getIngest(t, s, src, etag(v))
		if v == newest && in.Status != tinyhead.IngestDone || v < newest && in.Status == tinyhead.IngestRunning {
			t.Errorf("version %d: %+v", v, in)
		}
	}
}
