package inmem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/registry"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// Blobs is in-memory blob storage. It implements registry.Blobs and
// ingest.Opener with the semantics of the real client (*blobstore.Client)
// on Azure Storage, as the blob conformance suite (blobstore/blobtest)
// checks them against Azurite:
//
//   - containers must exist (EnsureContainer, or NewBlobs' arguments), as
//     on the service: anything in a missing container fails with
//     tinyhead.ErrNotFound; container names must be valid (3–63 lower-case
//     letters, digits and single hyphens);
//   - every write gives the blob a new quoted ETag, even for the same
//     content; the content type defaults to application/octet-stream;
//   - a missing blob is tinyhead.ErrNotFound; a failed condition (UploadIf
//     with ifMatch "" on an existing blob, or a stale or "*" ifMatch,
//     OpenETag of another version) is tinyhead.ErrConflict — also when the
//     blob is missing, as the service answers 412 to If-Match then;
//   - Open and OpenETag pin the version they opened: a Read after the blob
//     was replaced or deleted fails with tinyhead.ErrConflict (and stays
//     failed), so a read never mixes versions;
//   - leases: AcquireLease creates an empty blob if there is none, takes
//     15 to 60 s (or -1 s: infinite) and fails with tinyhead.ErrConflict
//     while another holder's lease is active; a leased blob cannot be
//     written or deleted (tinyhead.ErrConflict) but can be read; a lease
//     expires after its ttl unless renewed (ExpireLeases ends them at once,
//     for tests of a holder that died); Renew or Release of a lease that
//     was released or taken over fails with an error of no kind (the
//     service's 409);
//   - List calls fn in name (byte) order without holding the lock, so fn
//     may use the storage; its error is returned as it is; listed items
//     have their ETag without the quotes that uploads and Props give it,
//     as the service's listings do;
//   - a canceled context fails the call (the error wraps ctx.Err()).
//
// Every method is safe for concurrent use.
type Blobs struct {
	// Fault, if set, is called at the start of every operation with its
	// name ("UploadBytes", "UploadIf", "Download", "Props", "Open",
	// "OpenETag", "List", "AcquireLease", "Renew", "Release", "Delete",
	// "EnsureContainer", and "Read" for each Read of an opened blob that
	// has bytes left) and the blob (for List the prefix, for
	// EnsureContainer ""). A non-nil error makes the operation fail
	// without changing anything, wrapped as the real client wraps a
	// service error (errors.Is finds it, and its kind); a failed Read stays
	// failed. Set it before use, or with SetFault while other goroutines
	// use the storage.
	Fault func(op, container, name string) error

	mu         sync.Mutex
	containers map[string]map[string]*blob // container → name → blob
}

var (
	_ registry.Blobs = (*Blobs)(nil)
	_ registry.Lease = (*lease)(nil)
)

type blob struct {
	data        []byte // never changed in place: a write replaces the slice
	etag        string
	contentType string
	modified    time.Time
	lease       leaseState
}

type leaseState struct {
	id       uint64 // 0: never leased
	ttl      time.Duration
	infinite bool
	expires  time.Time
	released bool
	etag     string // the blob's ETag when the lease was taken
}

// active reports whether a holder has the lease now.
func (l *leaseState) active(now time.Time) bool {
	return l.id != 0 && !l.released && (l.infinite || now.Before(l.expires))
}

// etagSeq numbers ETags across all Blobs, so that no two versions of
// anything share one.
var etagSeq atomic.Uint64

func newETag() string { return fmt.Sprintf(`"0x8DC%011X"`, etagSeq.Add(1)) }

// leaseSeq numbers lease ids.
var leaseSeq atomic.Uint64

// defaultContentType is what the service stores when a write names none.
const defaultContentType = "application/octet-stream"

// NewBlobs returns empty blob storage holding the given containers.
func NewBlobs(containers ...string) *Blobs {
	b := &Blobs{containers: map[string]map[string]*blob{}}
	for _, c := range containers {
		if err := checkContainerName(c); err != nil {
			panic("inmem.NewBlobs: " + err.Error())
		}
		b.containers[c] = map[string]*blob{}
	}
	return b
}

