// Package ingest turns one blob into stored embeddings: it streams the
// blob, parses it into rows (docparse), embeds the texts not seen before in
// batches (tinyhead.Embedder) and upserts rows and labels, one transaction
// per batch (tinyhead.Store). Parsing, embedding and writing run as a
// three-stage pipeline, so that reading and writing overlap with inference
// instead of adding to it.
//
// Each blob version is recorded in the store's ingests table: a
// re-delivered version is skipped, a new version replaces the old one's
// rows, and a file that cannot be read at all is remembered as failed.
//
// Versions of a blob are ordered by the blob's LastModified (then ETag),
// not by the order their triggers arrive: BeginIngest claims the source for
// the newest version it has seen, and every batch write and the final
// prune succeed only while the attempt's version is still the claimed one.
// An attempt at an older version stops there, is recorded superseded and
// succeeds (there is nothing to retry). An attempt holds a lease on its
// version, renewed while it runs; a second delivery of the same version
// waits for it instead of embedding the file again, and takes over once
// the lease has expired (the first attempt crashed).
package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/docparse"
	"github.com/tinyhead/tinyhead/internal/sketch"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// Opener streams a blob and reads its properties; *blobstore.Client
// implements it.
type Opener interface {
	Open(ctx context.Context, container, name string) (io.ReadCloser, blobstore.Props, error)
	Props(ctx context.Context, container, name string) (blobstore.Props, error)
}

// Store is what ingest records in the database; sqlstore.Store and
// inmem.Store implement it.
type Store interface {
	// BeginIngest claims the source for v unless a newer version is
	// claimed, and counts an attempt at v: its record says whether there is
	// anything to do (done, failed or superseded: no); with
	// tinyhead.ErrIngestBusy, another attempt holds v's lease.
	BeginIngest(ctx context.Context, v tinyhead.BlobVersion, lease time.Duration) (tinyhead.Ingest, error)
	// RenewIngest extends the lease of a running attempt.
	RenewIngest(ctx context.Context, source, etag string, attempt int, lease time.Duration) error
	// FinishIngest stores the outcome of an attempt.
	FinishIngest(ctx context.Context, in tinyhead.Ingest) error
	// IngestProgress records the rows a running attempt has stored so far.
	IngestProgress(ctx context.Context, source, etag string, attempt, rowsOK int) error
	// EmbeddingsByHash returns the known embeddings of model among hashes.
	EmbeddingsByHash(ctx context.Context, model string, hashes []string) (map[string][]float32, error)
	// PutDocuments upserts documents and their labels in one transaction,
	// or fails with tinyhead.ErrSuperseded.
	PutDocuments(ctx context.Context, docs []tinyhead.Document) error
	// PruneSource deletes the documents of source not written by
	// keepVersion, or fails with tinyhead.ErrSuperseded.
	PruneSource(ctx context.Context, source, keepVersion string) (deleted int, err error)
	// PutSketches stores the texts' sketches by content hash.
	PutSketches(ctx context.Context, version string, sketches map[string][]byte) error
	// SetLabels labels stored documents (labels files), or fails with
	// tinyhead.ErrSuperseded.
	tinyhead.Labeler
}

// Pipeline ingests blobs. Its fields are its dependencies and settings; the
// zero values of the settings are sane defaults.
type Pipeline struct {
	Blobs Opener
	Store Store
	// Embedders are the models every row is embedded with (at least one):
	// each document is stored with a vector of each.
	Embedders tinyhead.Embedders
	Log       *slog.Logger

	// BatchSize is the number of rows embedded and written per transaction
	// (default 256).
	BatchSize int
	// Parse bounds row and file sizes.
	Parse docparse.Options
	// ProgressEvery is how often a long ingest logs its rate (default 5 s).
	ProgressEvery time.Duration
	// Lease is how long an attempt holds its blob version without renewing
	// it (default DefaultLease); it renews every third of it. A delivery
	// of the version while the lease is live waits; after it, it takes over.
	Lease time.Duration
	// BusyPoll is how often a delivery that waits for another attempt at
	// the same version asks again (default 2 s), and MaxWait how long it
	// waits in all (default 10 minutes) before it fails with an error of
	// kind tinyhead.ErrConflict, which the host retries.
	BusyPoll, MaxWait time.Duration
}

