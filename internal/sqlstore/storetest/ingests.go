package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

func beginIngest(t *testing.T, s tinyhead.Store, source, etag string) tinyhead.Ingest {
	t.Helper()
	in, err := s.BeginIngest(t.Context(), source, etag)
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

// sameIngest compares everything but the time stamps.
func sameIngest(a, b tinyhead.Ingest) bool {
	a.StartedAt, a.UpdatedAt, b.StartedAt, b.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return a == b
}

func testIngestLifecycle(t *testing.T, s tinyhead.Store) {
	const src = "incoming/life.csv"
	ctx := t.Context()
	_, err := s.GetIngest(ctx, src, "e1")
	wantNotFound(t, "GetIngest before BeginIngest", err)

	before := time.Now()
	in := beginIngest(t, s, src, "e1")
	after := time.Now()
	want := tinyhead.Ingest{Source: src, ETag: "e1", Status: tinyhead.IngestRunning, Attempts: 1}
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
	want = tinyhead.Ingest{Source: src, ETag: "e3", Status: tinyhead.IngestRunning, Attempts: 2}
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
// invocations at once: one row results, every attempt is counted once.
func testConcurrentBeginIngest(t *testing.T, s tinyhead.Store) {
	const src, etag, workers = "incoming/race.jsonl", "0x8DC", 8
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		attempts []int
		errs     []error
	)
	start := make(chan struct{})
	for range workers {
		wg.Go(func() {
			<-start
			in, err := s.BeginIngest(t.Context(), src, etag)
			mu.Lock()
			defer mu.Unlock()
			attempts = append(attempts, in.Attempts)
			errs = append(errs, err)
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent BeginIngest: %v", err)
	}
	slices.Sort(attempts)
	want := []int{1, 2, 3, 4, 5, 6, 7, 8}
	if !slices.Equal(attempts, want) {
		t.Errorf("attempts seen %v, want %v", attempts, want)
	}
	if in := getIngest(t, s, src, etag); in.Attempts != workers || in.Status != tinyhead.IngestRunning {
		t.Errorf("GetIngest = %+v, want running with %d attempts", in, workers)
	}
}
