// Package blobtest is a conformance suite for blob storage as tinyhead
// uses it: the real client (*blobstore.Client, run against Azurite by
// internal/blobstore's tests) and the in-memory fake (inmem.Blobs) pass
// the same tests, so a logic test run on the fake holds for the real
// storage. Run it from an implementation's tests:
//
//	func TestConformance(t *testing.T) {
//		blobtest.Run(t, func(t *testing.T) blobtest.Blobs { return newStorage(t) })
//	}
//
// It checks behaviour only: ETags, conditions, pinned reads, leases,
// listing order, and the error kind of every failure (tinyhead.ErrNotFound,
// tinyhead.ErrConflict). Each test works in containers of its own, made
// with EnsureContainer under unique names, so one storage account may
// serve every test. It is imported by tests only.
package blobtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/registry"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// Blobs is what the suite tests: the registry's blob storage, ingest's
// Open, and Delete and EnsureContainer.
type Blobs interface {
	registry.Blobs
	Open(ctx context.Context, container, name string) (io.ReadCloser, blobstore.Props, error)
	Delete(ctx context.Context, container, name string) error
	EnsureContainer(ctx context.Context, name string) error
}

// Run runs every conformance test. open returns the storage to test; it
// may return the same storage to every test.
func Run(t *testing.T, open func(t *testing.T) Blobs) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b Blobs)
	}{
		{"RoundTrip", testRoundTrip},
		{"Overwrite", testOverwrite},
		{"UploadIf", testUploadIf},
		{"UploadIfRace", testUploadIfRace},
		{"OpenETag", testOpenETag},
		{"PinnedRead", testPinnedRead},
		{"ReadEnd", testReadEnd},
		{"NotFound", testNotFound},
		{"List", testList},
		{"Delete", testDelete},
		{"Lease", testLease},
		{"LeaseDuration", testLeaseDuration},
		{"LeaseRace", testLeaseRace},
		{"Containers", testContainers},
		{"ContextCanceled", testContextCanceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

var containerSeq atomic.Int64

// containerName returns a container name no test has used in this process.
func containerName(t *testing.T) string {
	var slug strings.Builder
	for _, r := range strings.ToLower(t.Name()) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			slug.WriteRune(r)
		}
	}
	s := slug.String()
	if len(s) > 40 {
		s = s[len(s)-40:]
	}
	return fmt.Sprintf("bt%d-%s", containerSeq.Add(1), s)
}

// newContainer creates a container for the test.
func newContainer(t *testing.T, b Blobs) string {
	t.Helper()
	name := containerName(t)
	if err := b.EnsureContainer(t.Context(), name); err != nil {
		t.Fatalf("EnsureContainer(%s): %v", name, err)
	}
	return name
}

func upload(t *testing.T, b Blobs, container, name string, data []byte, contentType string) string {
	t.Helper()
	etag, err := b.UploadBytes(t.Context(), container, name, data, contentType)
	if err != nil {
		t.Fatalf("UploadBytes(%s/%s): %v", container, name, err)
	}
	if etag == "" {
		t.Fatalf("UploadBytes(%s/%s) returned no ETag", container, name)
	}
	return etag
}

func props(t *testing.T, b Blobs, container, name string) blobstore.Props {
	t.Helper()
	p, err := b.Props(t.Context(), container, name)
	if err != nil {
		t.Fatalf("Props(%s/%s): %v", container, name, err)
	}
	return p
}

func download(t *testing.T, b Blobs, container, name string) []byte {
	t.Helper()
	data, err := b.Download(t.Context(), container, name)
	if err != nil {
		t.Fatalf("Download(%s/%s): %v", container, name, err)
	}
	return data
}

// wantKind fails the test unless err is of kind.
func wantKind(t *testing.T, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Errorf("%s: error %v, want one of kind %q", what, err, kind)
	}
}

// unchanged checks that a blob still has the given content and ETag.
func unchanged(t *testing.T, b Blobs, container, name string, data []byte, etag string) {
	t.Helper()
	if p := props(t, b, container, name); p.ETag != etag {
		t.Errorf("%s: ETag %s, want it unchanged (%s)", name, p.ETag, etag)
	}
	if got := download(t, b, container, name); !bytes.Equal(got, data) {
		t.Errorf("%s: content %.40q, want it unchanged (%.40q)", name, got, data)
	}
}

