package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// The host gives a custom handler 60 s to start listening, but opening the
// services can take longer: a serverless Azure SQL database that has paused
// takes about a minute to resume, and the first connection attempts fail
// meanwhile (as do storage requests while a new role assignment
// propagates). So serve listens at once and opens the services behind a
// gate: invocations that arrive early wait for them (the host's own timeout
// still applies), and opening is retried for up to openPatience before the
// process gives up and exits, so that the host restarts it. A missing file
// or a bad setting fails at once.
const (
	openPatience   = 4 * time.Minute
	openFirstDelay = 2 * time.Second
	openMaxDelay   = 20 * time.Second
)

// gate is an http.Handler that holds requests until the real handler is
// ready, and answers 503 to them if it could not be made ready.
type gate struct {
	ready chan struct{} // closed once h or err is set
	once  sync.Once
	h     http.Handler
	err   error
}

func newGate() *gate { return &gate{ready: make(chan struct{})} }

// open sets the handler, or the error that prevents it; only the first
// call counts.
func (g *gate) open(h http.Handler, err error) {
	g.once.Do(func() {
		g.h, g.err = h, err
		close(g.ready)
	})
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/" {
		// The host's probe: listening is what it asks; say how far we are.
		select {
		case <-g.ready:
		default:
			fmt.Fprintln(w, "tinyhead starting")
			return
		}
	}
	select {
	case <-g.ready:
	case <-r.Context().Done():
		return
	}
	if g.err != nil {
		http.Error(w, "tinyhead could not start: "+g.err.Error(), http.StatusServiceUnavailable)
		return
	}
	g.h.ServeHTTP(w, r)
}

// unavailable marks a start-up error worth retrying: a service that
// is not reachable yet (a database resuming, a role assignment still
// propagating), as opposed to a missing file or a bad setting.
type unavailable struct{ err error }

func (u unavailable) Error() string { return u.err.Error() }
func (u unavailable) Unwrap() error { return u.err }

// openWithRetry calls open until it succeeds, fails with an error that is
// not unavailable, ctx ends or patience runs out, waiting longer after each
// failure (doubling from first up to max).
func openWithRetry[T any](ctx context.Context, log *slog.Logger, patience, first, max time.Duration, open func(context.Context) (T, error)) (T, error) {
	deadline := time.Now().Add(patience)
	delay := first
	for attempt := 1; ; attempt++ {
		v, err := open(ctx)
		if err == nil {
			return v, nil
		}
		var zero T
		if !errors.As(err, new(unavailable)) {
			return zero, fmt.Errorf("open services: %w", err)
		}
		if ctx.Err() != nil {
			return zero, fmt.Errorf("open services: %w (last attempt: %v)", ctx.Err(), err)
		}
		if time.Now().Add(delay).After(deadline) {
			return zero, fmt.Errorf("open services (%d attempts in %v): %w", attempt, patience, err)
		}
		log.Warn("services not ready; retrying", "attempt", attempt, "in", delay, "error", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return zero, fmt.Errorf("open services: %w (last attempt: %v)", ctx.Err(), err)
		case <-t.C:
		}
		delay = min(2*delay, max)
	}
}
