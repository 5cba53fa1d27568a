package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tinyhead/tinyhead/internal/sqlstore/rowcheck"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// Driver names accepted by Open.
const (
	DriverSQLite    = "sqlite"
	DriverSQLServer = "sqlserver"
)

// Store is a tinyhead.Store backed by SQLite or SQL Server. It is safe for
// concurrent use.
type Store struct {
	db *sql.DB // reads
	w  *sql.DB // writes: on SQLite one connection, so writers queue here
	// rather than poll SQLite's lock, and its page cache stays warm
	d dialect
	q *queries
	v *versionQueries
	e *embeddingQueries
	r retrier
	// ckpt checkpoints a SQLite WAL in the background; nil otherwise.
	ckpt *checkpointer
	// scanTxPages is how many pages a pageReader reads per read
	// transaction (scanTxPages by default; tests set fewer).
	scanTxPages int
	// upsert is SQLite's upsert of a full chunk of predictions, prepared
	// once on the write connection (nil on SQL Server).
	upsert *sql.Stmt
}

// dialect holds what differs between the two SQL dialects: statements that
// take the same arguments live in queries, algorithms that differ are
// methods.
type dialect interface {
	queries() *queries
	// docKey and ingestKey return the arguments that identify a row in the
	// WHERE clauses of queries.
	docKey(source, item string) []any
	ingestKey(source, etag string) []any
	// sourceKey identifies a source in WHERE clauses; sourceArgs are its
	// columns in an INSERT of sources or ingests.
	sourceKey(source string) any
	sourceArgs(source string) []any
	versionQueries() *versionQueries
	embeddingQueries() *embeddingQueries
	timeArg(t time.Time) any
	// param returns the n-th (1-based) placeholder.
	param(n int) string
	retryable(err error) bool

	migrate(ctx context.Context, db *sql.DB) error
	putDocuments(ctx context.Context, tx *sql.Tx, docs []tinyhead.Document, now time.Time) error
	// putVectors stores the vectors that have none stored for their key,
	// for hashes a document holds, and returns how many it wrote.
	putVectors(ctx context.Context, tx *sql.Tx, vecs []rowcheck.Vector, now time.Time) (int, error)
	// pruneBatch deletes documents of source not of keepVersion, all of
	// them or a batch; more says there may be others left.
	pruneBatch(ctx context.Context, tx *sql.Tx, source, keepVersion string) (n int, more bool, err error)
	// deleteSource marks the ingests of source's versions deleted, then
	// deletes the documents of those versions; it returns how many
	// documents it deleted, also on error.
	deleteSource(ctx context.Context, db *sql.DB, source string, versions []string, now time.Time) (int, error)
	// setLabels finds the documents of every edit, locking them, and
	// writes what planLabels makes of the edits (Store.SetLabels).
	setLabels(ctx context.Context, tx *sql.Tx, edits []tinyhead.LabelEdit, now time.Time) ([]tinyhead.LabelResult, error)
}

// queries are statements whose arguments are the same in both dialects;
// the comment on each field lists them.
type queries struct {
	finishIngest string // status, rows_ok, rows_rejected, error, updated_at, ingestKey...
	getIngest    string // ingestKey...
	// ingestProgress sets rows_ok of a running attempt.
	ingestProgress string // rows_ok, updated_at, ingestKey..., attempts
	getDocument    string // docKey...
	scanPage       string // model, after id, page size
	statsModels    string
	statsLabels    string
	sources        string // distinct sources of documents, in byte order
	versions       string // docKey(source)[0] twice: versions of a source's documents and ingests
}

// Connection pool defaults for SQL Server (see Options).
const (
	DefaultMaxOpenConns = 4
	DefaultConnMaxIdle  = 5 * time.Minute
)

// Options tune a Store. A zero field takes its default.
type Options struct {
	// MaxOpenConns bounds the connections to SQL Server (default
	// DefaultMaxOpenConns): every instance of the app opens its own pool,
	// and a small serverless database runs few requests at once (75
	// workers on GP_S_Gen5_1; beyond that it answers error 10928).
	MaxOpenConns int
	// ConnMaxIdle closes a SQL Server connection that has been idle this
	// long (default DefaultConnMaxIdle): a serverless database pauses
	// only once no session is left.
	ConnMaxIdle time.Duration
	// RetryBudget is how long one call retries errors that a retry can
	// cure (default DefaultRetryBudget).
	RetryBudget time.Duration
}

func (o Options) withDefaults() Options {
	if o.MaxOpenConns <= 0 {
		o.MaxOpenConns = DefaultMaxOpenConns
	}
	if o.ConnMaxIdle <= 0 {
		o.ConnMaxIdle = DefaultConnMaxIdle
	}
	if o.RetryBudget <= 0 {
		o.RetryBudget = DefaultRetryBudget
	}
	return o
}