// sameProps compares properties, times by the instant they name.
func sameProps(a, b blobstore.Props) bool {
	return a.ETag == b.ETag && a.Size == b.Size && a.ContentType == b.ContentType && a.LastModified.Equal(b.LastModified)
}

// pseudoRandom returns n deterministic bytes.
func pseudoRandom(seed uint64, n int) []byte {
	out := make([]byte, n)
	x := seed*0x9E3779B97F4A7C15 + 1
	for i := range out {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		out[i] = byte(x >> 32)
	}
	return out
}

func testRoundTrip(t *testing.T, b Blobs) {
	c := newContainer(t, b)
	tests := []struct {
		name, blob, contentType string
		data                    []byte
	}{
		{"text", "a/b.txt", "text/plain; charset=utf-8", []byte("hello, world\n")},
		{"binary", "spam/3/model.onnx", "application/octet-stream", bytes.Repeat([]byte{0, 1, 2, 255}, 1000)},
		{"empty", "empty.txt", "", nil},
		{"no content type", "x.bin", "", []byte{1}},
		{"odd name", "spam/ham/a b+c%d é.eml", "message/rfc822", []byte("Subject: hi\n\nbody")},
		// More than one of the real reader's 8 MiB ranges.
		{"large", "big.bin", "", pseudoRandom(1, 9<<20+17)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			etag := upload(t, b, c, tt.blob, tt.data, tt.contentType)
			wantType := tt.contentType
			if wantType == "" {
				wantType = "application/octet-stream" // what the service stores
			}
			p := props(t, b, c, tt.blob)
			if p.ETag != etag || p.Size != int64(len(tt.data)) || p.LastModified.IsZero() || p.ContentType != wantType {
				t.Errorf("Props = %+v, want ETag %s, size %d, a modification time, content type %q", p, etag, len(tt.data), wantType)
			}
			if got := download(t, b, c, tt.blob); !bytes.Equal(got, tt.data) {
				t.Errorf("Download: %d bytes that differ from the %d uploaded", len(got), len(tt.data))
			}
			for _, opener := range []struct {
				name string
				open func() (io.ReadCloser, blobstore.Props, error)
			}{
				{"Open", func() (io.ReadCloser, blobstore.Props, error) { return b.Open(ctx, c, tt.blob) }},
				{"OpenETag", func() (io.ReadCloser, blobstore.Props, error) { return b.OpenETag(ctx, c, tt.blob, etag) }},
			} {
				r, op, err := opener.open()
				if err != nil {
					t.Fatalf("%s: %v", opener.name, err)
				}
				got, err := io.ReadAll(r)
				r.Close()
				if err != nil || !bytes.Equal(got, tt.data) {
					t.Errorf("%s: read %d bytes, error %v; want the %d uploaded", opener.name, len(got), err, len(tt.data))
				}
				if !sameProps(op, p) {
					t.Errorf("%s: props %+v, want %+v", opener.name, op, p)
				}
			}
		})
	}
}

func testOverwrite(t *testing.T, b Blobs) {
	c := newContainer(t, b)
	e1 := upload(t, b, c, "doc.txt", []byte("one"), "text/plain")
	e2 := upload(t, b, c, "doc.txt", []byte("one"), "text/plain")
	if e2 == e1 {
		t.Errorf("rewriting the same content kept ETag %s: every write makes a new version", e1)
	}
	e3 := upload(t, b, c, "doc.txt", []byte("two, longer"), "application/json")
	if e3 == e2 || e3 == e1 {
		t.Errorf("ETags %s, %s, %s: want each write's different", e1, e2, e3)
	}
	p := props(t, b, c, "doc.txt")
	if p.ETag != e3 || p.Size != int64(len("two, longer")) || p.ContentType != "application/json" {
		t.Errorf("Props after overwrite = %+v, want the last version's", p)
	}
	if got := download(t, b, c, "doc.txt"); string(got) != "two, longer" {
		t.Errorf("Download after overwrite = %q", got)
	}
	// Another blob is another blob.
	upload(t, b, c, "other.txt", []byte("x"), "")
	if got := download(t, b, c, "doc.txt"); string(got) != "two, longer" {
		t.Errorf("writing another blob changed this one: %q", got)
	}
}

