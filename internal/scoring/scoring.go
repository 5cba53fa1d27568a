// Package scoring runs a task's current model over the stored embeddings
// and writes the predictions table (batch scoring), and ranks unlabelled
// documents by the model's uncertainty (what to label next).
//
// Scoring reads embeddings a page at a time and runs the head in Go
// (registry.GoRuntime): no embedding model is involved, so it is bound by
// reading the store. It is incremental — only documents the current
// version has not scored since they were last written — and time-boxed:
// it stops shortly before the request's deadline, says how many documents
// remain, and the next call carries on where it stopped.
package scoring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tinyhead/tinyhead/internal/registry"
	"github.com/tinyhead/tinyhead/internal/sketch"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// Models is where the current versions are read; a *registry.Registry
// whose Runtime is registry.GoRuntime implements it.
type Models interface {
	Current(ctx context.Context, task string) (cur registry.Current, etag string, err error)
	LoadHead(ctx context.Context, task, version string) (*registry.Head, error)
}

// Store is what scoring reads and writes: the predictions table, and the
// documents' sketches for heads that read them.
type Store interface {
	tinyhead.Predictions
	tinyhead.SketchStore
}

// Service scores stored documents with the tasks' current models.
type Service struct {
	Store  Store
	Models Models
	Log    *slog.Logger
	// Reserve is how long before the context's deadline scoring stops, to
	// leave time to count what remains and answer (default DefaultReserve).
	Reserve time.Duration
	// pages keeps the pages of finished calls for the next: a page's
	// buffers are megabytes, and allocating them cleared and faulted in
	// fresh memory on the scan's goroutine, the slower of the two.
	pages sync.Pool
}

// DefaultReserve is Service.Reserve's default.
const DefaultReserve = 15 * time.Second

// Request is a scoring request.
type Request struct {
	// All rescores every document, not only those the current version has
	// not scored: the task's predictions are deleted first.
	All bool `json:"all,omitempty"`
}

// Result says what a scoring call did.
type Result struct {
	Task           string `json:"task"`
	Version        string `json:"version"`
	EmbeddingModel string `json:"embedding_model"`
	// Scored documents in this call; Remaining is what is left to score
	// by this version (0 when Done).
	Scored    int  `json:"scored"`
	Remaining int  `json:"remaining"`
	Done      bool `json:"done"`
	// Removed is the number of predictions of other versions deleted once
	// every document was scored (or, with All, before starting).
	Removed       int     `json:"removed"`
	Seconds       float64 `json:"seconds"`
	DocsPerSecond float64 `json:"docs_per_second"`
	Message       string  `json:"message"`
}

// errTimeBox stops a scan at the time box.
var errTimeBox = errors.New("time box reached")

// Score scores the task's stored documents with its current version (see
// the package comment) and deletes the predictions of other versions once
// every document has one of the current version.
func (s *Service) Score(ctx context.Context, task string, req Request) (*Result, error) {
	start := time.Now()
	h, err := s.current(ctx, task)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	man := h.Manifest
	res := &Result{Task: task, Version: h.Version, EmbeddingModel: man.EmbeddingModel}
	if req.All {
		if res.Removed, err = s.Store.DeletePredictions(ctx, task, ""); err != nil {
			return nil, err
		}
	}
	stopAt := time.Time{}
	if d, ok := ctx.Deadline(); ok {
		stopAt = d.Add(-s.reserve())
	}
	// A head that reads sketches gets each document's with its vector;
	// documents stored before sketches existed get theirs when the scan
	// first meets one (see scorer.sketches).
	if man.Sketch != "" && man.Sketch != sketch.Version {
		return nil, tinyhead.Errorf(tinyhead.ErrUnprocessable, "model %s/%s reads %s sketches, but this app computes %s; retrain it",
			task, h.Version, man.Sketch, sketch.Version)
	}
	sc := newScorer(ctx, task, h, s.Store)
	w := s.startWorker(ctx, sc)
	// Every page is read after this, whatever snapshot the store reads it
	// from (SQLite reads several pages in one): a document rewritten after
	// it is scored again.
	readAt := time.Now()
	err = s.Store.ScanUnscored(ctx, task, h.Version, man.EmbeddingModel, man.Sketch, func(rows []tinyhead.ScoreRow) error {
		pg, err := w.page()
		if err != nil {
			return err
		}
		if err := sc.gather(rows, readAt, pg); err != nil {
			return err
		}
		w.put(pg)
		if !stopAt.IsZero() && time.Now().After(stopAt) {
			return errTimeBox
		}
		return nil
	})
	var werr error
	res.Scored, werr = w.close()
	w.release(&s.pages)
	if werr != nil && (err == nil || errors.Is(err, errTimeBox) || errors.Is(err, errWorkerFailed)) {
		err = werr // the worker's failure is the reason the scan stopped, or came after its end
	}
	switch {
	case errors.Is(err, errTimeBox):
		if res.Remaining, err = s.Store.CountUnscored(ctx, task, h.Version, man.EmbeddingModel); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("score task %s with version %s (%d documents scored before the failure are kept): %w", task, h.Version, res.Scored, err)
	default:
		res.Done = true
		removed, err := s.Store.DeletePredictions(ctx, task, h.Version)
		if err != nil {
			return nil, err
		}
		res.Removed += removed
	}
	res.Seconds = time.Since(start).Seconds()
	if res.Seconds > 0 {
		res.DocsPerSecond = float64(res.Scored) / res.Seconds
	}
	res.Message = fmt.Sprintf("scored %d documents of task %s with version %s in %.1f s", res.Scored, task, h.Version, res.Seconds)
	if !res.Done {
		res.Message += fmt.Sprintf("; stopped before the request's deadline with %d documents left: call again (without \"all\") to carry on", res.Remaining)
	}
	s.log().Info("scored", "task", task, "version", h.Version, "scored", res.Scored, "remaining", res.Remaining,
		"removed", res.Removed, "seconds", res.Seconds, "docs_per_second", res.DocsPerSecond)
	return res, nil
}

