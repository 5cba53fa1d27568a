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
	"strconv"
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
	if man.Sketch != "" {
		// The head reads every document's sketch: documents stored before
		// sketches existed get theirs first.
		if man.Sketch != sketch.Version {
			return nil, tinyhead.Errorf(tinyhead.ErrUnprocessable, "model %s/%s reads %s sketches, but this app computes %s; retrain it",
				task, h.Version, man.Sketch, sketch.Version)
		}
		if _, err := sketch.Backfill(ctx, s.Store, ""); err != nil {
			return nil, fmt.Errorf("score task %s: %w", task, err)
		}
	}
	sc := newScorer(ctx, task, h, s.Store)
	w := s.startWriter(ctx)
	readAt := time.Now() // a page is read after this: its documents' ScoredAt
	err = s.Store.ScanUnscored(ctx, task, h.Version, man.EmbeddingModel, func(page []tinyhead.ScoreRow) error {
		preds, err := sc.score(page, readAt)
		if err != nil {
			return err
		}
		if err := w.put(preds); err != nil {
			return err
		}
		if !stopAt.IsZero() && time.Now().After(stopAt) {
			return errTimeBox
		}
		readAt = time.Now()
		return nil
	})
	var werr error
	res.Scored, werr = w.close()
	if werr != nil && (err == nil || errors.Is(err, errTimeBox) || errors.Is(err, errWriteFailed)) {
		err = werr // the write's failure is the reason the scan stopped, or came after its end
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

// writer writes pages of predictions in the background, so that the next
// page is read and scored while one is written: reading and writing each
// take about half of the time, and SQLite's WAL lets a reader run beside
// the writer.
type writer struct {
	pages  chan []tinyhead.Prediction
	done   chan struct{}
	failed atomic.Bool
	err    error // set before done closes
	scored int   // rows written, set before done closes
}

func (s *Service) startWriter(ctx context.Context) *writer {
	w := &writer{pages: make(chan []tinyhead.Prediction, 1), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for preds := range w.pages {
			if w.err != nil {
				continue // drain: the scan stops at its next page
			}
			if w.err = s.Store.PutPredictions(ctx, preds); w.err != nil {
				w.failed.Store(true)
				continue
			}
			w.scored += len(preds)
		}
	}()
	return w
}

// errWriteFailed stops the scan; close returns the write's own error.
var errWriteFailed = errors.New("writing predictions failed")

// put queues a page (waiting while one is being written and another
// queued); it fails once a write has failed.
func (w *writer) put(preds []tinyhead.Prediction) error {
	if w.failed.Load() {
		return errWriteFailed
	}
	w.pages <- preds
	return nil
}

// close waits for the queued pages and returns the rows written and the
// first write error.
func (w *writer) close() (int, error) {
	close(w.pages)
	<-w.done
	return w.scored, w.err
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

// scorer turns pages of embeddings into predictions with one head, reusing
// its buffers from page to page.
type scorer struct {
	ctx    context.Context
	store  tinyhead.SketchStore
	task   string
	head   *registry.Head
	dim    int
	labels []string
	quoted [][]byte // each label as a JSON string
	x      []float32
	json   []byte
}

func newScorer(ctx context.Context, task string, h *registry.Head, store tinyhead.SketchStore) *scorer {
	sc := &scorer{ctx: ctx, store: store, task: task, head: h, dim: h.Manifest.EmbeddingDim, labels: h.Manifest.Labels}
	for _, l := range sc.labels {
		q, _ := json.Marshal(l) // a string always encodes
		sc.quoted = append(sc.quoted, q)
	}
	return sc
}

// score predicts a page. An embedding of another size than the model's is
// an error naming the document: the data, not the request, is at fault.
func (sc *scorer) score(page []tinyhead.ScoreRow, readAt time.Time) ([]tinyhead.Prediction, error) {
	sc.x = sc.x[:0]
	for _, r := range page {
		if len(r.Embedding) != sc.dim {
			return nil, fmt.Errorf("document %d has a %d-d embedding; model %s/%s takes %d", r.ID, len(r.Embedding), sc.task, sc.head.Version, sc.dim)
		}
		sc.x = append(sc.x, r.Embedding...)
	}
	sk, err := sc.sketches(page)
	if err != nil {
		return nil, err
	}
	probs, err := sc.head.Predict(sc.x, sk, len(page))
	if err != nil {
		return nil, fmt.Errorf("run model %s/%s: %w", sc.task, sc.head.Version, err)
	}
	classes := len(sc.labels)
	preds := make([]tinyhead.Prediction, len(page))
	for i, r := range page {
		p := probs[i*classes : (i+1)*classes]
		// The version's own decision (a binary task's threshold), as
		// Classify answers, and its distance from changing.
		label := sc.head.Manifest.Decide(p)
		preds[i] = tinyhead.Prediction{
			DocumentID: r.ID, Task: sc.task, Version: sc.head.Version, Label: sc.labels[label],
			Probability: float64(p[label]), Margin: sc.head.Manifest.Margin(p), Probabilities: sc.vector(p), ScoredAt: readAt,
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

// sketches reads the page's stored sketches, for a head that reads them.
func (sc *scorer) sketches(page []tinyhead.ScoreRow) (sketch.Batch, error) {
	var b sketch.Batch
	if sc.head.Manifest.Sketch == "" {
		return b, nil
	}
	ids := make([]int64, len(page))
	for i, r := range page {
		ids[i] = r.ID
	}
	err := sketch.ReadByID(sc.ctx, sc.store, ids, &b)
	return b, err
}
