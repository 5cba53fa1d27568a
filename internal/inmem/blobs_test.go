package inmem

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/blobstore/blobtest"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

func TestBlobsConformance(t *testing.T) {
	blobtest.Run(t, func(*testing.T) blobtest.Blobs { return NewBlobs() })
}

// TestBlobsFault checks that every operation calls Fault with its name and
// blob, fails with its error, and changes nothing.
func TestBlobsFault(t *testing.T) {
	ctx := t.Context()
	transient := tinyhead.Errorf(tinyhead.ErrUnavailable, "storage throttled")
	tests := []struct {
		op, container, name string
		call                func(b *Blobs, l func() error) error
	}{
		{"EnsureContainer", "other", "", func(b *Blobs, _ func() error) error { return b.EnsureContainer(ctx, "other") }},
		{"UploadBytes", "box", "a.txt", func(b *Blobs, _ func() error) error {
			_, err := b.UploadBytes(ctx, "box", "a.txt", []byte("new"), "")
			return err
		}},
		{"UploadIf", "box", "b.txt", func(b *Blobs, _ func() error) error {
			_, err := b.UploadIf(ctx, "box", "b.txt", []byte("new"), "", "")
			return err
		}},
		{"Download", "box", "a.txt", func(b *Blobs, _ func() error) error { _, err := b.Download(ctx, "box", "a.txt"); return err }},
		{"Props", "box", "a.txt", func(b *Blobs, _ func() error) error { _, err := b.Props(ctx, "box", "a.txt"); return err }},
		{"Open", "box", "a.txt", func(b *Blobs, _ func() error) error { _, _, err := b.Open(ctx, "box", "a.txt"); return err }},
		{"OpenETag", "box", "a.txt", func(b *Blobs, _ func() error) error {
			_, _, err := b.OpenETag(ctx, "box", "a.txt", "x")
			return err
		}},
		{"List", "box", "a", func(b *Blobs, _ func() error) error {
			return b.List(ctx, "box", "a", func(blobstore.Item) error { return errors.New("fn called") })
		}},
		{"AcquireLease", "box", "c.lock", func(b *Blobs, _ func() error) error {
			_, err := b.AcquireLease(ctx, "box", "c.lock", 15*time.Second)
			return err
		}},
		{"Renew", "box", "held.lock", func(_ *Blobs, renew func() error) error { return renew() }},
		{"Release", "box", "held.lock", func(_ *Blobs, release func() error) error { return release() }},
		{"Delete", "box", "a.txt", func(b *Blobs, _ func() error) error { return b.Delete(ctx, "box", "a.txt") }},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			b := NewBlobs("box")
			etag, err := b.UploadBytes(ctx, "box", "a.txt", []byte("old"), "")
			if err != nil {
				t.Fatal(err)
			}
			l, err := b.AcquireLease(ctx, "box", "held.lock", 15*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			leaseOp := l.Renew
			if tt.op == "Release" {
				leaseOp = l.Release
			}
			var seen [][3]string
			b.SetFault(func(op, container, name string) error {
				seen = append(seen, [3]string{op, container, name})
				if op == tt.op {
					return transient
				}
				return nil
			})
			err = tt.call(b, func() error { return leaseOp(ctx) })
			if !errors.Is(err, transient) || !errors.Is(err, tinyhead.ErrUnavailable) {
				t.Errorf("error %v, want the fault's", err)
			}
			if want := [3]string{tt.op, tt.container, tt.name}; len(seen) != 1 || seen[0] != want {
				t.Errorf("Fault saw %q, want [%q]", seen, want)
			}
			b.SetFault(nil)
			// Nothing changed.
			if p, err := b.Props(ctx, "box", "a.txt"); err != nil || p.ETag != etag {
				t.Errorf("a.txt: %+v, %v; want it unchanged", p, err)
			}
			for _, name := range []string{"b.txt", "c.lock"} {
				if _, err := b.Props(ctx, "box", name); !errors.Is(err, tinyhead.ErrNotFound) {
					t.Errorf("%s: error %v, want it never written", name, err)
				}
			}
			if err := b.List(ctx, "other", "", func(blobstore.Item) error { return nil }); !errors.Is(err, tinyhead.ErrNotFound) {
				t.Errorf("container other: error %v, want it never created", err)
			}
			if _, err := b.AcquireLease(ctx, "box", "held.lock", 15*time.Second); !errors.Is(err, tinyhead.ErrConflict) {
				t.Errorf("held.lock: AcquireLease error %v, want the lease still held", err)
			}
		})
	}
}

