package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/tinyhead/tinyhead/internal/sqlstore/rowcheck"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// ingestColumns are read by scanIngest.
const ingestColumns = `source, etag, status, rows_ok, rows_rejected, error, attempts, modified, started_at, updated_at, lease_until`

func scanIngest(row *sql.Row) (tinyhead.Ingest, error) {
	var in tinyhead.Ingest
	err := row.Scan(&in.Source, &in.ETag, &in.Status, &in.RowsOK, &in.RowsRejected, &in.Error,
		&in.Attempts, timeCol{&in.Modified}, timeCol{&in.StartedAt}, timeCol{&in.UpdatedAt}, timeCol{&in.LeaseUntil})
	if errors.Is(err, sql.ErrNoRows) {
		return in, tinyhead.ErrNotFound
	}
	return in, err
}

// FinishIngest stores the outcome of an attempt: Status, RowsOK,
// RowsRejected and Error of in. It returns ErrNotFound when the version was
// never begun.
func (s *Store) FinishIngest(ctx context.Context, in tinyhead.Ingest) error {
	err := s.finishIngest(ctx, in)
	if err != nil {
		return fmt.Errorf("finish ingest of %s version %s: %w", in.Source, in.ETag, err)
	}
	return nil
}

func (s *Store) finishIngest(ctx context.Context, in tinyhead.Ingest) error {
	if err := rowcheck.IngestKey(in.Source, in.ETag); err != nil {
		return err
	}
	switch in.Status {
	case tinyhead.IngestRunning, tinyhead.IngestDone, tinyhead.IngestFailed, tinyhead.IngestSuperseded:
	default:
		return fmt.Errorf("unknown status %q", in.Status)
	}
	args := append([]any{string(in.Status), in.RowsOK, in.RowsRejected, in.Error, s.d.timeArg(now())},
		s.d.ingestKey(in.Source, in.ETag)...)
	var res sql.Result
	err := s.retry(ctx, func() error {
		var err error
		res, err = s.w.ExecContext(ctx, s.q.finishIngest, args...)
		return err
	})
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return tinyhead.ErrNotFound
	}
	return nil
}

// GetIngest returns the record of one blob version, or ErrNotFound.
func (s *Store) GetIngest(ctx context.Context, source, etag string) (tinyhead.Ingest, error) {
	in, err := tinyhead.Ingest{}, rowcheck.IngestKey(source, etag)
	if err == nil {
		err = s.retry(ctx, func() error {
			var err error
			in, err = scanIngest(s.db.QueryRowContext(ctx, s.q.getIngest, s.d.ingestKey(source, etag)...))
			return err
		})
	}
	if err != nil {
		return tinyhead.Ingest{}, fmt.Errorf("get ingest of %s version %s: %w", source, etag, err)
	}
	return in, nil
}
