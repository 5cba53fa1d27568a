package sqlstore

import (
	"context"
	"database/sql"
	"log/slog"
	"time"
)

// checkpointInterval is how often the background checkpointer copies the
// WAL into the database file while writes are going on.
const checkpointInterval = 200 * time.Millisecond

// checkpointer copies SQLite's write-ahead log into the database file in
// the background. Left to SQLite, the copy and its fsync run inside
// whichever commit crosses the threshold, and a bulk ingest spends a third
// of its time waiting for them; here they overlap with the next
// transactions. The writer's own automatic checkpoint stays on, at a high
// threshold, for when this one falls behind.
type checkpointer struct {
	wrote  chan struct{} // a transaction committed
	cancel context.CancelFunc
	done   chan struct{}
}

func startCheckpointer(db *sql.DB) *checkpointer {
	ctx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{wrote: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go c.run(ctx, db)
	return c
}

// notify records that the WAL grew; it never blocks.
func (c *checkpointer) notify() {
	select {
	case c.wrote <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run(ctx context.Context, db *sql.DB) {
	defer close(c.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wrote:
		}
		// PASSIVE: copy what no reader still needs, never wait for locks.
		if _, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil && ctx.Err() == nil {
			slog.Warn("sqlite background checkpoint", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(checkpointInterval):
		}
	}
}

// stop ends the goroutine and waits for it.
func (c *checkpointer) stop() {
	c.cancel()
	<-c.done
}