// DefaultLease is the lease of an attempt on its blob version: long enough
// that a slow batch (a database resuming) does not lose it, short enough
// that the retry of a crashed attempt waits briefly.
const DefaultLease = time.Minute

// MaxReportedRejections bounds how many rejected rows a Result lists and
// the ingest record keeps; the counts are always complete.
const MaxReportedRejections = 50

// Result is the outcome of one ingest.
type Result struct {
	Source       string // container/name
	ETag         string
	Modified     time.Time // the version's LastModified
	Status       tinyhead.IngestStatus
	Redelivery   bool // this version was already ingested, or superseded; nothing was done
	RowsOK       int
	RowsRejected int
	Embedded     int // texts run through the model; the others reused a stored embedding
	Pruned       int // rows of an older version of the blob that were deleted
	// LabelsOnly: the blob is a labels file (IsLabelsFile); its RowsOK
	// rows labelled stored documents, changing LabelsChanged labels.
	LabelsOnly    bool
	LabelsChanged int
	Rejections    []docparse.RowError
	Elapsed       time.Duration
}

// PermanentError is a file that cannot be ingested however often it is
// retried (binary content, a CSV without a text column, …). The invocation
// still fails, so that the host moves the blob to the poison queue where
// the user sees it; retries of the same version fail fast.
type PermanentError struct {
	Source string
	Reason string
}

func (e *PermanentError) Error() string { return e.Source + ": " + e.Reason }

// MaxBlobName is the longest blob name, in characters, that storage
// allows (the container's name and the slash are not counted).
const MaxBlobName = 1024

// Source names a blob in the documents and ingests tables.
func Source(container, name string) string { return container + "/" + name }

// Ingest processes one blob.
func (p *Pipeline) Ingest(ctx context.Context, container, name string) (Result, error) {
	start := time.Now()
	res := Result{Source: Source(container, name)}
	body, props, err := p.Blobs.Open(ctx, container, name)
	if err != nil {
		return res, fmt.Errorf("open blob %s: %w", res.Source, err)
	}
	defer body.Close()
	res.ETag, res.Modified = props.ETag, props.LastModified
	v := tinyhead.BlobVersion{Source: res.Source, ETag: res.ETag, Modified: res.Modified}

	rec, err := p.claim(ctx, container, name, v)
	if err != nil {
		return res, fmt.Errorf("record ingest of %s: %w", res.Source, err)
	}
	switch rec.Status {
	case tinyhead.IngestDone:
		res.Status, res.Redelivery = rec.Status, true
		res.RowsOK, res.RowsRejected = rec.RowsOK, rec.RowsRejected
		p.log().Info("blob version already ingested; nothing to do", "source", res.Source, "etag", res.ETag, "attempts", rec.Attempts)
		return res, nil
	case tinyhead.IngestFailed:
		res.Status, res.Redelivery = rec.Status, true
		return res, &PermanentError{Source: res.Source, Reason: rec.Error}
	case tinyhead.IngestDeleted:
		// The blob was deleted after this attempt opened it (Remover):
		// writing its rows now would bring them back.
		res.Status, res.Redelivery = rec.Status, true
		p.log().Info("blob version was deleted; nothing to do", "source", res.Source, "etag", res.ETag)
		return res, nil
	case tinyhead.IngestSuperseded:
		res.Status, res.Redelivery = rec.Status, true
		p.log().Info("a newer version of the blob was claimed; nothing to do", "source", res.Source, "etag", res.ETag,
			"last_modified", res.Modified)
		return res, nil
	}

	if n := utf8.RuneCountInString(name); n > MaxBlobName {
		// Storage never names a blob so; a host or tool that does gets a
		// permanent, recorded answer rather than endless retries.
		res.Status = tinyhead.IngestFailed
		perm := &PermanentError{Source: res.Source, Reason: fmt.Sprintf("the blob name has %d characters; at most %d are allowed", n, MaxBlobName)}
		if err := p.finish(ctx, res, perm.Reason); err != nil {
			return res, err
		}
		return res, perm
	}
	err = p.attempt(ctx, start, container, name, body, rec, &res)
	var perm *PermanentError
	if err != nil && !errors.As(err, &perm) {
		// Transient (storage, database, cancellation): the record stays
		// "running" and the host's retry resumes; batches already written
		// are kept and their embeddings are reused by content hash. The
		// lease is given up, so that the retry need not wait for it.
		p.release(ctx, rec)
	}
	return res, err
}