// worker runs the head over pages and writes their predictions in the
// background, while the scan reads the next page: reading takes about as
// long as running the head and writing together, and SQLite's WAL lets a
// reader run beside the writer. Pages cycle through free, so that their
// buffers are reused.
type worker struct {
	pages  chan *page
	free   chan *page
	done   chan struct{}
	failed atomic.Bool
	err    error // set before done closes
	scored int   // rows written, set before done closes
}

// page is a page of documents to score, copied out of the scan's buffers.
type page struct {
	ids []int64
	x   []float32 // the embeddings, one row after another
	// enc holds the rows' encoded sketches back to back for a head that
	// reads them (row i's end at encEnd[i]), unless missing: some document
	// had none. The worker decodes them (scorer.sketches): the scan's
	// goroutine, the slower of the two, only copies them.
	enc     []byte
	encEnd  []int
	missing bool
	readAt  time.Time // before the page was read: its predictions' ScoredAt
}

// pagesInFlight is one page being filled, one queued, one being scored.
const pagesInFlight = 3

func (s *Service) startWorker(ctx context.Context, sc *scorer) *worker {
	w := &worker{pages: make(chan *page, 1), free: make(chan *page, pagesInFlight), done: make(chan struct{})}
	for range pagesInFlight {
		pg, _ := s.pages.Get().(*page)
		if pg == nil {
			pg = &page{}
		}
		w.free <- pg
	}
	go func() {
		defer close(w.done)
		for pg := range w.pages {
			if w.err == nil {
				w.err = w.run(ctx, sc, s.Store, pg)
				if w.err != nil {
					w.failed.Store(true)
				}
			}
			w.free <- pg // after a failure, drain: the scan stops at its next page
		}
	}()
	return w
}

func (w *worker) run(ctx context.Context, sc *scorer, store tinyhead.Predictions, pg *page) error {
	preds, err := sc.score(pg)
	if err != nil {
		return err
	}
	if err := store.PutPredictions(ctx, preds); err != nil {
		return err
	}
	w.scored += len(preds)
	return nil
}

// errWorkerFailed stops the scan; close returns the worker's own error.
var errWorkerFailed = errors.New("scoring or writing predictions failed")

// page returns a free page to fill (waiting while every page is queued or
// being scored); it fails once the worker has failed.
func (w *worker) page() (*page, error) {
	pg := <-w.free
	if w.failed.Load() {
		w.free <- pg
		return nil, errWorkerFailed
	}
	return pg, nil
}

// put queues a filled page.
func (w *worker) put(pg *page) { w.pages <- pg }

// close waits for the queued pages and returns the rows written and the
// first error.
func (w *worker) close() (int, error) {
	close(w.pages)
	<-w.done
	return w.scored, w.err
}

// release puts the pages back in pool once the worker is closed: those
// free (a page the scan took and did not queue, as it failed, is left).
func (w *worker) release(pool *sync.Pool) {
	for {
		select {
		case pg := <-w.free:
			pool.Put(pg)
		default:
			return
		}
	}
}

// current loads the task's current version.
func (s *Service) current(ctx context.Context, task string) (*registry.Head, error) {
	if err := tinyhead.CheckTaskName(task); err != nil {
		return nil, err
	}
	cur, _, err := s.Models.Current(ctx, task)
	if errors.Is(err, tinyhead.ErrNotFound) {
		return nil, tinyhead.Errorf(tinyhead.ErrNotFound, "task %q has no trained model yet (POST /api/train/%s first)", task, task)
	}
	if err != nil {
		return nil, err
	}
	return registry.LoadCurrentHead(ctx, s.Models.LoadHead, task, cur.Version)
}

func (s *Service) reserve() time.Duration {
	if s.Reserve <= 0 {
		return DefaultReserve
	}
	return s.Reserve
}

func (s *Service) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

