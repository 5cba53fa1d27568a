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

	"golang.org/x/sync/errgroup"

	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/docparse"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// Opener streams a blob; *blobstore.Client implements it.
type Opener interface {
	Open(ctx context.Context, container, name string) (io.ReadCloser, blobstore.Props, error)
}

// Store is what ingest records in the database; sqlstore.Store and
// inmem.Store implement it.
type Store interface {
	// BeginIngest counts an attempt at a blob version and returns its
	// record (done or failed: nothing more to do).
	BeginIngest(ctx context.Context, source, etag string) (tinyhead.Ingest, error)
	// FinishIngest stores the outcome of an attempt.
	FinishIngest(ctx context.Context, in tinyhead.Ingest) error
	// EmbeddingsByHash returns the known embeddings of model among hashes.
	EmbeddingsByHash(ctx context.Context, model string, hashes []string) (map[string][]float32, error)
	// PutDocuments upserts documents and their labels in one transaction.
	PutDocuments(ctx context.Context, docs []tinyhead.Document) error
	// PruneSource deletes the documents of source not written by keepVersion.
	PruneSource(ctx context.Context, source, keepVersion string) (deleted int, err error)
}

// Pipeline ingests blobs. Its fields are its dependencies and settings; the
// zero values of the settings are sane defaults.
type Pipeline struct {
	Blobs    Opener
	Store    Store
	Embedder tinyhead.Embedder
	Log      *slog.Logger

	// BatchSize is the number of rows embedded and written per transaction
	// (default 256).
	BatchSize int
	// Parse bounds row and file sizes.
	Parse docparse.Options
	// ProgressEvery is how often a long ingest logs its rate (default 5 s).
	ProgressEvery time.Duration
}

// MaxReportedRejections bounds how many rejected rows a Result lists and
// the ingest record keeps; the counts are always complete.
const MaxReportedRejections = 50

// Result is the outcome of one ingest.
type Result struct {
	Source       string // container/name
	ETag         string
	Status       tinyhead.IngestStatus
	Redelivery   bool // this version was already ingested; nothing was done
	RowsOK       int
	RowsRejected int
	Embedded     int // texts run through the model; the others reused a stored embedding
	Pruned       int // rows of an older version of the blob that were deleted
	Rejections   []docparse.RowError
	Elapsed      time.Duration
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
	res.ETag = props.ETag

	rec, err := p.Store.BeginIngest(ctx, res.Source, res.ETag)
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
	}

	err = p.run(ctx, container, name, body, &res)
	res.Elapsed = time.Since(start)
	var fileErr *docparse.FileError
	switch {
	case errors.As(err, &fileErr):
		res.Status = tinyhead.IngestFailed
		perm := &PermanentError{Source: res.Source, Reason: fileErr.Reason}
		if ferr := p.finish(ctx, res, perm.Reason); ferr != nil {
			return res, ferr
		}
		return res, perm
	case err != nil:
		// Transient (storage, database, cancellation): the record stays
		// "running" and the host's retry resumes; batches already written
		// are kept and their embeddings are reused by content hash.
		return res, err
	}
	if res.Pruned, err = p.Store.PruneSource(ctx, res.Source, res.ETag); err != nil {
		return res, fmt.Errorf("remove rows of older versions of %s: %w", res.Source, err)
	}
	res.Status = tinyhead.IngestDone
	if err := p.finish(ctx, res, rejectionSummary(res)); err != nil {
		return res, err
	}
	p.log().Info("ingested blob", "source", res.Source, "etag", res.ETag, "rows_ok", res.RowsOK,
		"rows_rejected", res.RowsRejected, "embedded", res.Embedded, "pruned", res.Pruned,
		"elapsed", res.Elapsed.Round(time.Millisecond))
	return res, nil
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
func (p *Pipeline) run(ctx context.Context, container, name string, body io.Reader, res *Result) error {
	size := p.BatchSize
	if size <= 0 {
		size = 256
	}
	g, ctx := errgroup.WithContext(ctx)
	toEmbed := make(chan *batch, 1)
	toWrite := make(chan *batch, 1)
	prog := newProgress(p.log(), res.Source, p.ProgressEvery)

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
		recent := newVectorCache(4 * size)
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

// embed fills b.docs, embedding only the texts whose content hash has no
// stored (or recently computed) embedding for this model. It returns how
// many texts went through the model.
func (p *Pipeline) embed(ctx context.Context, res *Result, b *batch, recent *vectorCache) (int, error) {
	model := p.Embedder.ModelID()
	hashes := make([]string, len(b.items))
	var lookup []string
	for i, it := range b.items {
		hashes[i] = tinyhead.ContentHash(it.Text)
		if recent.get(hashes[i]) == nil {
			lookup = append(lookup, hashes[i])
		}
	}
	known, err := p.Store.EmbeddingsByHash(ctx, model, lookup)
	if err != nil {
		return 0, fmt.Errorf("look up known embeddings for %s: %w", res.Source, err)
	}
	vecs := make([][]float32, len(b.items))
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
				texts = append(texts, b.items[i].Text)
			}
			todo = append(todo, i)
		}
	}
	if len(texts) > 0 {
		out, err := p.Embedder.Embed(ctx, texts)
		if err != nil {
			return 0, fmt.Errorf("embed rows of %s: %w", res.Source, err)
		}
		if len(out) != len(texts) {
			return 0, fmt.Errorf("embed rows of %s: model returned %d vectors for %d texts", res.Source, len(out), len(texts))
		}
		for _, i := range todo {
			vecs[i] = out[pending[hashes[i]]]
		}
	}
	b.docs = make([]tinyhead.Document, len(b.items))
	for i, it := range b.items {
		recent.put(hashes[i], vecs[i])
		b.docs[i] = tinyhead.Document{
			Source:         res.Source,
			Item:           it.ID,
			SourceVersion:  res.ETag,
			ContentHash:    hashes[i],
			Text:           it.Text,
			EmbeddingModel: model,
			Embedding:      vecs[i],
			Labels:         it.Labels,
		}
	}
	return len(texts), nil
}