func testUploadIf(t *testing.T, b Blobs) {
	c := newContainer(t, b)
	ctx := t.Context()
	const name = "task/current.json"
	e1, err := b.UploadIf(ctx, c, name, []byte(`{"v":1}`), "application/json", "")
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if p := props(t, b, c, name); p.ETag != e1 || p.ContentType != "application/json" {
		t.Errorf("after create: Props = %+v, want ETag %s and the content type", p, e1)
	}
	_, err = b.UploadIf(ctx, c, name, []byte(`{"v":9}`), "", "")
	wantKind(t, "create over an existing blob", err, tinyhead.ErrConflict)
	unchanged(t, b, c, name, []byte(`{"v":1}`), e1)

	e2, err := b.UploadIf(ctx, c, name, []byte(`{"v":2}`), "", e1)
	if err != nil {
		t.Fatalf("replace with the current ETag: %v", err)
	}
	if e2 == e1 {
		t.Errorf("conditional replace kept ETag %s", e1)
	}
	_, err = b.UploadIf(ctx, c, name, []byte(`{"v":3}`), "", e1)
	wantKind(t, "replace with a stale ETag", err, tinyhead.ErrConflict)
	unchanged(t, b, c, name, []byte(`{"v":2}`), e2)

	e3, err := b.UploadIf(ctx, c, name, []byte(`{"v":4}`), "", "*")
	if err != nil {
		t.Fatalf(`replace with ifMatch "*": %v`, err)
	}
	unchanged(t, b, c, name, []byte(`{"v":4}`), e3)

	// A condition on a version fails when there is no blob at all.
	for _, ifMatch := range []string{"*", e1, e3} {
		_, err = b.UploadIf(ctx, c, "missing.json", []byte("x"), "", ifMatch)
		wantKind(t, fmt.Sprintf("UploadIf(ifMatch %s) of a missing blob", ifMatch), err, tinyhead.ErrConflict)
	}
	_, err = b.Props(ctx, c, "missing.json")
	wantKind(t, "Props after failed conditional uploads", err, tinyhead.ErrNotFound)
}

// testUploadIfRace has writers race with the same condition: exactly one
// wins, the others get a conflict.
func testUploadIfRace(t *testing.T, b Blobs) {
	c := newContainer(t, b)
	base := upload(t, b, c, "cur.json", []byte("base"), "")
	for _, tc := range []struct{ name, blob, ifMatch string }{
		{"If-Match", "cur.json", base},
		{"create", "new.json", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const writers = 8
			var (
				wg     sync.WaitGroup
				mu     sync.Mutex
				wins   []string
				others []error
			)
			start := make(chan struct{})
			for i := range writers {
				wg.Go(func() {
					<-start
					data := fmt.Appendf(nil, "writer %d", i)
					_, err := b.UploadIf(t.Context(), c, tc.blob, data, "", tc.ifMatch)
					mu.Lock()
					defer mu.Unlock()
					if err == nil {
						wins = append(wins, string(data))
					} else {
						others = append(others, err)
					}
				})
			}
			close(start)
			wg.Wait()
			if len(wins) != 1 {
				t.Fatalf("%d writers won (%q), want exactly 1", len(wins), wins)
			}
			for _, err := range others {
				wantKind(t, "a losing writer", err, tinyhead.ErrConflict)
			}
			if got := download(t, b, c, tc.blob); string(got) != wins[0] {
				t.Errorf("content %q, want the winner's %q", got, wins[0])
			}
		})
	}
}

