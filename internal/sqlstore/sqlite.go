package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
)

// sqliteOptions are added to every SQLite DSN and apply to each
// connection. busy_timeout makes a second process's writers queue instead
// of failing; synchronous=NORMAL is safe with WAL (a crash can lose the
// last transactions, never corrupt the file); the automatic checkpoint is
// a backstop at 128 MiB of WAL (see checkpointer), and journal_size_limit
// shrinks the WAL file back to 64 MiB after it; a 32 MiB page cache (the
// default is 2 MiB) holds more of the indexes of a large table;
// _txlock=immediate takes the write lock at BEGIN, so a transaction never
// fails half-way on lock upgrade. WAL mode and the page size are set once
// per file, by initSQLite.
var sqliteOptions = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)" +
	"&_pragma=cache_size(-" + strconv.Itoa(sqliteCacheKiB) + ")&_pragma=wal_autocheckpoint(8192)&_pragma=journal_size_limit(67108864)" +
	"&_txlock=immediate"

// sqliteCacheKiB is each connection's page cache (see sqliteOptions).
const sqliteCacheKiB = 32768

// sqlitePageSize suits rows of a few KiB (a 512-d embedding is 2 KiB, a
// 1,536-d one 6 KiB): fewer pages, so fewer WAL frames, per row. Measured
// here it cut the CPU time of PutDocuments by about a third against the
// default 4 KiB.
const sqlitePageSize = 16384

// openSQLite returns a pool for reads and a one-connection pool for
// writes. An in-memory database is one connection, shared by both.
func openSQLite(dsn string) (read, write *sql.DB, err error) {
	if dsn == "" {
		return nil, nil, fmt.Errorf("empty SQLite DSN")
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	full := dsn + sep + sqliteOptions
	read, err = sql.Open("sqlite", full)
	if err != nil {
		return nil, nil, err
	}
	if isMemory(dsn) {
		// Every connection to :memory: is a database of its own: keep one.
		read.SetMaxOpenConns(1)
		read.SetMaxIdleConns(1)
		return read, read, nil
	}
	read.SetMaxIdleConns(4)
	write, err = sql.Open("sqlite", full)
	if err != nil {
		read.Close()
		return nil, nil, err
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	return read, write, nil
}

// isMemory reports whether dsn names an in-memory SQLite database.
func isMemory(dsn string) bool {
	return strings.HasPrefix(dsn, ":memory:") || strings.Contains(dsn, "mode=memory")
}

type sqliteDialect struct{}

func (sqliteDialect) queries() *queries {
	return &queries{
		finishIngest: `UPDATE ingests SET status = ?, rows_ok = ?, rows_rejected = ?, error = ?, updated_at = ?
			WHERE source = ? AND etag = ?`,
		getIngest: `SELECT ` + ingestColumns + ` FROM ingests WHERE source = ? AND etag = ?`,
		ingestProgress: `UPDATE ingests SET rows_ok = ?, updated_at = ?
			WHERE source = ? AND etag = ? AND attempts = ? AND status = 'running'`,
		getDocument: `SELECT ` + documentColumns + `, l.task, l.label
			FROM documents AS d LEFT JOIN labels AS l ON l.document_id = d.id
			WHERE d.source = ? AND d.item = ?`,
		scanPage: `SELECT d.id, e.embedding FROM documents AS d CROSS JOIN embeddings AS e
			ON e.content_hash = d.content_hash AND e.model = ?1
			WHERE d.id > ?2 ORDER BY d.id LIMIT ?3`,
		statsModels: statsModels,
		statsLabels: statsLabels,
		// The unique (source, item) index holds every source in order.
		sources: `SELECT DISTINCT source FROM documents ORDER BY source`,
		versions: `SELECT source_version FROM documents WHERE source = ?
			UNION SELECT etag FROM ingests WHERE source = ? ORDER BY 1`,
	}
}

func (sqliteDialect) docKey(source, item string) []any    { return []any{source, item} }
func (sqliteDialect) sourceKey(source string) any         { return source }
func (sqliteDialect) sourceArgs(source string) []any      { return []any{source} }
func (sqliteDialect) ingestKey(source, etag string) []any { return []any{source, etag} }
func (sqliteDialect) param(int) string                    { return "?" }

// timeArg writes times as fixed-width UTC text, which sorts correctly.
func (sqliteDialect) timeArg(t time.Time) any {
	return t.UTC().Format("2006-01-02T15:04:05.000000000Z")
}

func (sqliteDialect) retryable(err error) bool {
	e, ok := errorAs[*sqlite.Error](err)
	// SQLITE_BUSY (5) outlasting busy_timeout; SQLITE_LOCKED (6).
	return ok && (e.Code()&0xff == 5 || e.Code()&0xff == 6)
}

// initSQLite sets the page size and WAL mode, both stored in the file. The
// page size must come first: it is fixed when the first page is written,
// which switching to WAL does; on an existing file it changes nothing.
func initSQLite(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA page_size = "+strconv.Itoa(sqlitePageSize)); err != nil {
		return fmt.Errorf("set page size: %w", err)
	}
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return fmt.Errorf("set WAL mode: %w", err)
	}
	if mode != "wal" && mode != "memory" {
		return fmt.Errorf("set WAL mode: journal mode is %q", mode)
	}
	return nil
}