// attempt ingests the version whose lease rec holds and records the
// outcome, except after a transient error.
func (p *Pipeline) attempt(ctx context.Context, start time.Time, container, name string, body io.Reader, rec tinyhead.Ingest, res *Result) error {
	err := p.runLeased(ctx, container, name, body, rec, res)
	res.Elapsed = time.Since(start)
	var fileErr *docparse.FileError
	switch {
	case errors.Is(err, tinyhead.ErrSuperseded):
		return p.superseded(ctx, res)
	case errors.As(err, &fileErr):
		res.Status = tinyhead.IngestFailed
		perm := &PermanentError{Source: res.Source, Reason: fileErr.Reason}
		if ferr := p.finish(ctx, *res, perm.Reason); ferr != nil {
			return ferr
		}
		return perm
	case err != nil:
		return err
	}
	res.Status = tinyhead.IngestDone
	if err := p.finish(ctx, *res, rejectionSummary(*res)); err != nil {
		return err
	}
	p.log().Info("ingested blob", "source", res.Source, "etag", res.ETag, "rows_ok", res.RowsOK,
		"rows_rejected", res.RowsRejected, "embedded", res.Embedded, "pruned", res.Pruned,
		"elapsed", res.Elapsed.Round(time.Millisecond))
	return nil
}

// claim begins an attempt at v. Should another version with the same
// LastModified (which has a resolution of one second) hold the claim, it
// asks the blob storage which is newer: if the blob is still v, v
// replaced the claimed version and overtakes it; if not, a newer version
// than both exists, and v stays superseded.
func (p *Pipeline) claim(ctx context.Context, container, name string, v tinyhead.BlobVersion) (tinyhead.Ingest, error) {
	for range 3 { // a tie is resolved at once unless the blob keeps changing
		rec, err := p.begin(ctx, v)
		if err != nil || rec.Status != tinyhead.IngestSuperseded || v.Overtakes == rec.Claimed.ETag ||
			!rec.Claimed.Modified.Equal(v.Normalized().Modified) {
			return rec, err
		}
		cur, err := p.Blobs.Props(ctx, container, name)
		switch {
		case errors.Is(err, tinyhead.ErrNotFound):
			return rec, nil // deleted since: a later version wins anyway
		case err != nil:
			return rec, fmt.Errorf("read the current version to order two versions of the same second: %w", err)
		case cur.ETag != v.ETag:
			return rec, nil
		}
		p.log().Info("the blob's current version overtakes another of the same second", "source", v.Source,
			"etag", v.ETag, "overtaken", rec.Claimed.ETag, "last_modified", v.Modified)
		v.Overtakes = rec.Claimed.ETag
	}
	return p.begin(ctx, v)
}