func testOpenETag(t *testing.T, b Blobs) {
	c := newContainer(t, b)
	ctx := t.Context()
	e1 := upload(t, b, c, "v.txt", []byte("v1"), "text/plain")
	r, p, err := b.OpenETag(ctx, c, "v.txt", e1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(got) != "v1" || p.ETag != e1 {
		t.Errorf("OpenETag(current) read %q, %v, props %+v", got, err, p)
	}
	upload(t, b, c, "v.txt", []byte("v2"), "text/plain")
	_, _, err = b.OpenETag(ctx, c, "v.txt", e1)
	wantKind(t, "OpenETag of an old version", err, tinyhead.ErrConflict)
	_, _, err = b.OpenETag(ctx, c, "missing.txt", e1)
	wantKind(t, "OpenETag of a missing blob", err, tinyhead.ErrConflict)
	if _, _, err = b.OpenETag(ctx, c, "v.txt", ""); err == nil {
		t.Error(`OpenETag with ETag "" succeeded`)
	}
}

// testPinnedRead changes a blob while it is being read: the reader returns
// exactly the version it opened, or fails with a conflict after a prefix
// of it; it never returns bytes of another version.
func testPinnedRead(t *testing.T, b Blobs) {
	c := newContainer(t, b)
	sizes := []struct {
		name string
		size int
		head int // bytes read before the change
	}{
		{"small before reading", 10, 0},
		{"small after reading some", 10, 4},
		{"large before reading", 9<<20 + 5, 0},
		{"large after reading some", 9<<20 + 5, 1 << 20},
	}
	changes := []struct {
		name   string
		change func(ctx context.Context, name string) error
	}{
		{"replaced", func(ctx context.Context, name string) error {
			_, err := b.UploadBytes(ctx, c, name, pseudoRandom(99, 1<<20), "")
			return err
		}},
		{"deleted", func(ctx context.Context, name string) error { return b.Delete(ctx, c, name) }},
	}
	for i, sz := range sizes {
		for _, ch := range changes {
			t.Run(sz.name+" "+ch.name, func(t *testing.T) {
				ctx := t.Context()
				name := fmt.Sprintf("pinned-%d-%s.bin", i, ch.name)
				v1 := pseudoRandom(uint64(i+1), sz.size)
				upload(t, b, c, name, v1, "")
				r, _, err := b.Open(ctx, c, name)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				head := make([]byte, sz.head)
				if _, err := io.ReadFull(r, head); err != nil {
					t.Fatal(err)
				}
				if err := ch.change(ctx, name); err != nil {
					t.Fatal(err)
				}
				rest, err := io.ReadAll(r)
				got := append(head, rest...)
				switch {
				case err == nil:
					if !bytes.Equal(got, v1) {
						t.Fatalf("read %d bytes without error that are not the version opened", len(got))
					}
					t.Logf("read the whole version opened")
				case errors.Is(err, tinyhead.ErrConflict):
					if !bytes.HasPrefix(v1, got) {
						t.Fatalf("read %d bytes before the conflict that are not a prefix of the version opened", len(got))
					}
					if _, err2 := r.Read(make([]byte, 10)); err2 == nil {
						t.Error("a Read after the conflict succeeded")
					}
					t.Logf("conflict after %d bytes: %v", len(got), err)
				default:
					t.Fatalf("read %d bytes, error %v; want the version opened or a conflict", len(got), err)
				}
			})
		}
	}
}

func testReadEnd(t *testing.T, b Blobs) {
	c := newContainer(t, b)
	upload(t, b, c, "a.txt", []byte("abc"), "")
	upload(t, b, c, "empty.txt", nil, "")
	for _, name := range []string{"a.txt", "empty.txt"} {
		r, _, err := b.Open(t.Context(), c, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(r); err != nil {
			t.Fatal(err)
		}
		if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Errorf("%s: Read at the end = %d, %v; want 0, EOF", name, n, err)
		}
		r.Close()
	}
	r, _, err := b.Open(t.Context(), c, "a.txt")
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if n, err := r.Read(make([]byte, 1)); n != 0 || err == nil || err == io.EOF {
		t.Errorf("Read after Close = %d, %v; want an error", n, err)
	}
}

func testNotFound(t *testing.T, b Blobs) {
	c := newContainer(t, b)
	missing := containerName(t) // never created
	ctx := t.Context()
	upload(t, b, c, "doomed.txt", []byte("x"), "")
	if err := b.Delete(ctx, c, "doomed.txt"); err != nil {
		t.Fatal(err)
	}
	noop := func(blobstore.Item) error { return nil }
	tests := []struct {
		name string
		op   func() error
	}{
		{"Download missing blob", func() error { _, err := b.Download(ctx, c, "never.txt"); return err }},
		{"Download deleted blob", func() error { _, err := b.Download(ctx, c, "doomed.txt"); return err }},
		{"Props missing blob", func() error { _, err := b.Props(ctx, c, "never.txt"); return err }},
		{"Open missing blob", func() error { _, _, err := b.Open(ctx, c, "never.txt"); return err }},
		{"Open deleted blob", func() error { _, _, err := b.Open(ctx, c, "doomed.txt"); return err }},
		{"Delete missing blob", func() error { return b.Delete(ctx, c, "doomed.txt") }},
		{"UploadBytes in missing container", func() error { _, err := b.UploadBytes(ctx, missing, "a", []byte("x"), ""); return err }},
		{"UploadIf in missing container", func() error { _, err := b.UploadIf(ctx, missing, "a", []byte("x"), "", ""); return err }},
		{"Download in missing container", func() error { _, err := b.Download(ctx, missing, "a"); return err }},
		{"Props in missing container", func() error { _, err := b.Props(ctx, missing, "a"); return err }},
		{"Open in missing container", func() error { _, _, err := b.Open(ctx, missing, "a"); return err }},
		{"List missing container", func() error { return b.List(ctx, missing, "", noop) }},
		{"AcquireLease in missing container", func() error { _, err := b.AcquireLease(ctx, missing, "a", 15*time.Second); return err }},
		{"Delete in missing container", func() error { return b.Delete(ctx, missing, "a") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.op()
			wantKind(t, tt.name, err, tinyhead.ErrNotFound)
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q spans lines", err)
			}
		})
	}
}

