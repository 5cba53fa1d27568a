// Package reembed computes, from the stored texts, the embeddings of a
// model for every stored document that lacks one: after a model is added
// to the configuration, tasks can be retrained on it without uploading
// anything again.
//
// A run claims a batch of texts (tinyhead.Backfill.ClaimMissing: texts
// with no vector of the model and no live claim, with a lease), embeds
// them, stores the vectors (a conditional insert, so that a text never
// holds two vectors of one model) and releases the claim; then the next
// batch, until nothing is left or its time box is spent. Runs on several
// instances at once take different batches; a run that crashes leaves its
// batch claimed until the lease runs out, and the next run takes it over.
// So at most one batch's work is ever done twice, and a run can always be
// started again: it continues where the last one stopped.
package reembed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// Defaults of Service.
const (
	DefaultBatchSize     = 128
	DefaultLease         = 2 * time.Minute
	DefaultProgressEvery = 5 * time.Second
)

// Service re-embeds stored texts.
type Service struct {
	Store     tinyhead.Backfill
	Embedders tinyhead.Embedders
	Log       *slog.Logger
	// BatchSize is how many texts a run claims and embeds at a time
	// (default DefaultBatchSize).
	BatchSize int
	// Lease is how long a claim lasts (default DefaultLease): longer than
	// a batch takes, or another run would take the batch over.
	Lease time.Duration
	// ProgressEvery is how often a run logs its progress (default
	// DefaultProgressEvery).
	ProgressEvery time.Duration
}

// Status says how far the embeddings of a model are.
type Status struct {
	Model string `json:"model"`
	tinyhead.EmbeddingProgress
	// Missing texts, some of which other runs may be embedding (Claimed).
	Missing int  `json:"missing"`
	Done    bool `json:"done"`
	// Run is what this call did (nil for a status request).
	Run *Run `json:"run,omitempty"`
}

// Run is the work of one call.
type Run struct {
	Embedded       int     `json:"embedded"` // texts this run embedded
	Stored         int     `json:"stored"`   // of their vectors, those it stored (another run may have been first)
	Batches        int     `json:"batches"`
	Seconds        float64 `json:"seconds"`
	TextsPerSecond float64 `json:"texts_per_second"`
	// Stopped says why the run ended: "done" (nothing left to claim),
	// "time box" (its time ran out: call again), or "claimed by other
	// runs" (what is left is being embedded elsewhere, or was claimed by a
	// run that crashed and is taken over when its lease runs out).
	Stopped string `json:"stopped"`
}

func (s *Service) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

// Status reports the progress of model's embeddings.
func (s *Service) Status(ctx context.Context, model string) (*Status, error) {
	if _, err := s.Embedders.Lookup(model); err != nil {
		return nil, err
	}
	return s.status(ctx, model)
}

func (s *Service) status(ctx context.Context, model string) (*Status, error) {
	p, err := s.Store.EmbeddingProgress(ctx, model)
	if err != nil {
		return nil, err
	}
	return &Status{Model: model, EmbeddingProgress: p, Missing: p.Missing(), Done: p.Missing() == 0}, nil
}

// Run embeds model's missing texts until none is left to claim or until
// deadline, whichever comes first: it starts no batch that it does not
// expect to finish in time (the host's time limit on an HTTP call ends it
// otherwise, and its batch would wait for the lease). It returns the
// status after it, with what it did.
func (s *Service) Run(ctx context.Context, model string, deadline time.Time) (*Status, error) {
	emb, err := s.Embedders.Lookup(model)
	if err != nil {
		return nil, err
	}
	size := s.BatchSize
	if size <= 0 {
		size = DefaultBatchSize
	}
	lease := s.Lease
	if lease <= 0 {
		lease = DefaultLease
	}
	every := s.ProgressEvery
	if every <= 0 {
		every = DefaultProgressEvery
	}
	owner, err := newOwner()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	run := &Run{}
	lastLog := start
	var slowest time.Duration // the longest batch so far: the next may take as long
	after := ""
	for {
		if time.Now().Add(slowest + slowest/2).After(deadline) {
			run.Stopped = "time box"
			break
		}
		t0 := time.Now()
		texts, err := s.Store.ClaimMissing(ctx, model, owner, after, size, lease)
		if err != nil {
			return nil, err
		}
		if len(texts) == 0 {
			break
		}
		in := make([]string, len(texts))
		for i, p := range texts {
			in[i] = p.Text
		}
		vecs, err := emb.Embed(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("re-embed %d texts with %s: %w", len(in), model, err)
		}
		if len(vecs) != len(in) {
			return nil, fmt.Errorf("re-embed with %s: the model returned %d vectors for %d texts", model, len(vecs), len(in))
		}
		hv := make([]tinyhead.HashVector, len(texts))
		for i, p := range texts {
			hv[i] = tinyhead.HashVector{ContentHash: p.ContentHash, Vector: vecs[i]}
		}
		n, err := s.Store.PutEmbeddings(ctx, model, owner, hv)
		if err != nil {
			return nil, err
		}
		run.Embedded += len(texts)
		run.Stored += n
		run.Batches++
		after = texts[len(texts)-1].ContentHash
		slowest = max(slowest, time.Since(t0))
		if time.Since(lastLog) >= every {
			lastLog = time.Now()
			s.logProgress(ctx, model, run, start)
		}
	}
	run.Seconds = time.Since(start).Seconds()
	if run.Seconds > 0 {
		run.TextsPerSecond = float64(run.Embedded) / run.Seconds
	}
	st, err := s.status(ctx, model)
	if err != nil {
		return nil, err
	}
	st.Run = run
	switch {
	case run.Stopped != "":
	case st.Missing == 0:
		run.Stopped = "done"
	default:
		run.Stopped = "claimed by other runs"
	}
	s.log().Info("re-embedding stopped", "model", model, "why", run.Stopped, "embedded", run.Embedded, "stored", run.Stored,
		"texts_per_s", round(run.TextsPerSecond), "done", st.Embedded, "total", st.Texts, "claimed_elsewhere", st.Claimed)
	return st, nil
}

// logProgress logs the run's rate and the model's done/total.
func (s *Service) logProgress(ctx context.Context, model string, run *Run, start time.Time) {
	attrs := []any{"model", model, "embedded", run.Embedded, "texts_per_s", round(float64(run.Embedded) / time.Since(start).Seconds())}
	if p, err := s.Store.EmbeddingProgress(ctx, model); err == nil {
		attrs = append(attrs, "done", p.Embedded, "total", p.Texts)
	}
	s.log().Info("re-embedding", attrs...)
}

func round(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }

// newOwner names a run uniquely: its claims are its own.
func newOwner() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("name the run: %w", err)
	}
	return "run-" + hex.EncodeToString(b[:]), nil
}

// Continue runs, until deadline, the re-embeddings that were started and
// not finished: those of every configured model that has embedded some
// stored texts but not all (NightlyTrain calls it, so that a re-embedding
// nobody called again still completes). It returns the status of each
// model it ran, in configuration order.
func (s *Service) Continue(ctx context.Context, deadline time.Time) ([]*Status, error) {
	var out []*Status
	for _, e := range s.Embedders {
		st, err := s.status(ctx, e.ModelID())
		if err != nil {
			return out, err
		}
		if st.Embedded == 0 || st.Done {
			continue
		}
		if time.Now().After(deadline) {
			break
		}
		if st, err = s.Run(ctx, e.ModelID(), deadline); err != nil {
			return out, err
		}
		out = append(out, st)
	}
	return out, nil
}
