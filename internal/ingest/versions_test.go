package ingest_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/ingest"
	"github.com/tinyhead/tinyhead/internal/ingest/ingesttest"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// These tests play two deliveries of one blob at once, each its own
// Pipeline over the same store and blob storage (as two invocations on two
// instances are), and order their store calls with gates: a schedule, not
// sleeps, decides who goes first.

// delivery is one invocation of the pipeline, run by a scheduler.
type delivery struct {
	*ingesttest.Delivery
	res ingest.Result
	err error
}

// start runs p.Ingest in a goroutine and waits until it stops at its
// first gate (after it has opened the blob, read whole). The blob's
// version whose ETag is *later says it was modified a second later than
// it was.
func (e *env) start(t *testing.T, name, blob string, later *string) *delivery {
	t.Helper()
	gate := ingesttest.NewGate()
	d := &delivery{Delivery: ingesttest.NewDelivery(name, gate)}
	p := *e.p
	p.Store = ingesttest.NewGatedStore(e.store, func(string) *ingesttest.Gate { return gate })
	p.Blobs = ingesttest.ShiftedOpener{Opener: e.blobs, Later: later, ReadWhole: true}
	go func() {
		defer close(d.Done)
		d.res, d.err = p.Ingest(e.ctx, container, blob)
	}()
	d.Wait(t)
	return d
}

// TestIngestVersionsInterleaved is issue 11's defect 1 and 2 on the fakes:
// v1 of a blob (4 rows, two batches, labelled for "idem" and "extra") is
// opened, then v2 (2 rows, labelled for "idem" only) is uploaded and
// opened, and the two deliveries' store calls run in every order, with v2
// modified in the same second as v1 (the tie is resolved by reading the
// blob's current version) or a second later. Each order must end with the
// store equal to v2, no "extra" labels, v2's record done and v1's record
// done (when it had pruned, so was complete, before v2 was claimed) or
// superseded, never running; both invocations succeed.
func TestIngestVersionsInterleaved(t *testing.T) {
	for _, mode := range []struct {
		name  string
		later bool
	}{{"same second", false}, {"a second later", true}} {
		t.Run(mode.name, func(t *testing.T) { testVersionsInterleaved(t, mode.later) })
	}
}