func (d sqliteDialect) migrate(ctx context.Context, db *sql.DB) error {
	if err := initSQLite(ctx, db); err != nil {
		return err
	}
	return sqliteMigrations().run(ctx, db, d)
}

func sqliteMigrations() migrations {
	return migrations{
		// _txlock=immediate: BEGIN already holds the write lock.
		lock:         func(context.Context, *sql.Tx) error { return nil },
		versionTable: `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`,
		steps:        [][]string{sqliteSchemaV1(), sqliteSchemaV2(), sqliteSchemaV3(), sqliteSchemaV4(), sqliteSchemaV5(), sqliteSchemaSketches()},
	}
}

func (sqliteDialect) embeddingQueries() *embeddingQueries { return sqliteEmbeddingQueries() }

func (sqliteDialect) versionQueries() *versionQueries {
	return &versionQueries{
		getClaim:    `SELECT etag, modified FROM sources WHERE source = ?`,
		insertClaim: `INSERT INTO sources (source, etag, modified, updated_at) VALUES (?, ?, ?, ?)`,
		moveClaim:   `UPDATE sources SET etag = ?, modified = ?, updated_at = ? WHERE source = ? AND etag = ?`,
		touchClaim:  `UPDATE sources SET updated_at = ? WHERE source = ? AND etag = ?`,
		supersede: `UPDATE ingests SET status = 'superseded', updated_at = ?
			WHERE source = ? AND etag <> ? AND status = 'running'`,
		getIngest: `SELECT ` + ingestColumns + ` FROM ingests WHERE source = ? AND etag = ?`,
		insertIngest: `INSERT INTO ingests (source, etag, status, rows_ok, rows_rejected, error, attempts,
				modified, started_at, updated_at, lease_until)
			VALUES (?, ?, ?, 0, 0, '', 1, ?, ?, ?, ?)`,
		countAttempt: `UPDATE ingests SET status = ?, attempts = attempts + 1, updated_at = ?
			WHERE source = ? AND etag = ? AND attempts = ?`,
		takeOver: `UPDATE ingests SET status = 'running', attempts = attempts + 1, started_at = ?1, updated_at = ?1,
				lease_until = ?2
			WHERE source = ?3 AND etag = ?4 AND attempts = ?5`,
		renew: `UPDATE ingests SET lease_until = ?, updated_at = ?
			WHERE source = ? AND etag = ? AND attempts = ? AND status = 'running'`,
	}
}

// sqliteSchemaV1 is the first schema. Columns are NOT NULL so that both
// dialects read back the same values.
func sqliteSchemaV1() []string {
	return []string{
		`CREATE TABLE documents (
		id              INTEGER PRIMARY KEY,
		source          TEXT    NOT NULL,
		item            TEXT    NOT NULL,
		source_version  TEXT    NOT NULL,
		content_hash    TEXT    NOT NULL,
		text            TEXT    NOT NULL,
		embedding_model TEXT    NOT NULL,
		embedding       BLOB    NOT NULL,
		dim             INTEGER NOT NULL,
		created_at      TEXT    NOT NULL,
		updated_at      TEXT    NOT NULL,
		UNIQUE (source, item)
	)`,
		`CREATE INDEX documents_model_hash ON documents (embedding_model, content_hash)`,
		`CREATE TABLE labels (
		document_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
		task        TEXT    NOT NULL,
		label       TEXT    NOT NULL,
		updated_at  TEXT    NOT NULL,
		PRIMARY KEY (document_id, task)
	) WITHOUT ROWID`,
		`CREATE INDEX labels_task ON labels (task, label)`,
		`CREATE TABLE ingests (
		id            INTEGER PRIMARY KEY,
		source        TEXT    NOT NULL,
		etag          TEXT    NOT NULL,
		status        TEXT    NOT NULL,
		rows_ok       INTEGER NOT NULL,
		rows_rejected INTEGER NOT NULL,
		error         TEXT    NOT NULL,
		attempts      INTEGER NOT NULL,
		started_at    TEXT    NOT NULL,
		updated_at    TEXT    NOT NULL,
		UNIQUE (source, etag)
	)`,
		`CREATE TABLE models (
		id         INTEGER PRIMARY KEY,
		task       TEXT    NOT NULL,
		version    TEXT    NOT NULL,
		created_at TEXT    NOT NULL,
		row_count  INTEGER NOT NULL,
		metrics    TEXT    NOT NULL, -- JSON
		blob_path  TEXT    NOT NULL,
		promoted   INTEGER NOT NULL DEFAULT 0,
		UNIQUE (task, version)
	)`,
	}
}