// TestBlobsReadFault fails a read part way, as a broken connection would.
func TestBlobsReadFault(t *testing.T) {
	b := NewBlobs("box")
	ctx := t.Context()
	if _, err := b.UploadBytes(ctx, "box", "f.csv", []byte("0123456789"), ""); err != nil {
		t.Fatal(err)
	}
	r, _, err := b.Open(ctx, "box", "f.csv")
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 4)
	if _, err := io.ReadFull(r, head); err != nil {
		t.Fatal(err)
	}
	b.SetFault(func(op, _, _ string) error {
		if op == "Read" {
			return tinyhead.Errorf(tinyhead.ErrUnavailable, "connection reset")
		}
		return nil
	})
	if _, err := r.Read(head); !errors.Is(err, tinyhead.ErrUnavailable) {
		t.Fatalf("Read error %v, want the fault's", err)
	}
	b.SetFault(nil)
	if _, err := r.Read(head); !errors.Is(err, tinyhead.ErrUnavailable) {
		t.Errorf("Read after a failed Read: %v, want the failure again", err)
	}
}

// TestBlobsPinnedRead checks the fake's side of what blobtest allows
// either way: a Read after the blob changed always fails.
func TestBlobsPinnedRead(t *testing.T) {
	b := NewBlobs("box")
	ctx := t.Context()
	v1 := bytes.Repeat([]byte("a"), 100)
	if _, err := b.UploadBytes(ctx, "box", "f", v1, ""); err != nil {
		t.Fatal(err)
	}
	r, _, err := b.Open(ctx, "box", "f")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(r, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.UploadBytes(ctx, "box", "f", []byte("b"), ""); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Read(make([]byte, 10)); n != 0 || !errors.Is(err, tinyhead.ErrConflict) {
		t.Errorf("Read after a replace = %d, %v; want 0 and a conflict", n, err)
	}
}

func TestExpireLeases(t *testing.T) {
	b := NewBlobs("box")
	ctx := t.Context()
	for _, ttl := range []time.Duration{60 * time.Second, -time.Second} {
		l, err := b.AcquireLease(ctx, "box", "t/.lock", ttl)
		if err != nil {
			t.Fatal(err)
		}
		b.ExpireLeases()
		// The holder may renew an expired lease nobody took…
		if err := l.Renew(ctx); err != nil {
			t.Fatalf("Renew of an expired lease nobody took: %v", err)
		}
		b.ExpireLeases()
		// …but once another holder took it, it is lost.
		l2, err := b.AcquireLease(ctx, "box", "t/.lock", 15*time.Second)
		if err != nil {
			t.Fatalf("AcquireLease after ExpireLeases: %v", err)
		}
		if err := l.Renew(ctx); err == nil || tinyhead.KindOf(err) != nil {
			t.Errorf("Renew of a lease taken over: %v, want an error of no kind", err)
		}
		if err := l2.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// An expired lease no longer keeps writers out.
	if _, err := b.AcquireLease(ctx, "box", "w", 15*time.Second); err != nil {
		t.Fatal(err)
	}
	b.ExpireLeases()
	if _, err := b.UploadBytes(ctx, "box", "w", []byte("x"), ""); err != nil {
		t.Errorf("UploadBytes after the lease expired: %v", err)
	}
}

func TestNewBlobsContainers(t *testing.T) {
	b := NewBlobs("models", "incoming")
	for _, c := range []string{"models", "incoming"} {
		if _, err := b.UploadBytes(context.Background(), c, "x", nil, ""); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("NewBlobs with an invalid container name did not panic")
		}
	}()
	NewBlobs("Bad_Name")
}
