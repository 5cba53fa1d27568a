package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/tinyhead/tinyhead/internal/sqlstore/rowcheck"
	"time"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// Versions of a blob are ordered by a claim: the sources table holds, per
// source, the newest version that BeginIngest has seen. The claim only
// moves forward, by a compare-and-swap on the etag it replaces (rows
// affected tell whether it won), and every write of a source's documents
// first updates the claim row where it names the writer's version, in the
// writer's transaction. That update is what orders a write against a
// claim on both engines: it takes the row's write lock (SQL Server and
// PostgreSQL alike; not a hint, which Babelfish would ignore), so a claim
// waits for writes in flight, and a write after a claim matches no row.
// An ingest record is likewise taken over (a crashed attempt's lease) by
// a compare-and-swap on its attempts.

// versionQueries are the statements of claims and leases. sourceKey is
// what identifies a source in WHERE clauses (the source on SQLite, its
// SHA-256 on SQL Server); sourceArgs are the source's columns of an
// INSERT (see dialect.sourceArgs).
type versionQueries struct {
	getClaim     string // sourceKey
	insertClaim  string // sourceArgs..., etag, modified, updated_at
	moveClaim    string // etag, modified, updated_at, sourceKey, old etag
	touchClaim   string // updated_at, sourceKey, etag
	supersede    string // updated_at, sourceKey, etag: the other running versions
	getIngest    string // ingestKey...; locks the row on SQL Server
	insertIngest string // sourceArgs..., etag, status, modified, started_at, updated_at, lease_until
	countAttempt string // status, updated_at, ingestKey..., old attempts
	takeOver     string // now, lease_until, ingestKey..., old attempts; the record becomes running
	renew        string // lease_until, updated_at, ingestKey..., attempt
}

// BeginIngest starts an attempt at the blob version v, in one transaction
// (see tinyhead.Store.BeginIngest): it claims the source unless a newer
// version is claimed, records an older version as superseded, and gives the
// caller the lease unless another attempt holds a live one, in which case
// the record comes with an error wrapping tinyhead.ErrIngestBusy.
func (s *Store) BeginIngest(ctx context.Context, v tinyhead.BlobVersion, lease time.Duration) (tinyhead.Ingest, error) {
	v = v.Normalized()
	var in tinyhead.Ingest
	err := rowcheck.IngestKey(v.Source, v.ETag)
	if err == nil {
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			var err error
			in, err = s.beginIngest(ctx, tx, v, lease, now())
			return err
		})
	}
	if err != nil {
		return in, fmt.Errorf("begin ingest of %s version %s: %w", v.Source, v.ETag, err)
	}
	return in, nil
}

func (s *Store) beginIngest(ctx context.Context, tx *sql.Tx, v tinyhead.BlobVersion, lease time.Duration, t time.Time) (tinyhead.Ingest, error) {
	claimed, superseded, moved, err := s.claim(ctx, tx, v, t)
	if err != nil {
		return tinyhead.Ingest{}, fmt.Errorf("claim the source: %w", err)
	}
	key := s.d.ingestKey(v.Source, v.ETag)
	in, err := s.readIngest(ctx, tx, key, claimed)
	if errors.Is(err, tinyhead.ErrNotFound) {
		status, until := tinyhead.IngestRunning, t.Add(lease)
		if superseded {
			status, until = tinyhead.IngestSuperseded, t
		}
		args := append(s.d.sourceArgs(v.Source), v.ETag, string(status), s.d.timeArg(v.Modified),
			s.d.timeArg(t), s.d.timeArg(t), s.d.timeArg(until))
		if _, err := tx.ExecContext(ctx, s.v.insertIngest, args...); err != nil {
			return tinyhead.Ingest{}, lostRace(err)
		}
		return s.readIngest(ctx, tx, key, claimed)
	}
	if err != nil {
		return tinyhead.Ingest{}, err
	}
	ts := s.d.timeArg(t)
	var res sql.Result
	switch {
	case moved && in.Status == tinyhead.IngestSuperseded: // it overtook the claimed version
		res, err = tx.ExecContext(ctx, s.v.takeOver, append([]any{ts, s.d.timeArg(t.Add(lease))}, append(key, in.Attempts)...)...)
	case in.Status != tinyhead.IngestRunning:
		res, err = tx.ExecContext(ctx, s.v.countAttempt, append([]any{string(in.Status), ts}, append(key, in.Attempts)...)...)
	case superseded:
		res, err = tx.ExecContext(ctx, s.v.countAttempt,
			append([]any{string(tinyhead.IngestSuperseded), ts}, append(key, in.Attempts)...)...)
	case in.LeaseUntil.After(t):
		return in, tinyhead.ErrIngestBusy
	default: // the lease expired: its attempt crashed or timed out
		res, err = tx.ExecContext(ctx, s.v.takeOver, append([]any{ts, s.d.timeArg(t.Add(lease))}, append(key, in.Attempts)...)...)
	}
	if err := changedOne(res, err); err != nil {
		return tinyhead.Ingest{}, err
	}
	return s.readIngest(ctx, tx, key, claimed)
}

