package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// The SQL Server dialect orders concurrent writers with locking hints
// (UPDLOCK, HOLDLOCK), and retries deadlocks and lost insert races. These
// tests check what that is for — every call succeeds, no key is stored
// twice, no label is lost or doubled — without assuming how the engine
// gets there: Babelfish, for one, ignores the hints, so there the races
// end in duplicate-key errors and deadlocks that the retries must cure.

// together runs n calls of fn at once (as far as the scheduler allows) and
// returns their errors joined.
func together(n int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		start = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			err := fn(i)
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return errors.Join(errs...)
}

// testConcurrentPutOverlapping has writers whose batches overlap in part
// and list the shared rows in different orders, new and existing rows
// mixed: each row ends up stored once, with one label per task.
func testConcurrentPutOverlapping(t *testing.T, s tinyhead.Store) {
	const src, workers, rows, step = "incoming/overlap.csv", 6, 60, 20
	want := (workers-1)*step + rows // items 0 … want-1
	// Every other row exists before the race.
	var first []tinyhead.Document
	for i := 0; i < want; i += 2 {
		first = append(first, doc(src, itoa(i), "v0", "text "+itoa(i), map[string]string{"old": "x"}))
	}
	put(t, s, first...)
	err := together(workers, func(w int) error {
		var docs []tinyhead.Document
		for i := w * step; i < w*step+rows; i++ {
			docs = append(docs, doc(src, itoa(i), "v"+itoa(w), "text "+itoa(i),
				map[string]string{"worker": itoa(w), "old": ""}))
		}
		if w%2 == 1 {
			slices.Reverse(docs)
		}
		return s.PutDocuments(t.Context(), docs)
	})
	if err != nil {
		t.Fatalf("concurrent PutDocuments: %v", err)
	}
	st := stats(t, s)
	if st.Documents != want {
		t.Errorf("%d documents, want %d", st.Documents, want)
	}
	total := 0
	for _, n := range st.Labels["worker"] {
		total += n
	}
	if total != want || len(st.Labels["old"]) != 0 {
		t.Errorf("labels %v: want one label of task worker on each of %d documents, none of task old", st.Labels, want)
	}
	// Each row holds what one writer wrote: its version and its label.
	for i := range want {
		d := get(t, s, src, itoa(i))
		if d.SourceVersion != "v"+d.Labels["worker"] {
			t.Errorf("item %d: version %s with label worker=%s: two writers mixed", i, d.SourceVersion, d.Labels["worker"])
		}
	}
}

// testConcurrentSetLabel sets one label of one document from several
// writers at once, on a document that has no label for the task yet: one
// of the values wins, and it is stored once.
func testConcurrentSetLabel(t *testing.T, s tinyhead.Store) {
	const src, workers = "incoming/setlabel-race.csv", 8
	put(t, s, doc(src, "1", "v1", "text", nil))
	err := together(workers, func(w int) error {
		return s.SetLabel(t.Context(), src, "1", "task", "label "+itoa(w))
	})
	if err != nil {
		t.Fatalf("concurrent SetLabel: %v", err)
	}
	d := get(t, s, src, "1")
	if len(d.Labels) != 1 {
		t.Errorf("labels %v, want one", d.Labels)
	}
	if st := stats(t, s); len(st.Labels["task"]) != 1 {
		t.Errorf("label counts %v, want a single label", st.Labels)
	}
}

// testConcurrentBeginIngestVersions begins ingests of several versions of
// several files at once, each version from several callers: per file, the
// newest version holds the claim and the lease of one attempt, and every
// older one is superseded, whatever the order of the calls.
func testConcurrentBeginIngestVersions(t *testing.T, s tinyhead.Store) {
	const files, versions, callers = 3, 3, 4
	base := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	err := together(files*versions*callers, func(i int) error {
		f, v := i%files, (i/files)%versions
		_, err := s.BeginIngest(t.Context(), tinyhead.BlobVersion{Source: "incoming/f" + itoa(f) + ".csv",
			ETag: "e" + itoa(v), Modified: base.Add(time.Duration(v) * time.Second)}, time.Hour)
		if errors.Is(err, tinyhead.ErrIngestBusy) {
			return nil
		}
		return err
	})
	if err != nil {
		t.Fatalf("concurrent BeginIngest: %v", err)
	}
	for f := range files {
		for v := range versions {
			in := getIngest(t, s, "incoming/f"+itoa(f)+".csv", "e"+itoa(v))
			switch {
			case v == versions-1 && (in.Status != tinyhead.IngestRunning || in.Attempts != 1):
				t.Errorf("file %d, newest version: %+v, want running with 1 attempt", f, in)
			case v < versions-1 && in.Status != tinyhead.IngestSuperseded:
				t.Errorf("file %d version %d: %+v, want superseded", f, v, in)
			}
		}
	}
}