// SetFault sets Fault while other goroutines may be using the storage.
func (b *Blobs) SetFault(f func(op, container, name string) error) {
	b.mu.Lock()
	b.Fault = f
	b.mu.Unlock()
}

// begin runs the fault hook (without the lock held, so it may use the
// storage) and checks the context.
func (b *Blobs) begin(ctx context.Context, op, container, name string) error {
	b.mu.Lock()
	f := b.Fault
	b.mu.Unlock()
	if f != nil {
		if err := f(op, container, name); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// checkContainerName applies the service's rules; it answers 400 to others.
func checkContainerName(name string) error {
	ok := len(name) >= 3 && len(name) <= 63 && !strings.Contains(name, "--") &&
		name[0] != '-' && name[len(name)-1] != '-'
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("container name %q is not valid: storage request failed (HTTP 400 OutOfRangeInput)", name)
	}
	return nil
}

func checkNames(container, name string) error {
	if err := checkContainerName(container); err != nil {
		return err
	}
	if name == "" || len([]rune(name)) > 1024 {
		return fmt.Errorf("blob name %q is not valid: storage request failed (HTTP 400 OutOfRangeInput)", name)
	}
	return nil
}

func errNotFound(code string) error {
	return tinyhead.Errorf(tinyhead.ErrNotFound, "blob not found (HTTP 404 %s)", code)
}

func errCondition(code string) error {
	return tinyhead.Errorf(tinyhead.ErrConflict, "blob changed (HTTP 412 %s)", code)
}

// errLeaseLost is the service's answer to a lease operation with a lease
// id that no longer holds the blob: 409, which is of no kind.
var errLeaseLost = errors.New("storage request failed (HTTP 409 LeaseIdMismatchWithLeaseOperation)")

// container returns a container's blobs, or ErrNotFound; b.mu is held.
func (b *Blobs) container(name string) (map[string]*blob, error) {
	c, ok := b.containers[name]
	if !ok {
		return nil, errNotFound("ContainerNotFound")
	}
	return c, nil
}

// lookup returns a blob, or ErrNotFound; b.mu is held.
func (b *Blobs) lookup(container, name string) (*blob, error) {
	c, err := b.container(container)
	if err != nil {
		return nil, err
	}
	bl := c[name]
	if bl == nil {
		return nil, errNotFound("BlobNotFound")
	}
	return bl, nil
}

// EnsureContainer creates a container unless it exists.
func (b *Blobs) EnsureContainer(ctx context.Context, name string) error {
	err := b.begin(ctx, "EnsureContainer", name, "")
	if err == nil {
		err = checkContainerName(name)
	}
	if err != nil {
		return fmt.Errorf("create container %s: %w", name, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.containers[name]; !ok {
		b.containers[name] = map[string]*blob{}
	}
	return nil
}

// UploadBytes writes a blob, replacing any blob of that name, and returns
// its new ETag. A blob leased by a holder is tinyhead.ErrConflict.
func (b *Blobs) UploadBytes(ctx context.Context, container, name string, data []byte, contentType string) (string, error) {
	etag, err := b.upload(ctx, "UploadBytes", container, name, data, contentType, nil)
	if err != nil {
		return "", fmt.Errorf("upload blob %s/%s: %w", container, name, err)
	}
	return etag, nil
}

// UploadIf writes a blob only if its ETag is ifMatch ("*": if it exists),
// or, with ifMatch "", only if it does not exist yet; otherwise it fails
// with tinyhead.ErrConflict and writes nothing.
func (b *Blobs) UploadIf(ctx context.Context, container, name string, data []byte, contentType, ifMatch string) (string, error) {
	etag, err := b.upload(ctx, "UploadIf", container, name, data, contentType, &ifMatch)
	if err != nil {
		return "", fmt.Errorf("upload blob %s/%s: %w", container, name, err)
	}
	return etag, nil
}

func (b *Blobs) upload(ctx context.Context, op, container, name string, data []byte, contentType string, ifMatch *string) (string, error) {
	if err := b.begin(ctx, op, container, name); err != nil {
		return "", err
	}
	if err := checkNames(container, name); err != nil {
		return "", err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.container(container)
	if err != nil {
		return "", err
	}
	old := c[name]
	if ifMatch != nil {
		switch m := *ifMatch; {
		case m == "" && old != nil:
			return "", errCondition("BlobAlreadyExists")
		case m != "" && (old == nil || m != "*" && m != old.etag):
			return "", errCondition("ConditionNotMet")
		}
	}
	if old != nil && old.lease.active(time.Now()) {
		return "", errCondition("LeaseIdMissing")
	}
	b.write(c, name, data, contentType)
	return c[name].etag, nil
}

// write stores a new version of a blob, keeping its lease state as the
// service does; b.mu is held.
func (b *Blobs) write(c map[string]*blob, name string, data []byte, contentType string) {
	if contentType == "" {
		contentType = defaultContentType
	}
	bl := c[name]
	if bl == nil {
		bl = &blob{}
		c[name] = bl
	}
	bl.data = slices.Clone(data)
	bl.etag = newETag()
	bl.contentType = contentType
	bl.modified = time.Now().UTC().Truncate(time.Second) // HTTP dates have seconds
}

func (bl *blob) props() blobstore.Props {
	return blobstore.Props{ETag: bl.etag, Size: int64(len(bl.data)), LastModified: bl.modified, ContentType: bl.contentType}
}

// Download returns a copy of a blob's content.
func (b *Blobs) Download(ctx context.Context, container, name string) ([]byte, error) {
	data, err := b.download(ctx, container, name)
	if err != nil {
		return nil, fmt.Errorf("download blob %s/%s: %w", container, name, err)
	}
	return data, nil
}

func (b *Blobs) download(ctx context.Context, container, name string) ([]byte, error) {
	if err := b.begin(ctx, "Download", container, name); err != nil {
		return nil, err
	}
	if err := checkNames(container, name); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	bl, err := b.lookup(container, name)
	if err != nil {
		return nil, err
	}
	return slices.Clone(bl.data), nil
}

// Props returns a blob's properties.
func (b *Blobs) Props(ctx context.Context, container, name string) (blobstore.Props, error) {
	p, _, err := b.stat(ctx, "Props", container, name, "")
	if err != nil {
		return blobstore.Props{}, fmt.Errorf("get properties of blob %s/%s: %w", container, name, err)
	}
	return p, nil
}

// stat returns a blob's properties and content (which no one changes),
// provided its ETag is ifMatch when that is not "". The service answers an
// If-Match on a missing blob with 412.
func (b *Blobs) stat(ctx context.Context, op, container, name, ifMatch string) (blobstore.Props, []byte, error) {
	if err := b.begin(ctx, op, container, name); err != nil {
		return blobstore.Props{}, nil, err
	}
	if err := checkNames(container, name); err != nil {
		return blobstore.Props{}, nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.container(container)
	if err != nil {
		return blobstore.Props{}, nil, err
	}
	bl := c[name]
	switch {
	case ifMatch != "" && (bl == nil || bl.etag != ifMatch):
		return blobstore.Props{}, nil, errCondition("ConditionNotMet")
	case bl == nil:
		return blobstore.Props{}, nil, errNotFound("BlobNotFound")
	}
	return bl.props(), bl.data, nil
}

// Open streams a blob, pinned to the version it opened (see Blobs).
func (b *Blobs) Open(ctx context.Context, container, name string) (io.ReadCloser, blobstore.Props, error) {
	return b.open(ctx, "Open", container, name, "")
}

// OpenETag is Open for one version of the blob: it fails with
// tinyhead.ErrConflict unless the blob's ETag is etag.
func (b *Blobs) OpenETag(ctx context.Context, container, name, etag string) (io.ReadCloser, blobstore.Props, error) {
	if etag == "" {
		if err := b.begin(ctx, "OpenETag", container, name); err != nil {
			return nil, blobstore.Props{}, fmt.Errorf("open blob %s/%s: %w", container, name, err)
		}
		return nil, blobstore.Props{}, fmt.Errorf("open blob %s/%s: empty ETag", container, name)
	}
	return b.open(ctx, "OpenETag", container, name, etag)
}

func (b *Blobs) open(ctx context.Context, op, container, name, ifMatch string) (io.ReadCloser, blobstore.Props, error) {
	p, data, err := b.stat(ctx, op, container, name, ifMatch)
	if err != nil {
		return nil, blobstore.Props{}, fmt.Errorf("open blob %s/%s: %w", container, name, err)
	}
	return &reader{ctx: ctx, b: b, container: container, name: name, etag: p.ETag, data: data}, p, nil
}

// reader reads one version of a blob; see Blobs.
type reader struct {
	ctx             context.Context
	b               *Blobs
	container, name string
	etag            string
	data            []byte // the version opened
	off             int
	err             error // sticky
}

var errReadClosed = errors.New("read after Close")

// Read implements io.Reader.
func (r *reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.off >= len(r.data) {
		return 0, io.EOF
	}
	if err := r.b.begin(r.ctx, "Read", r.container, r.name); err != nil {
		r.err = fmt.Errorf("read blob %s/%s at offset %d: %w", r.container, r.name, r.off, err)
		return 0, r.err
	}
	r.b.mu.Lock()
	bl := r.b.containers[r.container][r.name]
	same := bl != nil && bl.etag == r.etag
	r.b.mu.Unlock()
	if !same {
		r.err = fmt.Errorf("read blob %s/%s at offset %d: %w", r.container, r.name, r.off, errCondition("ConditionNotMet"))
		return 0, r.err
	}
	n := copy(p, r.data[r.off:])
	r.off += n
	return n, nil
}

// Close ends the read; a later Read fails.
func (r *reader) Close() error {
	if r.err == nil {
		r.err = errReadClosed
	}
	return nil
}

// List calls fn for each blob in container whose name starts with prefix,
// in name order. An error from fn stops the listing and is returned as it
// is.
func (b *Blobs) List(ctx context.Context, container, prefix string, fn func(blobstore.Item) error) error {
	items, err := b.list(ctx, container, prefix)
	if err != nil {
		return fmt.Errorf("list blobs in %s (prefix %q): %w", container, prefix, err)
	}
	for _, it := range items {
		if err := fn(it); err != nil {
			return err
		}
	}
	return nil
}

func (b *Blobs) list(ctx context.Context, container, prefix string) ([]blobstore.Item, error) {
	if err := b.begin(ctx, "List", container, prefix); err != nil {
		return nil, err
	}
	if err := checkContainerName(container); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.container(container)
	if err != nil {
		return nil, err
	}
	var items []blobstore.Item
	for name, bl := range c {
		if strings.HasPrefix(name, prefix) {
			p := bl.props()
			// The service's listings give ETags without their quotes.
			items = append(items, blobstore.Item{Name: name, ETag: strings.Trim(p.ETag, `"`), Size: p.Size, LastModified: p.LastModified, ContentType: p.ContentType})
		}
	}
	slices.SortFunc(items, func(a, b blobstore.Item) int { return strings.Compare(a.Name, b.Name) })
	return items, nil
}

// Delete removes a blob. A missing blob is tinyhead.ErrNotFound; a leased
// one is tinyhead.ErrConflict.
func (b *Blobs) Delete(ctx context.Context, container, name string) error {
	if err := b.delete(ctx, container, name); err != nil {
		return fmt.Errorf("delete blob %s/%s: %w", container, name, err)
	}
	return nil
}

func (b *Blobs) delete(ctx context.Context, container, name string) error {
	if err := b.begin(ctx, "Delete", container, name); err != nil {
		return err
	}
	if err := checkNames(container, name); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	bl, err := b.lookup(container, name)
	if err != nil {
		return err
	}
	if bl.lease.active(time.Now()) {
		return errCondition("LeaseIdMissing")
	}
	delete(b.containers[container], name)
	return nil
}

// AcquireLease takes an exclusive lease of ttl (15 to 60 s, or -1 s for
// one that never expires) on the blob, creating an empty blob first if
// there is none. It fails with tinyhead.ErrConflict when another holder's
// lease is active.
func (b *Blobs) AcquireLease(ctx context.Context, container, name string, ttl time.Duration) (registry.Lease, error) {
	l, err := b.acquireLease(ctx, container, name, ttl)
	if err != nil {
		return nil, fmt.Errorf("lease %s/%s: %w", container, name, err)
	}
	return l, nil
}

func (b *Blobs) acquireLease(ctx context.Context, container, name string, ttl time.Duration) (*lease, error) {
	if err := b.begin(ctx, "AcquireLease", container, name); err != nil {
		return nil, err
	}
	if err := checkNames(container, name); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.container(container)
	if err != nil {
		return nil, err
	}
	if c[name] == nil {
		b.write(c, name, nil, "")
	}
	// The service takes whole seconds, as the real client sends them.
	secs := int64(ttl / time.Second)
	if secs != -1 && (secs < 15 || secs > 60) {
		return nil, fmt.Errorf("lease duration %v: storage request failed (HTTP 400 InvalidHeaderValue)", ttl)
	}
	bl := c[name]
	now := time.Now()
	if bl.lease.active(now) {
		return nil, tinyhead.Errorf(tinyhead.ErrConflict, "blob is leased by another holder")
	}
	bl.lease = leaseState{id: leaseSeq.Add(1), ttl: time.Duration(secs) * time.Second, infinite: secs == -1, etag: bl.etag}
	bl.lease.expires = now.Add(bl.lease.ttl)
	return &lease{b: b, container: container, name: name, id: bl.lease.id}, nil
}

// ExpireLeases ends every active lease as if its time had run out: another
// holder may take it, and its holder may still renew it while nobody has
// (as on the service). For tests of a lease holder that died.
func (b *Blobs) ExpireLeases() {
	b.mu.Lock()
	defer b.mu.Unlock()
	past := time.Now().Add(-time.Nanosecond)
	for _, c := range b.containers {
		for _, bl := range c {
			if bl.lease.active(time.Now()) {
				bl.lease.infinite = false
				bl.lease.expires = past
			}
		}
	}
}

// lease is a lease held on a blob of Blobs.
type lease struct {
	b               *Blobs
	container, name string
	id              uint64
}

// Renew extends the lease by its duration. It fails once the lease was
// released, or expired and then taken by another holder or the blob
// written.
func (l *lease) Renew(ctx context.Context) error {
	if err := l.do(ctx, "Renew", func(s *leaseState) { s.expires = time.Now().Add(s.ttl) }); err != nil {
		return fmt.Errorf("renew lease on %s/%s: %w", l.container, l.name, err)
	}
	return nil
}

// Release gives the lease up; the same conditions as Renew apply.
func (l *lease) Release(ctx context.Context) error {
	if err := l.do(ctx, "Release", func(s *leaseState) { s.released = true }); err != nil {
		return fmt.Errorf("release lease on %s/%s: %w", l.container, l.name, err)
	}
	return nil
}

func (l *lease) do(ctx context.Context, op string, change func(*leaseState)) error {
	if err := l.b.begin(ctx, op, l.container, l.name); err != nil {
		return err
	}
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	bl, err := l.b.lookup(l.container, l.name)
	if err != nil {
		return err
	}
	s := &bl.lease
	if s.id != l.id || s.released || !s.active(time.Now()) && bl.etag != s.etag {
		return errLeaseLost
	}
	change(s)
	return nil
}