func testVersionsInterleaved(t *testing.T, later bool) {
	const blob = "race/data.jsonl"
	v1Content := `{"id": "a", "text": "v1 a", "labels": {"idem": "x", "extra": "e"}}
{"id": "b", "text": "v1 b", "labels": {"idem": "y", "extra": "e"}}
{"id": "c", "text": "v1 c", "labels": {"idem": "x", "extra": "e"}}
{"id": "d", "text": "v1 d", "labels": {"idem": "y", "extra": "e"}}
`
	v2Content := `{"id": "a", "text": "v2 a", "labels": {"idem": "y"}}
{"id": "b", "text": "v1 b", "labels": {"idem": "x"}}
`
	want := []row{{"a", "v2 a", map[string]string{"idem": "y"}}, {"b", "v1 b", map[string]string{"idem": "x"}}}
	// v1 makes at most 5 gated calls (begin, 2 batches, prune, finish),
	// v2 at most 5 (begin, again after a tie, a batch, prune, finish).
	for _, order := range ingesttest.Interleavings(5, 5) {
		t.Run(order, func(t *testing.T) {
			e := newEnv(t, 2)
			var laterETag *string
			if later {
				laterETag = new(string)
			}
			e1 := e.upload(blob, v1Content)
			a := e.start(t, "A", blob, laterETag) // opened v1
			e2 := e.upload(blob, v2Content)
			if later {
				*laterETag = e2
			}
			b := e.start(t, "B", blob, laterETag) // opened v2
			var log []string
			for _, who := range order + "AAAAABBBBB" { // then whoever is left runs to its end
				d := a
				if who == 'B' {
					d = b
				}
				if s := d.Step(t); s != "" {
					log = append(log, s)
				}
			}
			// v1 completed if it pruned before v2's (last) BeginIngest
			// claimed the blob.
			pruned, claimed := slices.Index(log, "A.PruneSource"), -1
			for i, s := range log {
				if s == "B.BeginIngest" {
					claimed = i
				}
			}
			v1Finished := pruned >= 0 && pruned < claimed
			if a.err != nil || b.err != nil {
				t.Fatalf("after %v: errors %v, %v; want both invocations to succeed", log, a.err, b.err)
			}
			e.checkRows(blob, e2, want...)
			st, err := e.store.Stats(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tasks := slices.Sorted(maps.Keys(st.Labels)); !slices.Equal(tasks, []string{"idem"}) {
				t.Errorf("after %v: tasks %v, want [idem]: v1's extra labels must go", log, tasks)
			}
			if rec := e.record(blob, e2); rec.Status != tinyhead.IngestDone || b.res.Status != tinyhead.IngestDone {
				t.Errorf("after %v: v2 record %+v, result %+v; want done", log, rec, b.res)
			}
			wantV1 := tinyhead.IngestSuperseded
			if v1Finished {
				wantV1 = tinyhead.IngestDone
			}
			if rec := e.record(blob, e1); rec.Status != wantV1 || a.res.Status != wantV1 {
				t.Errorf("after %v: v1 record %+v, result status %s; want %s", log, rec, a.res.Status, wantV1)
			}
		})
	}
}

// TestIngestSameVersionConcurrently is issue 11's "concurrent deliveries
// of the same version must not run the whole ingest twice": the second
// delivery finds the first at work, waits for it instead of embedding, and
// answers as a re-delivery once the first is done.
func TestIngestSameVersionConcurrently(t *testing.T) {
	const blob = "x.jsonl"
	e := newEnv(t, 2)
	e.p.BusyPoll = time.Millisecond
	etag := e.upload(blob, jsonl("a", "one", "b", "two", "c", "three"))
	a := e.start(t, "A", blob, nil)
	a.Step(t) // BeginIngest: A holds the lease
	if a.Next != "PutDocuments" {
		t.Fatalf("A waits at %q, want PutDocuments", a.Next)
	}

	// B asks for the version while A holds it: busy, so it polls. Its
	// store counts the polls; the second one shows it is waiting.
	polls := &pollingStore{Store: e.store, polled: make(chan struct{})}
	p := *e.p
	p.Store = polls
	var (
		bRes  ingest.Result
		bErr  error
		bDone = make(chan struct{})
	)
	go func() {
		defer close(bDone)
		bRes, bErr = p.Ingest(e.ctx, container, blob)
	}()
	select {
	case <-polls.polled:
	case <-bDone: // it did not wait: the test fails below
	}
	for a.Next != "" {
		a.Step(t)
	}
	<-bDone
	if a.err != nil || a.res.Status != tinyhead.IngestDone || a.res.Redelivery {
		t.Errorf("A: %+v, %v; want it done", a.res, a.err)
	}
	if bErr != nil || bRes.Status != tinyhead.IngestDone || !bRes.Redelivery || bRes.Embedded != 0 || bRes.RowsOK != 3 {
		t.Errorf("B: %+v, %v; want a re-delivery of the done version", bRes, bErr)
	}
	if got := e.emb.embedded(); len(got) != 3 {
		t.Errorf("embedded %q, want each text once", got)
	}
	if rec := e.record(blob, etag); rec.Status != tinyhead.IngestDone || rec.Attempts != 2 {
		t.Errorf("record %+v, want done, 2 attempts (A's, and B's re-delivery)", rec)
	}
	e.checkRows(blob, etag, row{"a", "one", nil}, row{"b", "two", nil}, row{"c", "three", nil})
}

// pollingStore closes polled once BeginIngest has answered busy twice.
type pollingStore struct {
	ingest.Store
	mu     sync.Mutex
	busy   int
	polled chan struct{}
}

func (s *pollingStore) BeginIngest(ctx context.Context, v tinyhead.BlobVersion, lease time.Duration) (tinyhead.Ingest, error) {
	in, err := s.Store.BeginIngest(ctx, v, lease)
	if errors.Is(err, tinyhead.ErrIngestBusy) {
		s.mu.Lock()
		if s.busy++; s.busy == 2 {
			close(s.polled)
		}
		s.mu.Unlock()
	}
	return in, err
}

// TestIngestBusyGivesUp: a delivery that waits longer than MaxWait for
// another attempt fails with a conflict, which the host retries.
func TestIngestBusyGivesUp(t *testing.T) {
	const blob = "x.jsonl"
	e := newEnv(t, 2)
	e.upload(blob, jsonl("a", "one"))
	a := e.start(t, "A", blob, nil)
	a.Step(t) // A holds the lease and waits at PutDocuments
	p := *e.p
	p.BusyPoll, p.MaxWait = time.Millisecond, 5*time.Millisecond
	_, err := p.Ingest(e.ctx, container, blob)
	if !errors.Is(err, tinyhead.ErrIngestBusy) || !errors.Is(err, tinyhead.ErrConflict) {
		t.Errorf("error %v, want ErrIngestBusy, an ErrConflict", err)
	}
	for a.Next != "" {
		a.Step(t)
	}
	if a.err != nil {
		t.Errorf("A: %v", a.err)
	}
}
