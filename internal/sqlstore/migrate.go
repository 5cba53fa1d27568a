package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migrations describes one dialect's schema history.
type migrations struct {
	// lock serialises migrations between processes for the rest of the
	// transaction.
	lock func(ctx context.Context, tx *sql.Tx) error
	// versionTable creates schema_version if it is missing.
	versionTable string
	// steps[i] are the statements that bring the schema to version i+1.
	// Steps are only ever appended: a deployed step never changes.
	steps [][]string
}

// run applies the steps the database has not seen yet, all in one
// transaction, so that a process that starts at the same time as another
// either waits and finds the work done, or does it.
func (m migrations) run(ctx context.Context, db *sql.DB, d dialect) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := m.lock(ctx, tx); err != nil {
		return fmt.Errorf("lock schema: %w", err)
	}
	if _, err := tx.ExecContext(ctx, m.versionTable); err != nil {
		return fmt.Errorf("create schema_version: %w", err)
	}
	var version int
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	// A database newer than this code is left alone: steps only add, so an
	// older binary still running during a deployment keeps working.
	for v := version + 1; v <= len(m.steps); v++ {
		for _, stmt := range m.steps[v-1] {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("schema version %d: %w", v, err)
			}
		}
		insert := "INSERT INTO schema_version (version, applied_at) VALUES (" + d.param(1) + ", " + d.param(2) + ")"
		if _, err := tx.ExecContext(ctx, insert, v, d.timeArg(time.Now().UTC())); err != nil {
			return fmt.Errorf("schema version %d: %w", v, err)
		}
	}
	return tx.Commit()
}
