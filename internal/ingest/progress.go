package ingest

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// progress logs the row rate of a long ingest every few seconds, so that a
// user watching a large file sees it move, and records the rows stored so
// far in the version's ingest record (GET /api/ingests shows them).
type progress struct {
	log    *slog.Logger
	source string
	every  time.Duration
	// record writes the rows so far to the ingest record; best effort.
	record func(rows int) error

	mu    sync.Mutex
	start time.Time
	last  time.Time
	rows  int
}

func newProgress(log *slog.Logger, source string, every time.Duration, record func(rows int) error) *progress {
	if every <= 0 {
		every = 5 * time.Second
	}
	now := time.Now()
	return &progress{log: log, source: source, every: every, record: record, start: now, last: now}
}

// progress is the reporter of the attempt whose lease rec holds.
func (p *Pipeline) progress(ctx context.Context, res *Result, attempt int) *progress {
	return newProgress(p.log(), res.Source, p.ProgressEvery, func(rows int) error {
		return p.Store.IngestProgress(ctx, res.Source, res.ETag, attempt, rows)
	})
}

func (p *progress) add(rows int) {
	p.mu.Lock()
	p.rows += rows
	now, total := time.Now(), p.rows
	due := now.Sub(p.last) >= p.every
	if due {
		p.last = now
	}
	p.mu.Unlock()
	if !due {
		return
	}
	p.log.Info("ingest progress", "source", p.source, "rows", total,
		"rows_per_s", int(float64(total)/now.Sub(p.start).Seconds()))
	if p.record != nil {
		if err := p.record(total); err != nil {
			p.log.Warn("could not record the ingest's progress", "source", p.source, "error", err)
		}
	}
}