// readIngest reads an ingest record in tx; a superseded one is given the
// claimed version.
func (s *Store) readIngest(ctx context.Context, tx *sql.Tx, key []any, claimed tinyhead.BlobVersion) (tinyhead.Ingest, error) {
	in, err := scanIngest(tx.QueryRowContext(ctx, s.v.getIngest, key...))
	if err == nil && in.Status == tinyhead.IngestSuperseded {
		in.Claimed = claimed
	}
	return in, err
}

// changedOne turns "no row matched a compare-and-swap" into a lost race,
// which the store retries.
func changedOne(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return lostRaceError{errors.New("the row changed meanwhile")}
	}
	return nil
}

// claim moves the claim of v.Source forward to v if v replaces the
// claimed version (marking the running records of the other versions
// superseded). It returns the claimed version, whether it is not v, and
// whether the claim moved.
func (s *Store) claim(ctx context.Context, tx *sql.Tx, v tinyhead.BlobVersion, t time.Time) (claimed tinyhead.BlobVersion, superseded, moved bool, err error) {
	sk, ts := s.d.sourceKey(v.Source), s.d.timeArg(t)
	cur := tinyhead.BlobVersion{Source: v.Source}
	err = tx.QueryRowContext(ctx, s.v.getClaim, sk).Scan(&cur.ETag, timeCol{&cur.Modified})
	mine := tinyhead.BlobVersion{Source: v.Source, ETag: v.ETag, Modified: v.Modified}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		args := append(s.d.sourceArgs(v.Source), v.ETag, s.d.timeArg(v.Modified), ts)
		if _, err := tx.ExecContext(ctx, s.v.insertClaim, args...); err != nil {
			return cur, false, false, lostRace(err)
		}
		return mine, false, true, nil
	case err != nil:
		return cur, false, false, err
	case cur.ETag == v.ETag:
		return cur, false, false, nil
	case !v.Replaces(cur):
		return cur, true, false, nil
	}
	res, err := tx.ExecContext(ctx, s.v.moveClaim, v.ETag, s.d.timeArg(v.Modified), ts, sk, cur.ETag)
	if err := changedOne(res, err); err != nil {
		return cur, false, false, err
	}
	_, err = tx.ExecContext(ctx, s.v.supersede, ts, sk, v.ETag)
	return mine, false, true, err
}

// checkClaim fails with tinyhead.ErrSuperseded when a version of source
// other than version is claimed. Otherwise, when version is claimed, it
// holds the claim row's write lock until tx ends, so no claim can pass the
// caller's writes.
func (s *Store) checkClaim(ctx context.Context, tx *sql.Tx, source, version string, t time.Time) error {
	sk := s.d.sourceKey(source)
	res, err := tx.ExecContext(ctx, s.v.touchClaim, s.d.timeArg(t), sk, version)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	var cur tinyhead.BlobVersion
	err = tx.QueryRowContext(ctx, s.v.getClaim, sk).Scan(&cur.ETag, timeCol{&cur.Modified})
	if errors.Is(err, sql.ErrNoRows) {
		return nil // never claimed: documents written without an ingest
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("version %s of %s: %w (version %s is claimed)", version, source, tinyhead.ErrSuperseded, cur.ETag)
}

// checkClaims runs checkClaim for every (source, version) of docs.
func (s *Store) checkClaims(ctx context.Context, tx *sql.Tx, docs []tinyhead.Document, t time.Time) error {
	type sv struct{ source, version string }
	seen := map[sv]bool{}
	for _, d := range docs {
		k := sv{d.Source, d.SourceVersion}
		if seen[k] {
			continue
		}
		seen[k] = true
		if err := s.checkClaim(ctx, tx, d.Source, d.SourceVersion, t); err != nil {
			return err
		}
	}
	return nil
}

// RenewIngest extends the lease of attempt number attempt of a running
// version (see tinyhead.Store.RenewIngest).
func (s *Store) RenewIngest(ctx context.Context, source, etag string, attempt int, lease time.Duration) error {
	err := rowcheck.IngestKey(source, etag)
	if err == nil {
		err = s.retry(ctx, func() error { return s.renewIngest(ctx, source, etag, attempt, lease) })
	}
	if err != nil {
		return fmt.Errorf("renew the lease of %s version %s: %w", source, etag, err)
	}
	return nil
}

func (s *Store) renewIngest(ctx context.Context, source, etag string, attempt int, lease time.Duration) error {
	t := now()
	key := s.d.ingestKey(source, etag)
	res, err := s.w.ExecContext(ctx, s.v.renew, append([]any{s.d.timeArg(t.Add(lease)), s.d.timeArg(t)}, append(key, attempt)...)...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	in, err := scanIngest(s.w.QueryRowContext(ctx, s.q.getIngest, key...))
	switch {
	case err != nil:
		return err
	case in.Status == tinyhead.IngestSuperseded:
		return tinyhead.ErrSuperseded
	}
	return tinyhead.Errorf(tinyhead.ErrConflict, "attempt %d no longer holds the lease (status %s, attempt %d)",
		attempt, in.Status, in.Attempts)
}
