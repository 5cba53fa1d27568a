package ingest

import (
	"log/slog"
	"sync"
	"time"
)

// progress logs the row rate of a long ingest every few seconds, so that a
// user watching a large file sees it move.
type progress struct {
	log    *slog.Logger
	source string
	every  time.Duration

	mu    sync.Mutex
	start time.Time
	last  time.Time
	rows  int
}

func newProgress(log *slog.Logger, source string, every time.Duration) *progress {
	if every <= 0 {
		every = 5 * time.Second
	}
	now := time.Now()
	return &progress{log: log, source: source, every: every, start: now, last: now}
}

func (p *progress) add(rows int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rows += rows
	if now := time.Now(); now.Sub(p.last) >= p.every {
		p.last = now
		p.log.Info("ingest progress", "source", p.source, "rows", p.rows,
			"rows_per_s", int(float64(p.rows)/now.Sub(p.start).Seconds()))
	}
}