// sqliteSchemaV2 orders the versions of a source (see versions.go): the
// sources table holds each source's claimed version, and an ingest record
// keeps its version's LastModified and its attempt's lease. Records of
// older databases get the zero time: their leases have expired.
func sqliteSchemaV2() []string {
	const zero = `'0001-01-01T00:00:00.000000000Z'`
	return []string{
		`CREATE TABLE sources (
		source     TEXT NOT NULL PRIMARY KEY,
		etag       TEXT NOT NULL, -- the newest version claimed
		modified   TEXT NOT NULL, -- its LastModified
		updated_at TEXT NOT NULL
	) WITHOUT ROWID`,
		`ALTER TABLE ingests ADD COLUMN modified TEXT NOT NULL DEFAULT ` + zero,
		`ALTER TABLE ingests ADD COLUMN lease_until TEXT NOT NULL DEFAULT ` + zero,
	}
}

// sqliteSchemaV3 keeps each document's validation group and test mark
// (tinyhead.Document's Group and Test): an empty group is a group of its own, and
// older documents are neither grouped nor held out for testing.
func sqliteSchemaV3() []string {
	return []string{
		`ALTER TABLE documents ADD COLUMN doc_group TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE documents ADD COLUMN is_test INTEGER NOT NULL DEFAULT 0`,
	}
}

// sqliteSchemaV4 stores embeddings apart from documents, one vector per
// (model, content hash), so that a text can hold the vectors of several
// models (see embeddings.go). The vectors of older databases move there;
// documents keep their old embedding columns, emptied (dropping them
// would rebuild the table, and a binary of the previous version still
// running during a deployment would fail on every insert), and are
// looked up by content hash instead of (model, content hash).
// embedding_claims holds the texts a re-embedding run is working on.
func sqliteSchemaV4() []string {
	return []string{
		`CREATE TABLE embeddings (
		model        TEXT    NOT NULL,
		content_hash TEXT    NOT NULL,
		dim          INTEGER NOT NULL,
		embedding    BLOB    NOT NULL, -- float32 little-endian
		created_at   TEXT    NOT NULL,
		PRIMARY KEY (content_hash, model)
	)`,
		migrateEmbeddings,
		`UPDATE documents SET embedding_model = '', embedding = x'', dim = 0`,
		`DROP INDEX documents_model_hash`,
		`CREATE INDEX documents_hash ON documents (content_hash)`,
		`CREATE TABLE embedding_claims (
		model        TEXT NOT NULL,
		content_hash TEXT NOT NULL,
		owner        TEXT NOT NULL, -- the run holding the claim
		lease_until  TEXT NOT NULL,
		PRIMARY KEY (model, content_hash)
	) WITHOUT ROWID`,
		`CREATE INDEX embedding_claims_owner ON embedding_claims (owner)`,
	}
}

// sqliteSchemaV5 adds the predictions table that batch scoring writes
// (predictions.go): one row per document and task, deleted with the
// document (the primary key serves that cascade and the lookups of
// incremental scoring). The one index serves a task's version: deleting
// the other versions' rows, and the "label next" list. It leaves margin
// out of the key: rows of a page then go to the index's end, where a key
// ordered by margin would scatter them over every page of it.
func sqliteSchemaV5() []string {
	return []string{
		`CREATE TABLE predictions (
		document_id   INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
		task          TEXT    NOT NULL,
		version       TEXT    NOT NULL,
		label         TEXT    NOT NULL,
		probability   REAL    NOT NULL,
		margin        REAL    NOT NULL,
		probabilities TEXT    NOT NULL, -- JSON object: label → probability
		scored_at     TEXT    NOT NULL,
		PRIMARY KEY (document_id, task)
	) WITHOUT ROWID`,
		`CREATE INDEX predictions_version ON predictions (task, version)`,
	}
}

// sqliteSchemaSketches adds the texts' lexical sketches (sketches.go):
// one row per content hash, the featurizer's version beside it.
func sqliteSchemaSketches() []string {
	return []string{
		`CREATE TABLE sketches (
		content_hash TEXT NOT NULL PRIMARY KEY,
		version      TEXT NOT NULL,
		sketch       BLOB NOT NULL -- (uint32 index, float32 value) little-endian pairs
	)`,
	}
}
