package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// TestRetryable lists which errors each dialect retries: only those a
// retry can cure.
func TestRetryable(t *testing.T) {
	sqlErr := func(n int32) error { return fmt.Errorf("exec: %w", mssql.Error{Number: n, Message: "m"}) }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"deadlock victim", sqlErr(1205), true},
		{"lock time-out", sqlErr(1222), true},
		{"serverless database resuming", sqlErr(40613), true},
		{"database busy", sqlErr(40501), true},
		{"service error", sqlErr(40197), true},
		{"worker limit", sqlErr(10928), true},
		{"cannot open database", sqlErr(4060), true},
		{"duplicate key", sqlErr(2627), false},
		{"duplicate key in unique index", sqlErr(2601), false},
		{"lost insert race", lostRace(sqlErr(2627)), true},
		{"lost insert race in unique index", lostRace(sqlErr(2601)), true},
		{"lostRace leaves other errors alone", lostRace(sqlErr(547)), false},
		{"syntax error", sqlErr(102), false},
		{"foreign key", sqlErr(547), false},
		{"string truncated", sqlErr(2628), false},
		{"fatal error severing the connection, not transient", fmt.Errorf("x: %w", mssql.ServerError{}), false},
		{"bad connection", fmt.Errorf("x: %w", driver.ErrBadConn), true},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, true},
		{"connection refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"EOF", io.EOF, true},
		{"broken TDS stream", mssql.StreamError{InnerError: errors.New("bad token")}, true},
		{"not found", tinyhead.ErrNotFound, false},
		{"validation", errors.New("empty source"), false},
		{"context canceled", context.Canceled, false},
		{"deadline", fmt.Errorf("q: %w", context.DeadlineExceeded), false},
	}
	s := &Store{d: mssqlDialect{}}
	s.r = newRetrier(time.Minute, func(err error) bool { return isLostRace(err) || s.d.retryable(err) })
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			r := fakeRetrier(s.r, nil)
			r.do(context.Background(), func() error {
				calls++
				if calls == 1 {
					return tc.err
				}
				return nil
			})
			if got := calls == 2; got != tc.want {
				t.Errorf("retried %v after %v, want %v", got, tc.err, tc.want)
			}
		})
	}

}

