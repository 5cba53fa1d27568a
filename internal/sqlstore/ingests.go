package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/tinyhead/tinyhead/internal/sqlstore/rowcheck"
	"strings"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// ingestColumns are read by scanIngest.
const ingestColumns = `id, source, etag, status, rows_ok, rows_rejected, error, attempts, modified, started_at, updated_at, lease_until`

func scanIngest(row interface{ Scan(...any) error }) (tinyhead.Ingest, error) {
	var in tinyhead.Ingest
	err := row.Scan(&in.ID, &in.Source, &in.ETag, &in.Status, &in.RowsOK, &in.RowsRejected, &in.Error,
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

// IngestProgress records the rows a running attempt has stored so far.
func (s *Store) IngestProgress(ctx context.Context, source, etag string, attempt, rowsOK int) error {
	err := rowcheck.IngestKey(source, etag)
	if err == nil {
		args := append([]any{rowsOK, s.d.timeArg(now())}, append(s.d.ingestKey(source, etag), attempt)...)
		err = s.retry(ctx, func() error {
			_, err := s.w.ExecContext(ctx, s.q.ingestProgress, args...)
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("record the progress of %s version %s: %w", source, etag, err)
	}
	return nil
}

// ListIngests returns the ingest records f selects, newest first.
func (s *Store) ListIngests(ctx context.Context, f tinyhead.IngestFilter) ([]tinyhead.Ingest, error) {
	limit := f.Limit
	if limit <= 0 || limit > tinyhead.MaxIngestsListed {
		limit = tinyhead.MaxIngestsListed
	}
	_, mssql := s.d.(mssqlDialect)
	var (
		conds []string
		args  []any
	)
	// where adds a condition whose %s are the parameters of cargs.
	where := func(cond string, cargs ...any) {
		ps := make([]any, len(cargs))
		for i, a := range cargs {
			args = append(args, a)
			ps[i] = s.d.param(len(args))
		}
		conds = append(conds, fmt.Sprintf(cond, ps...))
	}
	var err error
	if f.Source != "" {
		if err = rowcheck.Key(f.Source, ""); err == nil {
			if mssql {
				where("source_key = %s", s.d.sourceKey(f.Source))
			} else {
				where("source = %s", f.Source)
			}
		}
	}
	if f.Prefix != "" && err == nil {
		// Exact and case-sensitive in both: instr compares bytes. On
		// SQL Server LIKE (the prefix's wildcards escaped) matches
		// trailing spaces exactly but ignores case on Babelfish, and =
		// under a binary collation (named: LEFT loses the column's
		// there) the other way round.
		if err = rowcheck.Key(f.Prefix, ""); err == nil {
			if mssql {
				where(`source LIKE %s ESCAPE N'\' AND LEFT(source, LEN(%s)) COLLATE Latin1_General_100_BIN2 = %[2]s`, likePrefix(f.Prefix), f.Prefix)
			} else {
				where("instr(source, %s) = 1", f.Prefix)
			}
		}
	}
	if f.Status != "" {
		where("status = %s", string(f.Status))
	}
	if f.Before > 0 {
		where("id < %s", f.Before)
	}
	q := "SELECT " + ingestColumns + " FROM ingests"
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	q += " ORDER BY id DESC"
	args = append(args, limit)
	if mssql {
		q = strings.Replace(q, "SELECT ", "SELECT TOP ("+s.d.param(len(args))+") ", 1)
	} else {
		q += " LIMIT " + s.d.param(len(args))
	}
	out := []tinyhead.Ingest{}
	if err == nil {
		err = s.retry(ctx, func() error {
			out = out[:0]
			rows, err := s.db.QueryContext(ctx, q, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				in, err := scanIngest(rows)
				if err != nil {
					return err
				}
				out = append(out, in)
			}
			return rows.Err()
		})
	}
	if err != nil {
		return nil, fmt.Errorf("list ingests: %w", err)
	}
	return out, nil
}

// likePrefix is the T-SQL LIKE pattern (escape character \) of the
// strings that start with prefix: its wildcards, SQL Server's [ included,
// match themselves.
func likePrefix(prefix string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`, `[`, `\[`).Replace(prefix) + "%"
}