// begin starts an attempt at v, waiting while another attempt holds the
// version's lease: it either finishes (the record then says so) or stops
// renewing its lease (it crashed), and this attempt takes over.
func (p *Pipeline) begin(ctx context.Context, v tinyhead.BlobVersion) (tinyhead.Ingest, error) {
	poll, maxWait := orDefault(p.BusyPoll, 2*time.Second), orDefault(p.MaxWait, 10*time.Minute)
	deadline := time.Now().Add(maxWait)
	for logged := false; ; logged = true {
		rec, err := p.Store.BeginIngest(ctx, v, p.lease())
		if !errors.Is(err, tinyhead.ErrIngestBusy) {
			return rec, err
		}
		if !logged {
			p.log().Info("another attempt is ingesting this blob version; waiting for it", "source", v.Source,
				"etag", v.ETag, "lease_until", rec.LeaseUntil)
		}
		if time.Now().Add(poll).After(deadline) {
			return rec, fmt.Errorf("waited %v: %w", maxWait, err)
		}
		if err := sleep(ctx, poll); err != nil {
			return rec, err
		}
	}
}

// superseded records that a newer version of the blob was claimed while
// this attempt ran: it wrote nothing after that, and the invocation
// succeeds, since no retry could do better.
func (p *Pipeline) superseded(ctx context.Context, res *Result) error {
	res.Status = tinyhead.IngestSuperseded
	if err := p.finish(ctx, *res, "a newer version of the blob was claimed; this one stopped"); err != nil {
		return err
	}
	p.log().Info("a newer version of the blob was claimed; stopped", "source", res.Source, "etag", res.ETag,
		"rows_written", res.RowsOK, "elapsed", res.Elapsed.Round(time.Millisecond))
	return nil
}

// runLeased runs the pipeline and the final prune while renewing the
// attempt's lease; losing the lease (superseded, or taken over) stops it.
func (p *Pipeline) runLeased(ctx context.Context, container, name string, body io.Reader, rec tinyhead.Ingest, res *Result) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := make(chan struct{})
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		if err := p.renew(ctx, rec, stop); err != nil {
			cancel(err)
		}
	}()
	var err error
	prog := p.progress(ctx, res, rec.Attempts)
	if IsLabelsFile(name) {
		err = p.runLabels(ctx, container, name, body, res, prog) // it has no rows to prune
	} else if err = p.run(ctx, container, name, body, res, prog); err == nil {
		var perr error
		if res.Pruned, perr = p.Store.PruneSource(ctx, res.Source, res.ETag); perr != nil {
			err = fmt.Errorf("remove rows of older versions of %s: %w", res.Source, perr)
		}
	}
	close(stop)
	<-renewed
	if cause := context.Cause(ctx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		return cause // the lease was lost: that is why the pipeline stopped
	}
	return err
}

// renew extends the attempt's lease every third of it until stop closes.
func (p *Pipeline) renew(ctx context.Context, rec tinyhead.Ingest, stop <-chan struct{}) error {
	t := time.NewTicker(max(p.lease()/3, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return nil
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := p.Store.RenewIngest(ctx, rec.Source, rec.ETag, rec.Attempts, p.lease()); err != nil {
				return fmt.Errorf("keep the lease on %s version %s: %w", rec.Source, rec.ETag, err)
			}
		}
	}
}

// release gives up the attempt's lease (best effort: if it fails, the
// lease expires by itself), even when ctx was canceled.
func (p *Pipeline) release(ctx context.Context, rec tinyhead.Ingest) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := p.Store.RenewIngest(ctx, rec.Source, rec.ETag, rec.Attempts, 0); err != nil {
		p.log().Warn("could not give up the lease; a retry waits for it to expire", "source", rec.Source,
			"etag", rec.ETag, "error", err)
	}
}