// scorer turns pages of embeddings into predictions with one head: gather
// runs on the scan's goroutine, score on the worker's, which reuses the
// JSON and sketch buffers from page to page.
type scorer struct {
	ctx    context.Context
	store  tinyhead.SketchStore
	task   string
	head   *registry.Head
	dim    int
	labels []string
	quoted [][]byte // each label as a JSON string
	json   []byte
	sk     sketch.Batch // the page's sketches, decoded by the worker
	// backfilled: the worker has computed the missing sketches.
	backfilled bool
}

func newScorer(ctx context.Context, task string, h *registry.Head, store tinyhead.SketchStore) *scorer {
	sc := &scorer{ctx: ctx, store: store, task: task, head: h, dim: h.Manifest.EmbeddingDim, labels: h.Manifest.Labels}
	for _, l := range sc.labels {
		q, _ := json.Marshal(l) // a string always encodes
		sc.quoted = append(sc.quoted, q)
	}
	return sc
}

// gather copies the scan's rows into pg. An embedding of another size
// than the model's is an error naming the document: the data, not the
// request, is at fault.
func (sc *scorer) gather(rows []tinyhead.ScoreRow, readAt time.Time, pg *page) error {
	pg.ids, pg.x, pg.enc, pg.encEnd = pg.ids[:0], pg.x[:0], pg.enc[:0], pg.encEnd[:0]
	pg.readAt, pg.missing = readAt, false
	withSketch := sc.head.Manifest.Sketch != ""
	// Sized once for the page: grown row by row, a page's megabytes of
	// vectors and sketches were copied several times.
	pg.ids = slices.Grow(pg.ids, len(rows))
	pg.x = slices.Grow(pg.x, len(rows)*sc.dim)
	if withSketch {
		size := 0
		for _, r := range rows {
			size += len(r.Sketch)
		}
		pg.enc = slices.Grow(pg.enc, size)
		pg.encEnd = slices.Grow(pg.encEnd, len(rows))
	}
	for _, r := range rows {
		if len(r.Embedding) != sc.dim {
			return fmt.Errorf("document %d has a %d-d embedding; model %s/%s takes %d", r.ID, len(r.Embedding), sc.task, sc.head.Version, sc.dim)
		}
		pg.ids = append(pg.ids, r.ID)
		pg.x = append(pg.x, r.Embedding...)
		if withSketch && !pg.missing {
			pg.missing = !r.HasSketch
			pg.enc = append(pg.enc, r.Sketch...)
			pg.encEnd = append(pg.encEnd, len(pg.enc))
		}
	}
	return nil
}

// score predicts a page.
func (sc *scorer) score(pg *page) ([]tinyhead.Prediction, error) {
	if err := sc.sketches(pg); err != nil {
		return nil, err
	}
	n := len(pg.ids)
	probs, err := sc.head.Predict(pg.x, sc.sk, n)
	if err != nil {
		return nil, fmt.Errorf("run model %s/%s: %w", sc.task, sc.head.Version, err)
	}
	classes := len(sc.labels)
	preds := make([]tinyhead.Prediction, n)
	for i, id := range pg.ids {
		p := probs[i*classes : (i+1)*classes]
		// The version's own decision (a binary task's threshold), as
		// Classify answers, and its distance from changing.
		label := sc.head.Manifest.Decide(p)
		preds[i] = tinyhead.Prediction{
			DocumentID: id, Task: sc.task, Version: sc.head.Version, Label: sc.labels[label],
			Probability: float64(p[label]), Margin: sc.head.Manifest.Margin(p), Probabilities: sc.vector(p), ScoredAt: pg.readAt,
		}
	}
	return preds, nil
}

// vector writes the probabilities as a JSON object, each to float32's
// shortest exact form.
func (sc *scorer) vector(p []float32) string {
	b := append(sc.json[:0], '{')
	for k, v := range p {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, sc.quoted[k]...)
		b = append(b, ':')
		b = strconv.AppendFloat(b, float64(v), 'g', -1, 32)
	}
	b = append(b, '}')
	sc.json = b
	return string(b)
}

// sketches decodes the page's sketches into sc.sk for a head that reads
// them.
// Where a document had none stored, the first time, documents stored
// before sketches existed get theirs (a backfill of every document),
// then the page's are read again.
func (sc *scorer) sketches(pg *page) error {
	sc.sk.Reset()
	if sc.head.Manifest.Sketch == "" {
		return nil
	}
	if pg.missing {
		if !sc.backfilled {
			if _, err := sketch.Backfill(sc.ctx, sc.store, ""); err != nil {
				return fmt.Errorf("score task %s: %w", sc.task, err)
			}
			sc.backfilled = true
		}
		return sketch.ReadByID(sc.ctx, sc.store, pg.ids, &sc.sk)
	}
	sc.sk.Grow(len(pg.ids), len(pg.enc)/sketch.EntrySize)
	start := 0
	for i, end := range pg.encEnd {
		if err := sc.sk.AppendEncoded(pg.enc[start:end]); err != nil {
			return fmt.Errorf("document %d: %w", pg.ids[i], err)
		}
		start = end
	}
	return nil
}
