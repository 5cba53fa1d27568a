package sqlstore

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// DefaultRetryBudget is how long one store call keeps retrying errors that
// a retry can cure, unless Options say otherwise. A paused serverless Azure
// SQL database takes about a minute to resume and refuses connections
// meanwhile (error 40613), so a call made then waits for it; the Functions
// host answers an HTTP request after at most 230 s, so a request has room
// for one such wait and the rest of its work. A context deadline stops the
// retries earlier.
const DefaultRetryBudget = 90 * time.Second

// Back-off between attempts: the first waits are short, so that two
// deadlocked transactions retry at once without colliding again; later
// ones grow to retryMaxDelay, so that a database that is resuming is asked
// a few times a minute, not hammered.
const (
	retryFirstDelay = 20 * time.Millisecond
	retryMaxDelay   = 10 * time.Second
)

// retrier runs a store call again after errors that a retry can cure:
// exponential back-off with jitter, within a time budget, never past the
// context's deadline, and not at all once the context is done.
type retrier struct {
	budget    time.Duration
	retryable func(error) bool
	// now, sleep and jitter are the clock and the randomness, injected so
	// that tests run without waiting. sleep returns early with ctx's error;
	// jitter returns a duration in [0, d).
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func(d time.Duration) time.Duration
}

func newRetrier(budget time.Duration, retryable func(error) bool) retrier {
	return retrier{
		budget:    budget,
		retryable: retryable,
		now:       time.Now,
		sleep:     sleepCtx,
		jitter:    func(d time.Duration) time.Duration { return rand.N(d + 1) },
	}
}

// do runs fn until it succeeds, fails with an error that retrying cannot
// cure, or the budget (or ctx's deadline) is spent; it returns fn's last
// error. A retryable error it gives up on is marked
// tinyhead.ErrUnavailable: the database may come back, and the caller (an
// HTTP 503, a blob trigger's retry) should try again later. fn must be safe
// to repeat: it is a whole transaction or a single statement.
func (r retrier) do(ctx context.Context, fn func() error) error {
	start := r.now()
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || isContextError(err) || !r.retryable(err) {
			return err
		}
		if ctx.Err() != nil {
			return tinyhead.WithKind(tinyhead.ErrUnavailable, err)
		}
		wait := r.delay(attempt)
		now := r.now()
		if now.Add(wait).Sub(start) > r.budget {
			return tinyhead.Errorf(tinyhead.ErrUnavailable, "%w (gave up after %d attempts in %v)", err, attempt, now.Sub(start).Round(time.Millisecond))
		}
		if deadline, ok := ctx.Deadline(); ok && now.Add(wait).After(deadline) {
			return tinyhead.Errorf(tinyhead.ErrUnavailable, "%w (gave up after %d attempts: the deadline comes first)", err, attempt)
		}
		if r.sleep(ctx, wait) != nil {
			return tinyhead.WithKind(tinyhead.ErrUnavailable, err)
		}
	}
}

// delay is the wait after the attempt-th failure: half of it fixed, half
// random ("equal jitter"), doubling from retryFirstDelay up to
// retryMaxDelay.
func (r retrier) delay(attempt int) time.Duration {
	d := retryMaxDelay
	if attempt < 30 {
		d = min(retryMaxDelay, retryFirstDelay<<(attempt-1))
	}
	return d/2 + r.jitter(d/2)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// lostRaceError marks a duplicate-key error that a retry cures: an upsert
// found no row for its key, and a concurrent writer inserted the key before
// this one could. The retry finds the row and updates it. (A duplicate key
// anywhere else is a genuine duplicate, and is not retried.)
type lostRaceError struct{ err error }

func (e lostRaceError) Error() string { return "lost an insert race: " + e.err.Error() }
func (e lostRaceError) Unwrap() error { return e.err }

func isLostRace(err error) bool {
	_, ok := errorAs[lostRaceError](err)
	return ok
}