// Open connects to the database, creates or migrates the schema and returns
// the store, with default Options. driver is DriverSQLite (dsn: a file
// path, "file:…" URI or ":memory:") or DriverSQLServer (dsn:
// "sqlserver://…"; with "fedauth=…" it authenticates with Microsoft Entra
// ID, e.g. a managed identity).
func Open(ctx context.Context, driver, dsn string) (*Store, error) {
	return OpenWith(ctx, driver, dsn, Options{})
}

// OpenWith is Open with Options.
func OpenWith(ctx context.Context, driver, dsn string, o Options) (*Store, error) {
	o = o.withDefaults()
	var (
		db, w *sql.DB
		d     dialect
		err   error
	)
	switch driver {
	case DriverSQLite:
		db, w, err = openSQLite(dsn)
		d = sqliteDialect{}
	case DriverSQLServer:
		db, err = openMSSQL(dsn, o)
		w = db
		d = mssqlDialect{}
	default:
		return nil, fmt.Errorf("open store: unknown driver %q (want %q or %q)", driver, DriverSQLite, DriverSQLServer)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s store: %w", driver, err)
	}
	s := &Store{db: db, w: w, d: d, q: d.queries(), v: d.versionQueries(), e: d.embeddingQueries(), scanTxPages: scanTxPages}
	s.r = newRetrier(o.RetryBudget, func(err error) bool { return isLostRace(err) || d.retryable(err) })
	if err := s.retry(ctx, func() error { return w.PingContext(ctx) }); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("open %s store: connect: %w", driver, err)
	}
	if err := s.retry(ctx, func() error { return d.migrate(ctx, w) }); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("open %s store: migrate schema: %w", driver, err)
	}
	if driver == DriverSQLite {
		// Before any transaction: the write pool's one connection is then free.
		if s.upsert, err = w.PrepareContext(ctx, sqliteUpsertPredictions(predictionsPerStatement)); err != nil {
			s.closeDBs()
			return nil, fmt.Errorf("open %s store: prepare the upsert of predictions: %w", driver, err)
		}
	}
	if driver == DriverSQLite && !isMemory(dsn) {
		s.ckpt = startCheckpointer(db)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	if s.ckpt != nil {
		s.ckpt.stop()
	}
	if err := s.closeDBs(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

func (s *Store) closeDBs() error {
	var err error
	if s.upsert != nil {
		err = s.upsert.Close()
	}
	err = errors.Join(err, s.db.Close())
	if s.w != s.db {
		err = errors.Join(err, s.w.Close())
	}
	return err
}

// retry runs fn again after errors that a retry can cure, within the
// store's retry budget (see retrier.do).
func (s *Store) retry(ctx context.Context, fn func() error) error {
	return s.r.do(ctx, fn)
}

// inTx runs fn in a transaction, retried as a whole.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if s.ckpt != nil {
		defer s.ckpt.notify()
	}
	return s.retry(ctx, func() error {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit()
	})
}

// now is the time stamp written to rows: UTC, so both dialects store the
// same value.
func now() time.Time { return time.Now().UTC() }

// timeCol scans a time column whatever form the driver returns it in:
// time.Time (SQL Server) or text (SQLite).
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case nil:
		*c.t = time.Time{}
		return nil
	case time.Time:
		*c.t = v.UTC()
		return nil
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("scan time: unsupported type %T", src)
	}
	// What timeArg writes, and what SQLite's CURRENT_TIMESTAMP writes (for
	// rows edited by hand).
	for _, layout := range [...]string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			*c.t = t.UTC()
			return nil
		}
	}
	return fmt.Errorf("scan time: cannot parse %q", s)
}

// errorAs reports whether err wraps an error implementing T.
func errorAs[T any](err error) (T, bool) {
	var t T
	ok := errors.As(err, &t)
	return t, ok
}

// tables are tinyhead's tables, children before parents.
var tables = []string{"predictions", "labels", "documents", "embeddings", "embedding_claims", "ingests", "sources", "models", "sketches"}

// Clear deletes every row of tinyhead's tables (not the schema), in one
// transaction: an empty store, as a new database would be. It is for
// local runs and tests that start afresh; it removes no model blobs.
func (s *Store) Clear(ctx context.Context) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, t := range tables {
			if _, err := tx.ExecContext(ctx, "DELETE FROM "+t); err != nil {
				return fmt.Errorf("%s: %w", t, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("clear the store: %w", err)
	}
	return nil
}
