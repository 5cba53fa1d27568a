// Package ingesttest holds what the tests of concurrent blob deliveries
// share, in package ingest and over HTTP in package app: gates in front of
// the store that hold a delivery before each of its writes, so that a
// schedule, not timing, orders two deliveries; every interleaving of two
// schedules; and an opener that says a blob version was modified a second
// later than storage says.
package ingesttest

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/ingest"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// A Gate holds a delivery's store writes: the store reports each write
// it is about to make and waits until the scheduler lets it go.
type Gate struct {
	at      chan string
	release chan struct{}
}

// NewGate returns a closed gate.
func NewGate() *Gate {
	return &Gate{at: make(chan string), release: make(chan struct{})}
}

// stop reports op to the scheduler and waits to be let through.
func (g *Gate) stop(ctx context.Context, op string) error {
	select {
	case g.at <- op:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Gates gives each blob version (by ETag) a gate of its own, so that two
// deliveries through one store are told apart.
type Gates struct {
	mu sync.Mutex
	by map[string]*Gate
}

// Of returns the gate of the version etag, made on first use.
func (g *Gates) Of(etag string) *Gate {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.by == nil {
		g.by = map[string]*Gate{}
	}
	x := g.by[etag]
	if x == nil {
		x = NewGate()
		g.by[etag] = x
	}
	return x
}

// GatedStore stops before each write-side call (BeginIngest, PutDocuments,
// PruneSource, FinishIngest) at the gate of the blob version the call
// works on.
type GatedStore struct {
	ingest.Store
	gateOf func(etag string) *Gate
}

// NewGatedStore puts gates in front of s; gateOf picks the gate of a call
// by the version's ETag (a store of one delivery can ignore it).
func NewGatedStore(s ingest.Store, gateOf func(etag string) *Gate) *GatedStore {
	return &GatedStore{Store: s, gateOf: gateOf}
}

func (g *GatedStore) BeginIngest(ctx context.Context, v tinyhead.BlobVersion, lease time.Duration) (tinyhead.Ingest, error) {
	if err := g.gateOf(v.ETag).stop(ctx, "BeginIngest"); err != nil {
		return tinyhead.Ingest{}, err
	}
	return g.Store.BeginIngest(ctx, v, lease)
}

func (g *GatedStore) PutDocuments(ctx context.Context, docs []tinyhead.Document) error {
	if err := g.gateOf(docs[0].SourceVersion).stop(ctx, "PutDocuments"); err != nil {
		return err
	}
	return g.Store.PutDocuments(ctx, docs)
}

func (g *GatedStore) PruneSource(ctx context.Context, source, keep string) (int, error) {
	if err := g.gateOf(keep).stop(ctx, "PruneSource"); err != nil {
		return 0, err
	}
	return g.Store.PruneSource(ctx, source, keep)
}

func (g *GatedStore) FinishIngest(ctx context.Context, in tinyhead.Ingest) error {
	if err := g.gateOf(in.ETag).stop(ctx, "FinishIngest"); err != nil {
		return err
	}
	return g.Store.FinishIngest(ctx, in)
}

// Delivery is one delivery in flight, stepped through its gate by a
// scheduler. Whoever runs it closes Done when it has returned.
type Delivery struct {
	Name string
	Gate *Gate
	// Next is the store call it waits to make; "" once it has returned.
	Next string
	Done chan struct{}
}

// NewDelivery returns a delivery named name that stops at gate.
func NewDelivery(name string, gate *Gate) *Delivery {
	return &Delivery{Name: name, Gate: gate, Done: make(chan struct{})}
}

// Wait waits until d stops at its next gate or returns.
func (d *Delivery) Wait(t *testing.T) {
	t.Helper()
	select {
	case d.Next = <-d.Gate.at:
	case <-d.Done:
		d.Next = ""
	case <-t.Context().Done():
		t.Fatalf("%s: the test ended while waiting for it", d.Name)
	}
}

// Step lets d make the call it waits at, and waits for the next stop. It
// reports what was done ("A.PutDocuments"), for the test's log; "" when d
// has returned.
func (d *Delivery) Step(t *testing.T) string {
	t.Helper()
	if d.Next == "" {
		return ""
	}
	op := d.Next
	d.Gate.release <- struct{}{}
	d.Wait(t)
	return d.Name + "." + op
}

// Interleavings lists every order of na steps of "A" and nb of "B".
func Interleavings(na, nb int) []string {
	switch {
	case na == 0:
		return []string{strings.Repeat("B", nb)}
	case nb == 0:
		return []string{strings.Repeat("A", na)}
	}
	var out []string
	for _, s := range Interleavings(na-1, nb) {
		out = append(out, "A"+s)
	}
	for _, s := range Interleavings(na, nb-1) {
		out = append(out, "B"+s)
	}
	return out
}

// ShiftedOpener says that the blob version whose ETag is *Later (none
// while Later is nil or empty) was modified a second later than storage
// says: Azurite's LastModified has whole seconds, so two quick uploads
// share one, and this plays the "a second apart" case. With ReadWhole it
// reads a blob whole when it is opened, as one GET of a small blob
// delivers it: the delivery keeps reading the version it opened after a
// newer one is uploaded.
type ShiftedOpener struct {
	ingest.Opener
	Later     *string
	ReadWhole bool
}

func (o ShiftedOpener) Open(ctx context.Context, container, name string) (io.ReadCloser, blobstore.Props, error) {
	r, p, err := o.Opener.Open(ctx, container, name)
	if err != nil || !o.ReadWhole {
		return r, o.shift(p), err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	return io.NopCloser(bytes.NewReader(data)), o.shift(p), err
}

func (o ShiftedOpener) Props(ctx context.Context, container, name string) (blobstore.Props, error) {
	p, err := o.Opener.Props(ctx, container, name)
	return o.shift(p), err
}

func (o ShiftedOpener) shift(p blobstore.Props) blobstore.Props {
	if o.Later != nil && *o.Later != "" && p.ETag == *o.Later {
		p.LastModified = p.LastModified.Add(time.Second)
	}
	return p
}