func (p *Pipeline) lease() time.Duration { return orDefault(p.Lease, DefaultLease) }

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// sleep waits for d, or returns ctx's error once it is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Pipeline) finish(ctx context.Context, res Result, msg string) error {
	err := p.Store.FinishIngest(ctx, tinyhead.Ingest{
		Source: res.Source, ETag: res.ETag, Status: res.Status,
		RowsOK: res.RowsOK, RowsRejected: res.RowsRejected, Error: msg,
	})
	if err != nil {
		return fmt.Errorf("record outcome of %s: %w", res.Source, err)
	}
	return nil
}

func rejectionSummary(res Result) string {
	if res.RowsRejected == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d rows rejected", res.RowsRejected)
	for _, r := range res.Rejections {
		fmt.Fprintf(&b, "; row %d: %s", r.Row, r.Reason)
	}
	if len(res.Rejections) < res.RowsRejected {
		b.WriteString("; …")
	}
	return b.String()
}

func (p *Pipeline) log() *slog.Logger {
	if p.Log == nil {
		return slog.Default()
	}
	return p.Log
}

// batch is a group of rows travelling down the pipeline.
type batch struct {
	items []docparse.Item
	docs  []tinyhead.Document
}

// run is the three-stage pipeline: parse → embed → write. Each stage is a
// goroutine; channels of one batch keep at most a few batches in memory.
func (p *Pipeline) run(ctx context.Context, container, name string, body io.Reader, res *Result, prog *progress) error {
	size := p.BatchSize
	if size <= 0 {
		size = 256
	}
	g, ctx := errgroup.WithContext(ctx)
	toEmbed := make(chan *batch, 1)
	toWrite := make(chan *batch, 1)

	g.Go(func() error {
		defer close(toEmbed)
		cur := &batch{}
		// seen (id → row of its first good row) is the one duplicate-id
		// check, for every format. It belongs here rather than in docparse:
		// the store upserts on (source, id), and an id the file does not give
		// becomes "#<row>" only here, so only here can an explicit "#3" be
		// seen to collide with the unnamed row 3 (the later row would
		// silently overwrite the earlier one).
		seen := map[string]int{}
		emit := func(it docparse.Item) error {
			if it.ID == "" {
				it.ID = "#" + strconv.Itoa(it.Row)
			}
			if first, dup := seen[it.ID]; dup {
				p.reject(res, docparse.RowError{File: res.Source, Row: it.Row,
					Reason: fmt.Sprintf("duplicate id %q (first at row %d)", it.ID, first)})
				return nil
			}
			seen[it.ID] = it.Row
			cur.items = append(cur.items, it)
			if len(cur.items) == size {
				if err := send(ctx, toEmbed, cur); err != nil {
					return err
				}
				cur = &batch{}
			}
			return nil
		}
		reject := func(re docparse.RowError) {
			re.File = res.Source // the parser knows the name in the container only
			p.reject(res, re)
		}
		if err := docparse.Parse(ctx, name, body, p.Parse, emit, reject); err != nil {
			return err
		}
		if len(cur.items) > 0 {
			return send(ctx, toEmbed, cur)
		}
		return nil
	})

	g.Go(func() error {
		defer close(toWrite)
		recent := map[string]*vectorCache{}
		for _, e := range p.Embedders {
			recent[e.ModelID()] = newVectorCache(4 * size)
		}
		for b := range toEmbed {
			n, err := p.embed(ctx, res, b, recent)
			if err != nil {
				return err
			}
			res.Embedded += n
			if err := send(ctx, toWrite, b); err != nil {
				return err
			}
		}
		return nil
	})

	g.Go(func() error {
		for b := range toWrite {
			// The sketches go first: a document that is stored has its
			// sketch, and a crash in between leaves only a sketch that the
			// retry rewrites.
			if err := p.Store.PutSketches(ctx, sketch.Version, Sketches(b.docs)); err != nil {
				return fmt.Errorf("store the sketches of rows of %s: %w", res.Source, err)
			}
			if err := p.Store.PutDocuments(ctx, b.docs); err != nil {
				return fmt.Errorf("store rows of %s: %w", res.Source, err)
			}
			res.RowsOK += len(b.docs)
			prog.add(len(b.docs))
		}
		return nil
	})
	return g.Wait()
}

