package inmem

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/tinyhead/tinyhead/internal/sqlstore/rowcheck"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// Store is an in-memory tinyhead.Store. It passes the store conformance
// suite (storetest) and follows sqlstore where the suite says nothing:
//
//   - documents are upserted by (Source, Item), compared byte for byte; ids
//     grow in insertion order and are never reused; CreatedAt is kept by an
//     update;
//   - versions: BeginIngest claims a source for the newest version seen
//     (LastModified, then ETag) and leases the version to one attempt;
//     PutDocuments and PruneSource of another version than the claimed
//     one fail with tinyhead.ErrSuperseded; lease times are the wall
//     clock's;
//   - labels: a task mapped to "" loses its label, tasks not mentioned keep
//     theirs (within one SourceVersion; a new version replaces them); an unchanged label keeps its time stamp on a re-put and in
//     SetLabels, which is what Tasks' LastChange is made of;
//   - inputs are validated as sqlstore validates them (empty source, empty or
//     space-ended task names and etags, column sizes), before anything is
//     written, with errors of no kind, as sqlstore's;
//   - every call takes its context; a canceled one fails the call (the
//     error wraps ctx.Err()) and changes nothing;
//   - vectors are copied in and out: callers may reuse their buffers;
//   - ScanLabeled calls fn without holding the store's lock, a page at a
//     time, so fn may use the store;
//   - RecordModel of a (task, version) already recorded fails, as SQL's
//     unique constraint does (no kind); Models is ordered by version, as
//     sqlstore's query is (versions are time stamps, so that is oldest
//     first);
//   - after Close every call fails.
//
// It is stricter than sqlstore in one way: a row's Embedding passed to
// ScanLabeled's fn is overwritten with NaNs as soon as fn returns (the
// interface says it is valid only while fn runs; sqlstore reuses it a page
// later, so a caller that keeps it breaks only on large tasks).
//
// Every method is safe for concurrent use; writes are atomic (one mutex).
type Store struct {
	// Fault, if set, is called at the start of every method with the
	// method's name ("PutDocuments", "PromoteModel", "Close", …); a non-nil
	// error makes the method fail at once, changing nothing, with that
	// error wrapped in the method's context as sqlstore wraps a driver's
	// (errors.Is finds it, and its kind). Set it before the store is used, or with SetFault while
	// other goroutines use it (every method reads it under the store's
	// lock).
	Fault func(op string) error

	mu     sync.Mutex
	closed bool
	nextID int64
	// ingestIDs numbers ingest records as they are created.
	ingestIDs int64
	docs      map[docKey]*docRow
	byID      map[int64]*docRow
	ids       []int64 // ids of docs, ascending
	ingests   map[ingestKey]*tinyhead.Ingest
	claims    map[string]tinyhead.BlobVersion            // source → the newest version claimed
	models    map[string]map[string]tinyhead.ModelRecord // task → version → record
	vectors   map[vecKey][]float32                       // one per (content hash, model)
	holders   map[string]int                             // content hash → documents holding it
	leases    map[vecKey]embedClaim                      // re-embedding claims
	// sketches by content hash (sketches.go); nil until the first is put
	sketches map[string]sketchRow
}

// vecKey identifies a stored vector, as sqlstore's embeddings table does.
type vecKey struct{ hash, model string }

// embedClaim is a claim of ClaimMissing.
type embedClaim struct {
	owner string
	until time.Time
}

var _ tinyhead.Store = (*Store)(nil)

type docKey struct{ source, item string }

type ingestKey struct{ source, etag string }

type docRow struct {
	id                                int64
	source, item, version, hash, text string
	group                             string
	test                              bool
	created, updated                  time.Time
	labels                            map[string]labelRow            // task → label
	preds                             map[string]tinyhead.Prediction // task → prediction
}

type labelRow struct {
	label   string
	updated time.Time
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{
		docs:    map[docKey]*docRow{},
		byID:    map[int64]*docRow{},
		ingests: map[ingestKey]*tinyhead.Ingest{},
		claims:  map[string]tinyhead.BlobVersion{},
		models:  map[string]map[string]tinyhead.ModelRecord{},
		vectors: map[vecKey][]float32{},
		holders: map[string]int{},
		leases:  map[vecKey]embedClaim{},
	}
}

// SetFault sets Fault while other goroutines may be using the store.
func (s *Store) SetFault(f func(op string) error) {
	s.mu.Lock()
	s.Fault = f
	s.mu.Unlock()
}