// TestRetryableSQLite provokes SQLite's errors: a busy database is
// retried, a constraint violation is not.
func TestRetryableSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	open := func() *sql.DB {
		db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(0)&_txlock=immediate")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(), open()
	if _, err := a.Exec("CREATE TABLE t (k INTEGER PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	_, constraint := a.Exec("INSERT INTO t VALUES (1), (1)")
	tx, err := a.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	_, busy := b.Begin()
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"busy", busy, true},
		{"constraint", constraint, false},
	} {
		if tc.err == nil {
			t.Fatalf("%s: no error provoked", tc.name)
		}
		if got := (sqliteDialect{}).retryable(fmt.Errorf("x: %w", tc.err)); got != tc.want {
			t.Errorf("%s: retryable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// fakeClock is the retrier's clock and sleep: sleeping moves the clock.
type fakeClock struct {
	now    time.Time
	sleeps []time.Duration
	// cancel, when set, is called on the n-th sleep (1-based).
	cancelAt int
	cancel   func()
}

func fakeRetrier(r retrier, c *fakeClock) retrier {
	if c == nil {
		c = &fakeClock{now: time.Unix(1e9, 0)}
	}
	r.now = func() time.Time { return c.now }
	r.sleep = func(ctx context.Context, d time.Duration) error {
		c.sleeps = append(c.sleeps, d)
		if len(c.sleeps) == c.cancelAt {
			c.cancel()
			return ctx.Err()
		}
		c.now = c.now.Add(d)
		return nil
	}
	r.jitter = func(d time.Duration) time.Duration { return d } // the longest wait
	return r
}

// TestRetryPolicy checks the back-off and its bounds with a fake clock.
func TestRetryPolicy(t *testing.T) {
	transient := mssql.Error{Number: 40613, Message: "Database is not currently available"}
	tests := []struct {
		name     string
		budget   time.Duration
		failures int // fn fails this often, then succeeds
		deadline time.Duration
		cancelAt int
		err      error
		// want
		calls   int
		wantErr bool
		// unavailable: the error is marked tinyhead.ErrUnavailable (a
		// passing failure given up on), which the API answers with 503.
		unavailable bool
		maxWait     time.Duration // no sleep longer than this
		minRest     time.Duration // the time slept adds up to at least this
	}{
		{name: "succeeds at once", budget: time.Minute, failures: 0, err: transient, calls: 1},
		{name: "deadlock retried quickly", budget: time.Minute, failures: 2, err: mssql.Error{Number: 1205},
			calls: 3, maxWait: 40 * time.Millisecond},
		{name: "a resume of a minute is waited for", budget: DefaultRetryBudget, failures: 16, err: transient,
			calls: 17, maxWait: retryMaxDelay, minRest: time.Minute},
		{name: "gives up when the budget is spent", budget: DefaultRetryBudget, failures: 1000, err: transient,
			wantErr: true, unavailable: true, maxWait: retryMaxDelay, minRest: DefaultRetryBudget - retryMaxDelay},
		{name: "a short budget", budget: time.Second, failures: 1000, err: transient, wantErr: true, unavailable: true, minRest: 500 * time.Millisecond},
		{name: "not past the deadline", budget: time.Hour, failures: 1000, err: transient, deadline: 2 * time.Minute,
			wantErr: true, unavailable: true, minRest: time.Minute},
		{name: "cancel stops the retries", budget: DefaultRetryBudget, failures: 1000, err: transient, cancelAt: 3,
			calls: 3, wantErr: true, unavailable: true},
		{name: "not retryable", budget: DefaultRetryBudget, failures: 1000, err: mssql.Error{Number: 2627}, calls: 1, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Unix(1e9, 0)
			clock := &fakeClock{now: start, cancelAt: tc.cancelAt}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			clock.cancel = cancel
			if tc.deadline > 0 {
				// A real deadline, minutes away (the test does not wait
				// for it): the fake clock starts at the real time.
				var c2 context.CancelFunc
				ctx, c2 = context.WithDeadline(ctx, time.Now().Add(tc.deadline))
				defer c2()
				clock.now = time.Now()
				start = clock.now
			}
			r := fakeRetrier(newRetrier(tc.budget, mssqlDialect{}.retryable), clock)
			calls := 0
			err := r.do(ctx, func() error {
				calls++
				if calls <= tc.failures {
					return tc.err
				}
				return nil
			})
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if e, ok := errorAs[mssql.Error](err); err != nil && (!ok || e.Number != tc.err.(mssql.Error).Number) {
				t.Errorf("error %v does not wrap %v", err, tc.err)
			}
			if got := errors.Is(err, tinyhead.ErrUnavailable); got != tc.unavailable {
				t.Errorf("error %v: unavailable %v, want %v", err, got, tc.unavailable)
			}
			if tc.calls > 0 && calls != tc.calls {
				t.Errorf("%d calls, want %d", calls, tc.calls)
			}
			var slept time.Duration
			for _, d := range clock.sleeps {
				slept += d
				if tc.maxWait > 0 && d > tc.maxWait {
					t.Errorf("slept %v at once, want at most %v", d, tc.maxWait)
				}
			}
			if slept > tc.budget {
				t.Errorf("slept %v in all, over the budget of %v", slept, tc.budget)
			}
			if slept < tc.minRest {
				t.Errorf("slept %v in all, want at least %v", slept, tc.minRest)
			}
			if tc.deadline > 0 && clock.now.Sub(start) > tc.deadline {
				t.Errorf("retried for %v, past the deadline %v", clock.now.Sub(start), tc.deadline)
			}
		})
	}
}

func TestRetryDelays(t *testing.T) {
	r := newRetrier(time.Minute, nil)
	r.jitter = func(d time.Duration) time.Duration { return 0 }
	want := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}
	for i, w := range want {
		if got := r.delay(i + 1); got != w {
			t.Errorf("delay(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := r.delay(100); got != retryMaxDelay/2 {
		t.Errorf("delay(100) = %v, want %v", got, retryMaxDelay/2)
	}
}