func testList(t *testing.T, b Blobs) {
	c := newContainer(t, b)
	ctx := t.Context()
	sizes := map[string]int{"a/1.txt": 1, "a/2.txt": 22, "a b/x.txt": 3, "ab.txt": 4, "b/1.txt": 5, "A.txt": 6, "é.txt": 7}
	// Listings give ETags without the quotes that uploads and Props give
	// them (the service's listing XML has them bare); if the client ever
	// normalises them, change this and the fake together.
	etags := map[string]string{}
	for name, n := range sizes {
		etags[name] = upload(t, b, c, name, bytes.Repeat([]byte("x"), n), "text/plain")
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		// Byte order: upper case before lower case, " " before "/", ASCII before "é".
		{"", []string{"A.txt", "a b/x.txt", "a/1.txt", "a/2.txt", "ab.txt", "b/1.txt", "é.txt"}},
		{"a/", []string{"a/1.txt", "a/2.txt"}},
		{"a", []string{"a b/x.txt", "a/1.txt", "a/2.txt", "ab.txt"}},
		{"A", []string{"A.txt"}},
		{"c", nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("prefix %q", tt.prefix), func(t *testing.T) {
			var got []string
			err := b.List(ctx, c, tt.prefix, func(it blobstore.Item) error {
				got = append(got, it.Name)
				if it.ETag != strings.Trim(etags[it.Name], `"`) || it.Size != int64(sizes[it.Name]) || it.LastModified.IsZero() || it.ContentType != "text/plain" {
					t.Errorf("item %+v, want ETag %s, size %d, a modification time, text/plain", it, etags[it.Name], sizes[it.Name])
				}
				p := props(t, b, c, it.Name)
				p.ETag = strings.Trim(p.ETag, `"`)
				if !sameProps(it.Props(), p) {
					t.Errorf("item %s: props %+v, Props() says %+v", it.Name, it.Props(), p)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("List(%q) = %q, want %q", tt.prefix, got, tt.want)
			}
		})
	}
	stop := errors.New("stop")
	calls := 0
	err := b.List(ctx, c, "", func(blobstore.Item) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Errorf("List with a failing callback: %d calls, error %v; want 1 call and the callback's error as it is", calls, err)
	}
	empty := newContainer(t, b)
	if err := b.List(ctx, empty, "", func(it blobstore.Item) error { return fmt.Errorf("item %s in an empty container", it.Name) }); err != nil {
		t.Error(err)
	}
}

func testDelete(t *testing.T, b Blobs) {
	c := newContainer(t, b)
	ctx := t.Context()
	upload(t, b, c, "gone.txt", []byte("x"), "")
	upload(t, b, c, "kept.txt", []byte("y"), "")
	if err := b.Delete(ctx, c, "gone.txt"); err != nil {
		t.Fatal(err)
	}
	_, err := b.Props(ctx, c, "gone.txt")
	wantKind(t, "Props after Delete", err, tinyhead.ErrNotFound)
	wantKind(t, "second Delete", b.Delete(ctx, c, "gone.txt"), tinyhead.ErrNotFound)
	var names []string
	if err := b.List(ctx, c, "", func(it blobstore.Item) error { names = append(names, it.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{"kept.txt"}) {
		t.Errorf("after Delete, List = %q", names)
	}
	// A deleted name can be created again.
	if _, err := b.UploadIf(ctx, c, "gone.txt", []byte("z"), "", ""); err != nil {
		t.Errorf("create after Delete: %v", err)
	}
}

func testLease(t *testing.T, b Blobs) {
	c := newContainer(t, b)
	ctx := t.Context()
	const ttl = 15 * time.Second
	const lock = "task/.lock"

	l, err := b.AcquireLease(ctx, c, lock, ttl)
	if err != nil {
		t.Fatalf("AcquireLease of a missing blob: %v", err)
	}
	p := props(t, b, c, lock)
	if p.Size != 0 {
		t.Errorf("AcquireLease created a blob of %d bytes, want an empty one", p.Size)
	}
	_, err = b.AcquireLease(ctx, c, lock, ttl)
	wantKind(t, "a second holder", err, tinyhead.ErrConflict)

	// A leased blob can be read but not written or deleted.
	_, err = b.UploadBytes(ctx, c, lock, []byte("x"), "")
	wantKind(t, "UploadBytes of a leased blob", err, tinyhead.ErrConflict)
	_, err = b.UploadIf(ctx, c, lock, []byte("x"), "", p.ETag)
	wantKind(t, "UploadIf of a leased blob", err, tinyhead.ErrConflict)
	wantKind(t, "Delete of a leased blob", b.Delete(ctx, c, lock), tinyhead.ErrConflict)
	if r, _, err := b.OpenETag(ctx, c, lock, p.ETag); err != nil {
		t.Errorf("OpenETag of a leased blob: %v", err)
	} else {
		r.Close()
	}
	unchanged(t, b, c, lock, nil, p.ETag)

	if err := l.Renew(ctx); err != nil {
		t.Fatalf("Renew: %v", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	unchanged(t, b, c, lock, nil, p.ETag) // lease operations make no new version
	if err := l.Renew(ctx); err == nil {
		t.Error("Renew after Release succeeded")
	}
	if err := l.Release(ctx); err == nil {
		t.Error("second Release succeeded")
	}

	l2, err := b.AcquireLease(ctx, c, lock, ttl)
	if err != nil {
		t.Fatalf("AcquireLease after Release: %v", err)
	}
	if err := l.Release(ctx); err == nil {
		t.Error("the old holder released the new holder's lease")
	}
	_, err = b.AcquireLease(ctx, c, lock, ttl)
	wantKind(t, "a second holder after the old one's Release", err, tinyhead.ErrConflict)
	if err := l2.Release(ctx); err != nil {
		t.Fatal(err)
	}
	// Released, the blob can be written again.
	upload(t, b, c, lock, []byte("free"), "")

	// A lease on an existing blob keeps its content.
	etag := upload(t, b, c, "data.txt", []byte("content"), "text/plain")
	l3, err := b.AcquireLease(ctx, c, "data.txt", ttl)
	if err != nil {
		t.Fatal(err)
	}
	unchanged(t, b, c, "data.txt", []byte("content"), etag)
	if err := l3.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func testLeaseDuration(t *testing.T, b Blobs) {
	c := newContainer(t, b)
	tests := []struct {
		ttl time.Duration
		ok  bool
	}{
		{15 * time.Second, true},
		{60 * time.Second, true},
		{-time.Second, true}, // infinite
		{14 * time.Second, false},
		{61 * time.Second, false},
		{0, false},
	}
	for i, tt := range tests {
		t.Run(tt.ttl.String(), func(t *testing.T) {
			l, err := b.AcquireLease(t.Context(), c, fmt.Sprintf("lease-%d", i), tt.ttl)
			if tt.ok != (err == nil) {
				t.Fatalf("AcquireLease(ttl %v): error %v, want ok=%v", tt.ttl, err, tt.ok)
			}
			if err != nil {
				if errors.Is(err, tinyhead.ErrConflict) || errors.Is(err, tinyhead.ErrNotFound) {
					t.Errorf("a bad duration is an error of kind %v: %v", tinyhead.KindOf(err), err)
				}
				return
			}
			if err := l.Release(t.Context()); err != nil {
				t.Error(err)
			}
		})
	}
}

func testLeaseRace(t *testing.T, b Blobs) {
	c := newContainer(t, b)
	const holders = 8
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		won    []registry.Lease
		others []error
	)
	start := make(chan struct{})
	for range holders {
		wg.Go(func() {
			<-start
			l, err := b.AcquireLease(t.Context(), c, "race/.lock", 15*time.Second)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				won = append(won, l)
			} else {
				others = append(others, err)
			}
		})
	}
	close(start)
	wg.Wait()
	for _, l := range won {
		defer l.Release(context.WithoutCancel(t.Context()))
	}
	if len(won) != 1 {
		t.Fatalf("%d holders got the lease, want exactly 1", len(won))
	}
	for _, err := range others {
		wantKind(t, "a losing holder", err, tinyhead.ErrConflict)
	}
}

func testContainers(t *testing.T, b Blobs) {
	c := newContainer(t, b)
	upload(t, b, c, "a.txt", []byte("x"), "")
	if err := b.EnsureContainer(t.Context(), c); err != nil {
		t.Errorf("EnsureContainer of an existing container: %v", err)
	}
	if got := download(t, b, c, "a.txt"); string(got) != "x" {
		t.Errorf("EnsureContainer of an existing container changed its blobs: %q", got)
	}
	for _, bad := range []string{"Upper", "ab", "under_score", "-lead", "double--hyphen"} {
		if err := b.EnsureContainer(t.Context(), bad); err == nil {
			t.Errorf("EnsureContainer(%q) succeeded: not a valid container name", bad)
		}
	}
}

// testContextCanceled checks that every call gives up on a canceled
// context, says why, and changes nothing.
func testContextCanceled(t *testing.T, b Blobs) {
	c := newContainer(t, b)
	etag := upload(t, b, c, "a.txt", []byte("x"), "")
	l, err := b.AcquireLease(t.Context(), c, "held", 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(context.WithoutCancel(t.Context()))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls := map[string]func() error{
		"EnsureContainer": func() error { return b.EnsureContainer(ctx, containerName(t)) },
		"UploadBytes":     func() error { _, err := b.UploadBytes(ctx, c, "new.txt", []byte("y"), ""); return err },
		"UploadIf":        func() error { _, err := b.UploadIf(ctx, c, "a.txt", []byte("y"), "", etag); return err },
		"Download":        func() error { _, err := b.Download(ctx, c, "a.txt"); return err },
		"Props":           func() error { _, err := b.Props(ctx, c, "a.txt"); return err },
		"Open":            func() error { _, _, err := b.Open(ctx, c, "a.txt"); return err },
		"OpenETag":        func() error { _, _, err := b.OpenETag(ctx, c, "a.txt", etag); return err },
		"List":            func() error { return b.List(ctx, c, "", func(blobstore.Item) error { return nil }) },
		"AcquireLease":    func() error { _, err := b.AcquireLease(ctx, c, "lock", 15*time.Second); return err },
		"Renew":           func() error { return l.Renew(ctx) },
		"Release":         func() error { return l.Release(ctx) },
		"Delete":          func() error { return b.Delete(ctx, c, "a.txt") },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context: error %v, want context.Canceled", name, err)
		}
	}
	unchanged(t, b, c, "a.txt", []byte("x"), etag)
	for _, name := range []string{"new.txt", "lock"} {
		_, err := b.Props(t.Context(), c, name)
		wantKind(t, name+" after calls with a canceled context", err, tinyhead.ErrNotFound)
	}
	_, err = b.AcquireLease(t.Context(), c, "held", 15*time.Second)
	wantKind(t, "the lease after a canceled Release", err, tinyhead.ErrConflict)
}