// send hands b to the next stage, or gives up once ctx is done (another
// stage failed, or the caller cancelled).
func send(ctx context.Context, next chan<- *batch, b *batch) error {
	select {
	case next <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reject counts a bad row and keeps the first few for the report. Only the
// parse stage calls it, so it needs no lock.
func (p *Pipeline) reject(res *Result, re docparse.RowError) {
	res.RowsRejected++
	if len(res.Rejections) < MaxReportedRejections {
		res.Rejections = append(res.Rejections, re)
		p.log().Warn("row rejected", "file", re.File, "row", re.Row, "reason", re.Reason)
	}
}

// embed fills b.docs with a vector of each of p.Embedders for every row.
// It returns how many texts went through a model.
func (p *Pipeline) embed(ctx context.Context, res *Result, b *batch, recent map[string]*vectorCache) (int, error) {
	if len(p.Embedders) == 0 {
		return 0, errors.New("no embedding model configured")
	}
	hashes := make([]string, len(b.items))
	b.docs = make([]tinyhead.Document, len(b.items))
	for i, it := range b.items {
		hashes[i] = tinyhead.ContentHash(it.Text)
		b.docs[i] = tinyhead.Document{
			Source:        res.Source,
			Item:          it.ID,
			SourceVersion: res.ETag,
			ContentHash:   hashes[i],
			Text:          it.Text,
			Embeddings:    make(map[string][]float32, len(p.Embedders)),
			Labels:        it.Labels,
			Group:         it.Group,
			Test:          it.Test,
		}
	}
	n := 0
	for _, e := range p.Embedders {
		vecs, m, err := p.embedWith(ctx, res, e, b.items, hashes, recent[e.ModelID()])
		if err != nil {
			return n, err
		}
		n += m
		for i := range b.docs {
			b.docs[i].Embeddings[e.ModelID()] = vecs[i]
		}
	}
	return n, nil
}

// embedWith returns e's vector of every item, embedding only the texts
// whose content hash has no stored (or recently computed) vector of e's
// model, and how many texts it embedded.
func (p *Pipeline) embedWith(ctx context.Context, res *Result, e tinyhead.Embedder, items []docparse.Item, hashes []string, recent *vectorCache) ([][]float32, int, error) {
	model := e.ModelID()
	var lookup []string
	for _, h := range hashes {
		if recent.get(h) == nil {
			lookup = append(lookup, h)
		}
	}
	known, err := p.Store.EmbeddingsByHash(ctx, model, lookup)
	if err != nil {
		return nil, 0, fmt.Errorf("look up known embeddings for %s (model %s): %w", res.Source, model, err)
	}
	vecs := make([][]float32, len(items))
	var texts []string
	var todo []int
	pending := map[string]int{} // hash → index in texts, for repeats inside the batch
	for i, h := range hashes {
		if v := recent.get(h); v != nil {
			vecs[i] = v
		} else if v := known[h]; v != nil {
			vecs[i] = v
		} else {
			if _, ok := pending[h]; !ok {
				pending[h] = len(texts)
				texts = append(texts, items[i].Text)
			}
			todo = append(todo, i)
		}
	}
	if len(texts) > 0 {
		out, err := e.Embed(ctx, texts)
		if err != nil {
			return nil, 0, fmt.Errorf("embed rows of %s with %s: %w", res.Source, model, err)
		}
		if len(out) != len(texts) {
			return nil, 0, fmt.Errorf("embed rows of %s: model returned %d vectors for %d texts (%s)", res.Source, len(out), len(texts), model)
		}
		for _, i := range todo {
			vecs[i] = out[pending[hashes[i]]]
		}
	}
	for i, h := range hashes {
		recent.put(h, vecs[i])
	}
	return vecs, len(texts), nil
}