// errClosed is returned by every call after Close.
var errClosed = errors.New("store is closed")

// enter starts an operation that takes checked arguments: the fault hook
// and the closed check (begin), then the arguments' check, then the
// context — in that order, as every such method did on its own.
func (s *Store) enter(ctx context.Context, op string, check error) error {
	if err := s.begin(op); err != nil {
		return err
	}
	if check != nil {
		return check
	}
	return ctx.Err()
}

// begin runs the fault hook and refuses a closed store. The hook is called
// without the lock held, so it may use the store.
func (s *Store) begin(op string) error {
	s.mu.Lock()
	f, closed := s.Fault, s.closed
	s.mu.Unlock()
	if f != nil {
		if err := f(op); err != nil {
			return err
		}
	}
	if closed {
		return errClosed
	}
	return nil
}

// now is the time stamp written to rows: UTC, without a monotonic reading,
// as a time read back from a database is.
func now() time.Time { return time.Now().UTC().Round(0) }

// Close makes every later call fail; closing twice is no error.
func (s *Store) Close() error {
	s.mu.Lock()
	f := s.Fault
	s.mu.Unlock()
	if f != nil {
		if err := f("Close"); err != nil {
			return fmt.Errorf("close store: %w", err)
		}
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// BeginIngest starts an attempt at the blob version v, as
// tinyhead.Store.BeginIngest says: it claims the source for v unless a
// newer version is claimed, records an older version as superseded, and
// gives the caller the lease unless another attempt holds a live one
// (tinyhead.ErrIngestBusy).
func (s *Store) BeginIngest(ctx context.Context, v tinyhead.BlobVersion, lease time.Duration) (tinyhead.Ingest, error) {
	in, err := s.beginIngest(ctx, v.Normalized(), lease)
	if err != nil {
		return in, fmt.Errorf("begin ingest of %s version %s: %w", v.Source, v.ETag, err)
	}
	return in, nil
}

func (s *Store) beginIngest(ctx context.Context, v tinyhead.BlobVersion, lease time.Duration) (tinyhead.Ingest, error) {
	if err := s.enter(ctx, "BeginIngest", rowcheck.IngestKey(v.Source, v.ETag)); err != nil {
		return tinyhead.Ingest{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := now()
	claimed, superseded, moved := s.claim(v, t)
	k := ingestKey{v.Source, v.ETag}
	in := s.ingests[k]
	switch {
	case in == nil:
		s.ingestIDs++
		in = &tinyhead.Ingest{ID: s.ingestIDs, Source: v.Source, ETag: v.ETag, Status: tinyhead.IngestRunning, Modified: v.Modified,
			StartedAt: t, LeaseUntil: t.Add(lease)}
		if superseded {
			in.Status, in.LeaseUntil = tinyhead.IngestSuperseded, t
		}
		s.ingests[k] = in
	case moved && in.Status == tinyhead.IngestSuperseded: // it overtook the claimed version
		in.Status, in.StartedAt, in.LeaseUntil = tinyhead.IngestRunning, t, t.Add(lease)
	case in.Status != tinyhead.IngestRunning:
	case superseded:
		in.Status = tinyhead.IngestSuperseded
	case in.LeaseUntil.After(t):
		return *in, tinyhead.ErrIngestBusy
	default: // the holder of the lease crashed or timed out: take over
		in.StartedAt, in.LeaseUntil = t, t.Add(lease)
	}
	in.Attempts++
	in.UpdatedAt = t
	out := *in
	if out.Status == tinyhead.IngestSuperseded {
		out.Claimed = claimed
	}
	return out, nil
}

// claim moves the source's claim forward to v if v replaces the claimed
// version, marking the running records of its other versions superseded.
// It returns the claimed version, whether it is not v, and whether the
// claim moved. The caller holds the lock.
func (s *Store) claim(v tinyhead.BlobVersion, t time.Time) (claimed tinyhead.BlobVersion, superseded, moved bool) {
	cur, ok := s.claims[v.Source]
	switch {
	case ok && cur.ETag == v.ETag:
		return cur, false, false
	case ok && !v.Replaces(cur):
		return cur, true, false
	}
	v.Overtakes = ""
	s.claims[v.Source] = v
	for k, in := range s.ingests {
		if k.source == v.Source && k.etag != v.ETag && in.Status == tinyhead.IngestRunning {
			in.Status, in.UpdatedAt = tinyhead.IngestSuperseded, t
		}
	}
	return v, false, true
}

// RenewIngest extends the lease of attempt number attempt of a running
// version; see tinyhead.Store.RenewIngest.
func (s *Store) RenewIngest(ctx context.Context, source, etag string, attempt int, lease time.Duration) error {
	if err := s.renewIngest(ctx, source, etag, attempt, lease); err != nil {
		return fmt.Errorf("renew the lease of %s version %s: %w", source, etag, err)
	}
	return nil
}

func (s *Store) renewIngest(ctx context.Context, source, etag string, attempt int, lease time.Duration) error {
	if err := s.enter(ctx, "RenewIngest", rowcheck.IngestKey(source, etag)); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.ingests[ingestKey{source, etag}]
	switch {
	case in == nil:
		return tinyhead.ErrNotFound
	case in.Status == tinyhead.IngestSuperseded:
		return tinyhead.ErrSuperseded
	case in.Status != tinyhead.IngestRunning || in.Attempts != attempt:
		return tinyhead.Errorf(tinyhead.ErrConflict, "attempt %d no longer holds the lease (status %s, attempt %d)",
			attempt, in.Status, in.Attempts)
	}
	t := now()
	in.LeaseUntil, in.UpdatedAt = t.Add(lease), t
	return nil
}

// checkClaim fails with tinyhead.ErrSuperseded when a version of source
// other than version is claimed. The caller holds the lock.
func (s *Store) checkClaim(source, version string) error {
	if cur, ok := s.claims[source]; ok && cur.ETag != version {
		return fmt.Errorf("version %s of %s: %w (%s)", version, source, tinyhead.ErrSuperseded, cur.ETag)
	}
	return nil
}

// FinishIngest stores the outcome of an attempt: Status, RowsOK,
// RowsRejected and Error of in. It returns tinyhead.ErrNotFound when the
// version was never begun.
func (s *Store) FinishIngest(ctx context.Context, in tinyhead.Ingest) error {
	if err := s.finishIngest(ctx, in); err != nil {
		return fmt.Errorf("finish ingest of %s version %s: %w", in.Source, in.ETag, err)
	}
	return nil
}

func (s *Store) finishIngest(ctx context.Context, in tinyhead.Ingest) error {
	if err := s.begin("FinishIngest"); err != nil {
		return err
	}
	if err := rowcheck.IngestKey(in.Source, in.ETag); err != nil {
		return err
	}
	switch in.Status {
	case tinyhead.IngestRunning, tinyhead.IngestDone, tinyhead.IngestFailed, tinyhead.IngestSuperseded:
	default:
		return fmt.Errorf("unknown status %q", in.Status)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.ingests[ingestKey{in.Source, in.ETag}]
	if rec == nil {
		return tinyhead.ErrNotFound
	}
	rec.Status, rec.RowsOK, rec.RowsRejected, rec.Error = in.Status, in.RowsOK, in.RowsRejected, in.Error
	rec.UpdatedAt = now()
	return nil
}

// GetIngest returns the record of one blob version, or tinyhead.ErrNotFound.
func (s *Store) GetIngest(ctx context.Context, source, etag string) (tinyhead.Ingest, error) {
	in, err := s.getIngest(ctx, source, etag)
	if err != nil {
		return tinyhead.Ingest{}, fmt.Errorf("get ingest of %s version %s: %w", source, etag, err)
	}
	return in, nil
}

func (s *Store) getIngest(ctx context.Context, source, etag string) (tinyhead.Ingest, error) {
	if err := s.enter(ctx, "GetIngest", rowcheck.IngestKey(source, etag)); err != nil {
		return tinyhead.Ingest{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.ingests[ingestKey{source, etag}]
	if in == nil {
		return tinyhead.Ingest{}, tinyhead.ErrNotFound
	}
	return *in, nil
}

// IngestProgress records the rows a running attempt has stored so far;
// an attempt that no longer holds the version changes nothing.
func (s *Store) IngestProgress(ctx context.Context, source, etag string, attempt, rowsOK int) error {
	if err := s.enter(ctx, "IngestProgress", rowcheck.IngestKey(source, etag)); err != nil {
		return fmt.Errorf("record the progress of %s version %s: %w", source, etag, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if in := s.ingests[ingestKey{source, etag}]; in != nil && in.Status == tinyhead.IngestRunning && in.Attempts == attempt {
		in.RowsOK, in.UpdatedAt = rowsOK, now()
	}
	return nil
}

// ListIngests returns the ingest records f selects, newest first.
func (s *Store) ListIngests(ctx context.Context, f tinyhead.IngestFilter) ([]tinyhead.Ingest, error) {
	var check error
	if f.Source != "" {
		check = rowcheck.Key(f.Source, "")
	}
	if f.Prefix != "" && check == nil {
		check = rowcheck.Key(f.Prefix, "")
	}
	if err := s.enter(ctx, "ListIngests", check); err != nil {
		return nil, fmt.Errorf("list ingests: %w", err)
	}
	limit := f.Limit
	if limit <= 0 || limit > tinyhead.MaxIngestsListed {
		limit = tinyhead.MaxIngestsListed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []tinyhead.Ingest{}
	for _, in := range s.ingests {
		if (f.Source == "" || in.Source == f.Source) && strings.HasPrefix(in.Source, f.Prefix) &&
			(f.Status == "" || in.Status == f.Status) &&
			(f.Before <= 0 || in.ID < f.Before) {
			out = append(out, *in)
		}
	}
	slices.SortFunc(out, func(a, b tinyhead.Ingest) int { return cmp.Compare(b.ID, a.ID) })
	return out[:min(len(out), limit)], nil
}

// EmbeddingsByHash returns copies of the stored embeddings, for model, of
// whichever content hashes are already known (the map is never nil).
func (s *Store) EmbeddingsByHash(ctx context.Context, model string, hashes []string) (map[string][]float32, error) {
	out, err := s.embeddingsByHash(ctx, model, hashes)
	if err != nil {
		return nil, fmt.Errorf("look up %d embeddings of model %s: %w", len(hashes), model, err)
	}
	return out, nil
}

func (s *Store) embeddingsByHash(ctx context.Context, model string, hashes []string) (map[string][]float32, error) {
	if err := s.begin("EmbeddingsByHash"); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	want := make(map[string]bool, len(hashes))
	for _, h := range hashes {
		want[h] = true
	}
	out := make(map[string][]float32)
	s.mu.Lock()
	defer s.mu.Unlock()
	for h := range want {
		if v, ok := s.vectors[vecKey{h, model}]; ok {
			out[h] = slices.Clone(v)
		}
	}
	return out, nil
}

// PutDocuments upserts docs by (Source, Item) and applies their labels,
// atomically. A task mapped to "" loses its label; tasks not mentioned keep
// theirs, unless the document was stored from another SourceVersion: then
// they lose it (a new version replaces the row, labels included). Nothing
// is written, and the error wraps tinyhead.ErrSuperseded, when another
// version of a document's source is claimed (BeginIngest). When docs holds the same (Source, Item) twice, the later one
// wins, as if they had been written one after the other. An empty
// ContentHash is computed from Text. The caller's maps and vectors are not
// kept.
func (s *Store) PutDocuments(ctx context.Context, docs []tinyhead.Document) error {
	if err := s.begin("PutDocuments"); err != nil {
		return fmt.Errorf("put %d documents: %w", len(docs), err)
	}
	if len(docs) == 0 {
		return nil
	}
	merged, err := rowcheck.Documents(docs)
	if err != nil {
		return fmt.Errorf("put documents of %s: %w", docs[0].Source, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %d documents of %s: %w", len(docs), docs[0].Source, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range merged {
		if err := s.checkClaim(d.Source, d.SourceVersion); err != nil {
			return fmt.Errorf("put %d documents: %w", len(docs), err)
		}
	}
	t := now()
	for _, d := range merged {
		k := docKey{d.Source, d.Item}
		row := s.docs[k]
		if row != nil && row.version != d.SourceVersion {
			// A new version of the document replaces its labels.
			for task := range row.labels {
				if _, ok := d.Labels[task]; !ok {
					delete(row.labels, task)
				}
			}
		}
		if row == nil {
			s.nextID++
			row = &docRow{id: s.nextID, source: d.Source, item: d.Item, created: t, labels: map[string]labelRow{}}
			s.docs[k] = row
			s.byID[row.id] = row
			s.ids = append(s.ids, row.id) // ids only grow: ids stays sorted
		}
		if row.hash != d.ContentHash {
			s.hold(d.ContentHash)
			s.release(row.hash) // "" for a new row: held by none
		}
		row.version, row.hash, row.text = d.SourceVersion, d.ContentHash, d.Text
		row.group, row.test = d.Group, d.Test
		row.updated = t
		for task, label := range d.Labels {
			switch old, ok := row.labels[task]; {
			case label == "":
				delete(row.labels, task)
			case !ok || old.label != label: // an unchanged label keeps its time stamp
				row.labels[task] = labelRow{label: label, updated: t}
			}
		}
	}
	for _, v := range rowcheck.Vectors(merged) {
		s.putVector(v.Model, v.Hash, v.Vec)
	}
	return nil
}

// hold counts one more document holding hash.
func (s *Store) hold(hash string) { s.holders[hash]++ }

// release counts one document less holding hash, and deletes the hash's
// vectors once none holds it.
func (s *Store) release(hash string) {
	if hash == "" {
		return
	}
	if s.holders[hash]--; s.holders[hash] > 0 {
		return
	}
	delete(s.holders, hash)
	for k := range s.vectors {
		if k.hash == hash {
			delete(s.vectors, k)
		}
	}
}

// putVector stores a copy of vec unless a vector of the key is stored or
// no document holds hash; it reports whether it stored it.
func (s *Store) putVector(model, hash string, vec []float32) bool {
	k := vecKey{hash, model}
	if _, ok := s.vectors[k]; ok || s.holders[hash] == 0 {
		return false
	}
	v := slices.Clone(vec)
	if v == nil {
		v = []float32{}
	}
	s.vectors[k] = v
	return true
}

// hasVector reports whether a vector of model is stored for hash.
func (s *Store) hasVector(hash, model string) bool {
	_, ok := s.vectors[vecKey{hash, model}]
	return ok
}

// documentVectors returns copies of the vectors of hash, by model.
func (s *Store) documentVectors(hash string) map[string][]float32 {
	out := map[string][]float32{}
	for k, v := range s.vectors {
		if k.hash == hash {
			out[k.model] = slices.Clone(v)
		}
	}
	return out
}

// PruneSource deletes the documents of source that were not written by
// keepVersion (their labels go with them) and returns how many it deleted;
// nothing, with tinyhead.ErrSuperseded, when another version of source is
// claimed.
func (s *Store) PruneSource(ctx context.Context, source, keepVersion string) (int, error) {
	n, err := s.pruneSource(ctx, source, keepVersion)
	if err != nil {
		return 0, fmt.Errorf("prune documents of %s except version %s: %w", source, keepVersion, err)
	}
	return n, nil
}

func (s *Store) pruneSource(ctx context.Context, source, keepVersion string) (int, error) {
	if err := s.enter(ctx, "PruneSource", rowcheck.Key(source, "")); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkClaim(source, keepVersion); err != nil {
		return 0, err
	}
	n := 0
	s.ids = slices.DeleteFunc(s.ids, func(id int64) bool {
		d := s.byID[id]
		if d.source != source || d.version == keepVersion {
			return false
		}
		s.removeDoc(d)
		n++
		return true
	})
	return n, nil
}

// SourceVersions lists the versions of source that its documents and its
// ingest records name, sorted.
func (s *Store) SourceVersions(ctx context.Context, source string) ([]string, error) {
	out, err := s.sourceVersions(ctx, source)
	if err != nil {
		return nil, fmt.Errorf("list versions of %s: %w", source, err)
	}
	return out, nil
}

func (s *Store) sourceVersions(ctx context.Context, source string) ([]string, error) {
	if err := s.enter(ctx, "SourceVersions", rowcheck.Key(source, "")); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k, d := range s.docs {
		if k.source == source {
			out = append(out, d.version)
		}
	}
	for k := range s.ingests {
		if k.source == source {
			out = append(out, k.etag)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// DeleteSource deletes the documents of source written by one of versions
// (their labels go with them) and marks the ingest records of those
// versions deleted, atomically, and returns how many documents it deleted.
func (s *Store) DeleteSource(ctx context.Context, source string, versions []string) (int, error) {
	n, err := s.deleteSource(ctx, source, versions)
	if err != nil {
		return 0, fmt.Errorf("delete documents of %s: %w", source, err)
	}
	return n, nil
}

func (s *Store) deleteSource(ctx context.Context, source string, versions []string) (int, error) {
	if err := s.enter(ctx, "DeleteSource", rowcheck.Key(source, "")); err != nil {
		return 0, err
	}
	gone := make(map[string]bool, len(versions))
	for _, v := range versions {
		gone[v] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := now()
	for k, in := range s.ingests {
		if k.source == source && gone[k.etag] && in.Status != tinyhead.IngestDeleted {
			in.Status, in.UpdatedAt = tinyhead.IngestDeleted, t
		}
	}
	n := 0
	s.ids = slices.DeleteFunc(s.ids, func(id int64) bool {
		d := s.byID[id]
		if d.source != source || !gone[d.version] {
			return false
		}
		s.removeDoc(d)
		n++
		return true
	})
	return n, nil
}

// removeDoc deletes d (the caller removes its id from s.ids) and the
// vectors no document holds any more.
func (s *Store) removeDoc(d *docRow) {
	delete(s.byID, d.id)
	delete(s.docs, docKey{d.source, d.item})
	s.release(d.hash)
}

// Sources lists the distinct sources that have documents, in byte order.
func (s *Store) Sources(ctx context.Context) ([]string, error) {
	if err := s.begin("Sources"); err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	s.mu.Lock()
	seen := map[string]bool{}
	var out []string
	for k := range s.docs {
		if !seen[k.source] {
			seen[k.source] = true
			out = append(out, k.source)
		}
	}
	s.mu.Unlock()
	slices.Sort(out)
	return out, nil
}

// GetDocument returns a copy of one document with its labels (never a nil
// map), or tinyhead.ErrNotFound.
func (s *Store) GetDocument(ctx context.Context, source, item string) (tinyhead.Document, error) {
	d, err := s.getDocument(ctx, source, item)
	if err != nil {
		return tinyhead.Document{}, fmt.Errorf("get document %s/%s: %w", source, item, err)
	}
	return d, nil
}

func (s *Store) getDocument(ctx context.Context, source, item string) (tinyhead.Document, error) {
	if err := s.enter(ctx, "GetDocument", rowcheck.Key(source, item)); err != nil {
		return tinyhead.Document{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	row := s.docs[docKey{source, item}]
	if row == nil {
		return tinyhead.Document{}, tinyhead.ErrNotFound
	}
	d := tinyhead.Document{
		ID: row.id, Source: row.source, Item: row.item, SourceVersion: row.version, ContentHash: row.hash,
		Text: row.text, Embeddings: s.documentVectors(row.hash), CreatedAt: row.created,
		Labels: make(map[string]string, len(row.labels)), Group: row.group, Test: row.test,
	}
	for task, l := range row.labels {
		d.Labels[task] = l.label
	}
	return d, nil
}

// SetLabel sets, or with label "" removes, one task's label on a stored
// document. It returns tinyhead.ErrNotFound when the document does not
// exist.
func (s *Store) SetLabel(ctx context.Context, source, item, task, label string) error {
	return tinyhead.SetLabel(ctx, labelerAs{s, "SetLabel"}, source, item, task, label)
}

// labelerAs is the store's SetLabels under another operation name, which
// its fault hook sees.
type labelerAs struct {
	s  *Store
	op string
}

func (l labelerAs) SetLabels(ctx context.Context, source, version string, edits []tinyhead.LabelEdit) ([]tinyhead.LabelResult, error) {
	return l.s.setLabels(ctx, l.op, source, version, edits)
}

// SetLabels applies label edits in order, atomically (see
// tinyhead.Labeler): a document named by content hash is every document
// of that hash and model, in id order.
func (s *Store) SetLabels(ctx context.Context, source, version string, edits []tinyhead.LabelEdit) ([]tinyhead.LabelResult, error) {
	return s.setLabels(ctx, "SetLabels", source, version, edits)
}

func (s *Store) setLabels(ctx context.Context, op, source, version string, edits []tinyhead.LabelEdit) ([]tinyhead.LabelResult, error) {
	out, err := s.applyLabels(ctx, op, source, version, edits)
	if err != nil {
		return nil, fmt.Errorf("set %d labels: %w", len(edits), err)
	}
	return out, nil
}

func (s *Store) applyLabels(ctx context.Context, op, source, version string, edits []tinyhead.LabelEdit) ([]tinyhead.LabelResult, error) {
	edits, err := rowcheck.Edits(edits)
	if err == nil && source != "" {
		err = rowcheck.IngestKey(source, version)
	}
	if err := s.enter(ctx, op, err); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if source != "" {
		if err := s.checkClaim(source, version); err != nil {
			return nil, err
		}
	}
	t := now()
	out := make([]tinyhead.LabelResult, len(edits))
	// What each (document, task) held before the call: one that ends
	// with the label it had keeps its time stamp, as sqlstore writes only
	// net changes.
	type key struct {
		row  *docRow
		task string
	}
	before := map[key]labelRow{}
	for i, e := range edits {
		rows := s.resolve(e.Doc)
		out[i].Documents = len(rows)
		for _, row := range rows {
			old, had := row.labels[e.Task]
			if _, seen := before[key{row, e.Task}]; !seen {
				before[key{row, e.Task}] = old
			}
			switch {
			case e.Label == "" && had:
				delete(row.labels, e.Task)
			case e.Label != "" && (!had || old.label != e.Label):
				row.labels[e.Task] = labelRow{label: e.Label, updated: t}
			default:
				continue
			}
			out[i].Changed++
		}
	}
	for k, old := range before {
		if now, ok := k.row.labels[k.task]; ok && now.label == old.label {
			k.row.labels[k.task] = old
		}
	}
	return out, nil
}

// resolve returns the documents ref names, in id order. The caller holds
// the lock.
func (s *Store) resolve(ref tinyhead.DocRef) []*docRow {
	switch {
	case ref.ID != 0:
		if row := s.byID[ref.ID]; row != nil {
			return []*docRow{row}
		}
	case ref.Source != "":
		if row := s.docs[docKey{ref.Source, ref.Item}]; row != nil {
			return []*docRow{row}
		}
	default:
		var rows []*docRow
		for _, id := range s.ids {
			if row := s.byID[id]; row != nil && row.hash == ref.ContentHash && s.hasVector(row.hash, ref.Model) {
				rows = append(rows, row)
			}
		}
		return rows
	}
	return nil
}

// Stats counts documents, those holding a vector of each embedding model,
// and labels per task and label (of every model).
func (s *Store) Stats(ctx context.Context) (tinyhead.Stats, error) {
	if err := s.begin("Stats"); err != nil {
		return tinyhead.Stats{}, fmt.Errorf("count documents: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return tinyhead.Stats{}, fmt.Errorf("count documents: %w", err)
	}
	st := tinyhead.Stats{ByModel: map[string]int{}, Labels: map[string]map[string]int{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.byID {
		st.Documents++
		for k := range s.vectors {
			if k.hash == d.hash {
				st.ByModel[k.model]++
			}
		}
		for task, l := range d.labels {
			if st.Labels[task] == nil {
				st.Labels[task] = map[string]int{}
			}
			st.Labels[task][l.label]++
		}
	}
	return st, nil
}

// Tasks summarises every task with labelled documents embedded by model,
// ordered by task name. LastChange is the latest write to one of the task's
// labels or to a labelled document.
func (s *Store) Tasks(ctx context.Context, model string) ([]tinyhead.TaskSummary, error) {
	if err := s.begin("Tasks"); err != nil {
		return nil, fmt.Errorf("summarise tasks of model %s: %w", model, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("summarise tasks of model %s: %w", model, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	byTask := map[string]*tinyhead.TaskSummary{}
	for _, d := range s.byID {
		if _, ok := s.vectors[vecKey{d.hash, model}]; !ok {
			continue
		}
		for task, l := range d.labels {
			ts := byTask[task]
			if ts == nil {
				ts = &tinyhead.TaskSummary{Task: task, Labels: map[string]int{}}
				byTask[task] = ts
			}
			ts.Rows++
			ts.Labels[l.label]++
			last := d.updated
			if l.updated.After(last) {
				last = l.updated
			}
			if last.After(ts.LastChange) {
				ts.LastChange = last
			}
		}
	}
	var out []tinyhead.TaskSummary
	for _, ts := range byTask {
		out = append(out, *ts)
	}
	slices.SortFunc(out, func(a, b tinyhead.TaskSummary) int { return cmp.Compare(a.Task, b.Task) })
	return out, nil
}

// scanPageSize is how many rows ScanLabeled reads under the lock at a time,
// as sqlstore reads a page per query.
const scanPageSize = 1024

// ScanLabeled calls fn with the labelled documents of task embedded by
// model, in id order, a page at a time; the store's lock is not held while
// fn runs. With withVectors false Embedding is nil; with it true Embedding
// is valid only while fn runs (see Store). An error from fn stops the scan
// and is returned as it is.
func (s *Store) ScanLabeled(ctx context.Context, task, model string, withVectors bool, fn func(tinyhead.LabeledRow) error) error {
	if err := s.begin("ScanLabeled"); err != nil {
		return fmt.Errorf("scan labelled rows of task %s: %w", task, err)
	}
	if err := rowcheck.TaskName(task); err != nil {
		return fmt.Errorf("scan labelled rows: %w", err)
	}
	page := make([]tinyhead.LabeledRow, 0, scanPageSize)
	var vecs []float32 // the page's embeddings, back to back
	after := int64(math.MinInt64)
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("scan labelled rows of task %s after id %d: %w", task, after, err)
		}
		page, vecs = s.scanPage(task, model, withVectors, after, page[:0], vecs[:0])
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
			for i := range r.Embedding {
				r.Embedding[i] = float32(math.NaN()) // the row is fn's only while it runs
			}
		}
		if len(page) < scanPageSize {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

// scanPage reads the next page of ScanLabeled after id after.
func (s *Store) scanPage(task, model string, withVectors bool, after int64, page []tinyhead.LabeledRow, vecs []float32) ([]tinyhead.LabeledRow, []float32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ends []int
	start, _ := slices.BinarySearch(s.ids, after+1)
	for _, id := range s.ids[start:] {
		if len(page) == scanPageSize {
			break
		}
		d := s.byID[id]
		l, ok := d.labels[task]
		v, embedded := s.vectors[vecKey{d.hash, model}]
		if !ok || !embedded {
			continue
		}
		page = append(page, tinyhead.LabeledRow{ID: d.id, Source: d.source, Item: d.item, Label: l.label,
			Group: d.group, Test: d.test})
		if withVectors {
			vecs = append(vecs, v...)
			ends = append(ends, len(vecs))
		}
	}
	if withVectors {
		begin := 0
		for i := range page {
			page[i].Embedding = vecs[begin:ends[i]:ends[i]]
			if page[i].Embedding == nil {
				page[i].Embedding = []float32{} // stored empty, not absent
			}
			begin = ends[i]
		}
	}
	return page, vecs
}

// EmbeddingsByID returns copies of the embeddings of model of the given
// documents; missing ids, and documents without one, are absent.
func (s *Store) EmbeddingsByID(ctx context.Context, model string, ids []int64) (map[int64][]float32, error) {
	if err := s.begin("EmbeddingsByID"); err != nil {
		return nil, fmt.Errorf("read embeddings of %d documents: %w", len(ids), err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read embeddings of %d documents: %w", len(ids), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int64][]float32, len(ids))
	for _, id := range ids {
		if d := s.byID[id]; d != nil {
			if v, ok := s.vectors[vecKey{d.hash, model}]; ok {
				out[id] = slices.Clone(v)
			}
		}
	}
	return out, nil
}

// RecordModel adds a trained model, not promoted, to the models table. A
// version recorded before is an error (of no kind, like SQL's unique
// constraint).
func (s *Store) RecordModel(ctx context.Context, m tinyhead.ModelRecord) error {
	if err := s.recordModel(ctx, m); err != nil {
		return fmt.Errorf("record model %s/%s: %w", m.Task, m.Version, err)
	}
	return nil
}

func (s *Store) recordModel(ctx context.Context, m tinyhead.ModelRecord) error {
	if err := s.enter(ctx, "RecordModel", rowcheck.TaskName(m.Task)); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	versions := s.models[m.Task]
	if versions == nil {
		versions = map[string]tinyhead.ModelRecord{}
		s.models[m.Task] = versions
	}
	if _, ok := versions[m.Version]; ok {
		return errors.New("UNIQUE constraint failed: models.task, models.version")
	}
	m.CreatedAt = m.CreatedAt.UTC().Round(0)
	m.Promoted = false
	versions[m.Version] = m
	return nil
}

// PromoteModel marks version as the task's promoted model, and no other.
// A version never recorded is tinyhead.ErrNotFound, and changes nothing.
func (s *Store) PromoteModel(ctx context.Context, task, version string) error {
	if err := s.promoteModel(ctx, task, version); err != nil {
		return fmt.Errorf("promote model %s/%s: %w", task, version, err)
	}
	return nil
}

func (s *Store) promoteModel(ctx context.Context, task, version string) error {
	if err := s.enter(ctx, "PromoteModel", rowcheck.TaskName(task)); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	versions := s.models[task]
	if _, ok := versions[version]; !ok {
		return tinyhead.ErrNotFound
	}
	for v, m := range versions {
		m.Promoted = v == version
		versions[v] = m
	}
	return nil
}

// Models lists a task's models ordered by version (oldest first, versions
// being time stamps); nil when there are none.
func (s *Store) Models(ctx context.Context, task string) ([]tinyhead.ModelRecord, error) {
	if err := s.begin("Models"); err != nil {
		return nil, fmt.Errorf("list models of task %s: %w", task, err)
	}
	if err := rowcheck.TaskName(task); err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list models of task %s: %w", task, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []tinyhead.ModelRecord
	for _, m := range s.models[task] {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b tinyhead.ModelRecord) int { return cmp.Compare(a.Version, b.Version) })
	return out, nil
}
