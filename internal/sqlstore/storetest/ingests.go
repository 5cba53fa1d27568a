package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// beginIngest begins an attempt without a lease (it expires at once), so
// that every call is an attempt of its own, as after a crash. The version
// is modified modifiedOf(etag).
func beginIngest(t *testing.T, s tinyhead.Store, source, etag string) tinyhead.Ingest {
	t.Helper()
	in, err := s.BeginIngest(t.Context(), tinyhead.BlobVersion{Source: source, ETag: etag, Modified: modifiedOf(etag)}, 0)
	if err != nil {
		t.Fatalf("BeginIngest(%q, %q): %v", source, etag, err)
	}
	return in
}

func finishIngest(t *testing.T, s tinyhead.Store, in tinyhead.Ingest) {
	t.Helper()
	if err := s.FinishIngest(t.Context(), in); err != nil {
		t.Fatalf("FinishIngest(%+v): %v", in, err)
	}
}

func getIngest(t *testing.T, s tinyhead.Store, source, etag string) tinyhead.Ingest {
	t.Helper()
	in, err := s.GetIngest(t.Context(), source, etag)
	if err != nil {
		t.Fatalf("GetIngest(%q, %q): %v", source, etag, err)
	}
	return in
}

// modifiedOf is a LastModified for etag, later for "e2" than for "e1".
func modifiedOf(etag string) time.Time {
	sec := 0
	for _, c := range []byte(etag) {
		sec += int(c)
	}
	return t0.Add(time.Duration(sec) * time.Second)
}

// sameIngest compares everything but the time stamps of the attempt.
func sameIngest(a, b tinyhead.Ingest) bool {
	a.StartedAt, a.UpdatedAt, b.StartedAt, b.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	a.LeaseUntil, b.LeaseUntil = time.Time{}, time.Time{}
	return a.Modified.Equal(b.Modified) && a.Source == b.Source && a.ETag == b.ETag && a.Status == b.Status &&
		a.RowsOK == b.RowsOK && a.RowsRejected == b.RowsRejected && a.Error == b.Error && a.Attempts == b.Attempts
}

func testIngestLifecycle(t *testing.T, s tinyhead.Store) {
	const src = "incoming/life.csv"
	ctx := t.Context()
	_, err := s.GetIngest(ctx, src, "e1")
	wantNotFound(t, "GetIngest before BeginIngest", err)

	before := time.Now()
	in := beginIngest(t, s, src, "e1")
	after := time.Now()
	want := tinyhead.Ingest{Source: src, ETag: "e1", Status: tinyhead.IngestRunning, Attempts: 1, Modified: modifiedOf("e1")}
	if !sameIngest(in, want) {
		t.Errorf("first BeginIngest = %+v, want %+v", in, want)
	}
	checkRecent(t, "StartedAt", in.StartedAt, before, after)
	checkRecent(t, "UpdatedAt", in.UpdatedAt, before, after)
	if got := getIngest(t, s, src, "e1"); !sameIngest(got, in) {
		t.Errorf("GetIngest = %+v, want %+v", got, in)
	}

	in.Status, in.RowsOK, in.RowsRejected, in.Error = tinyhead.IngestDone, 10, 2, "row 3: missing text; row 7: invalid UTF-8"
	finishIngest(t, s, in)
	done := getIngest(t, s, src, "e1")
	if !sameIngest(done, in) {
		t.Errorf("after FinishIngest: %+v, want %+v", done, in)
	}
	if done.UpdatedAt.Before(done.StartedAt) {
		t.Errorf("UpdatedAt %v before StartedAt %v", done.UpdatedAt, done.StartedAt)
	}

	// A re-delivery sees the version is done; only attempts change.
	again := beginIngest(t, s, src, "e1")
	want = in
	want.Attempts = 2
	if !sameIngest(again, want) {
		t.Errorf("BeginIngest of a done version = %+v, want %+v", again, want)
	}
	if !again.StartedAt.Equal(done.StartedAt) {
		t.Errorf("BeginIngest of a done version moved StartedAt from %v to %v", done.StartedAt, again.StartedAt)
	}

	// A failed version stays failed, with its reason.
	f := beginIngest(t, s, src, "e2")
	f.Status, f.Error = tinyhead.IngestFailed, "no text column"
	finishIngest(t, s, f)
	f2 := beginIngest(t, s, src, "e2")
	f.Attempts = 2
	if !sameIngest(f2, f) {
		t.Errorf("BeginIngest of a failed version = %+v, want %+v", f2, f)
	}

	// An attempt that never finished (a crash) counts up and stays running.
	beginIngest(t, s, src, "e3")
	r := beginIngest(t, s, src, "e3")
	want = tinyhead.Ingest{Source: src, ETag: "e3", Status: tinyhead.IngestRunning, Attempts: 2, Modified: modifiedOf("e3")}
	if !sameIngest(r, want) {
		t.Errorf("second BeginIngest of a running version = %+v, want %+v", r, want)
	}

	// Versions of one source, and sources, are separate records.
	if got := getIngest(t, s, src, "e1"); got.Attempts != 2 || got.Status != tinyhead.IngestDone {
		t.Errorf("e1 changed to %+v", got)
	}
	if o := beginIngest(t, s, "incoming/other.csv", "e1"); o.Attempts != 1 {
		t.Errorf("other source: attempts %d, want 1", o.Attempts)
	}

	err = s.FinishIngest(ctx, tinyhead.Ingest{Source: src, ETag: "never-begun", Status: tinyhead.IngestDone})
	wantNotFound(t, "FinishIngest of a version never begun", err)
}

// testConcurrentBeginIngest delivers one blob version to several
// invocations at once: one row results, one of them gets the lease and the
// others are told the version is busy, without counting an attempt.
func testConcurrentBeginIngest(t *testing.T, s tinyhead.Store) {
	const src, etag, workers = "incoming/race.jsonl", "0x8DC", 8
	var (
		mu           sync.Mutex
		leased, busy int
	)
	err := together(workers, func(int) error {
		in, err := s.BeginIngest(t.Context(), tinyhead.BlobVersion{Source: src, ETag: etag}, time.Hour)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case errors.Is(err, tinyhead.ErrIngestBusy):
			busy++
			if !errors.Is(err, tinyhead.ErrConflict) || in.Status != tinyhead.IngestRunning || in.Attempts != 1 {
				return fmt.Errorf("busy: %+v, %v; want the running record and an ErrConflict", in, err)
			}
		case err != nil:
			return err
		default:
			leased++
		}
		return nil
	})
	if err != nil {
		t.Fatalf("concurrent BeginIngest: %v", err)
	}
	if leased != 1 || busy != workers-1 {
		t.Errorf("%d attempts got the lease, %d were busy; want 1 and %d", leased, busy, workers-1)
	}
	if in := getIngest(t, s, src, etag); in.Attempts != 1 || in.Status != tinyhead.IngestRunning {
		t.Errorf("GetIngest = %+v, want running with 1 attempt", in)
	}
}
