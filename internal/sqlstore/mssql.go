package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/golang-sql/civil"
	mssql "github.com/microsoft/go-mssqldb"
	"github.com/microsoft/go-mssqldb/azuread"
)

// openMSSQL connects with a plain DSN, or through Microsoft Entra ID when
// the DSN names a fedauth method (ActiveDirectoryManagedIdentity,
// ActiveDirectoryDefault, …): in Azure, SQL is reached without secrets.
func openMSSQL(dsn string, o Options) (*sql.DB, error) {
	var (
		c   *mssql.Connector
		err error
	)
	if strings.Contains(strings.ToLower(dsn), "fedauth=") {
		c, err = azuread.NewConnector(dsn)
	} else {
		c, err = mssql.NewConnector(dsn)
	}
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(o.MaxOpenConns)
	db.SetMaxIdleConns(o.MaxOpenConns)
	db.SetConnMaxIdleTime(o.ConnMaxIdle)
	return db, nil
}

type mssqlDialect struct{}

// keyOf is the SHA-256 of s: the indexed stand-in for strings too long for
// an index key (see the package comment).
func keyOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func (mssqlDialect) queries() *queries {
	return &queries{
		finishIngest: `UPDATE ingests SET status = @p1, rows_ok = @p2, rows_rejected = @p3, error = @p4, updated_at = @p5
			WHERE source_key = @p6 AND etag = @p7`,
		getIngest: `SELECT ` + ingestColumns + ` FROM ingests WHERE source_key = @p1 AND etag = @p2`,
		ingestProgress: `UPDATE ingests SET rows_ok = @p1, updated_at = @p2
			WHERE source_key = @p3 AND etag = @p4 AND attempts = @p5 AND status = N'running'`,
		getDocument: `SELECT ` + documentColumns + `, l.task, l.label
			FROM documents AS d LEFT JOIN labels AS l ON l.document_id = d.id
			WHERE d.source_key = @p1 AND d.item_key = @p2`,
		scanPage: `SELECT TOP (@p3) d.id, e.embedding FROM documents AS d
			JOIN embeddings AS e ON e.content_hash = d.content_hash AND e.model = @p1
			WHERE d.id > @p2 ORDER BY d.id`,
		statsModels: statsModels,
		statsLabels: statsLabels,
		// One row per source, found on the narrow unique index
		// (source_key, item_key, and the clustered id): DISTINCT source
		// would read every row of the table, embeddings included.
		sources: `SELECT d.source FROM documents AS d
			JOIN (SELECT MIN(id) AS id FROM documents GROUP BY source_key) AS f ON f.id = d.id
			ORDER BY d.source`,
		versions: `SELECT source_version FROM documents WHERE source_key = @p1
			UNION SELECT etag FROM ingests WHERE source_key = @p2 ORDER BY 1`,
	}
}

func (mssqlDialect) docKey(source, item string) []any    { return []any{keyOf(source), keyOf(item)} }
func (mssqlDialect) sourceKey(source string) any         { return keyOf(source) }
func (mssqlDialect) sourceArgs(source string) []any      { return []any{keyOf(source), source} }
func (mssqlDialect) ingestKey(source, etag string) []any { return []any{keyOf(source), etag} }
func (mssqlDialect) param(n int) string                  { return "@p" + strconv.Itoa(n) }

// timeArg sends a DATETIME2 (a time.Time would travel as DATETIMEOFFSET
// and be converted by the server).
func (mssqlDialect) timeArg(t time.Time) any { return civil.DateTimeOf(t.UTC()) }

// retryable reports whether a retry can cure err: a deadlock, a transient
// Azure SQL condition (a database that is resuming, failing over or at its
// resource limits), or a broken connection (the pool then opens a new
// one). Lost insert races are told apart by the statements that can lose
// one (see lostRace); any other duplicate key is a genuine one.
func (mssqlDialect) retryable(err error) bool {
	if e, ok := errorAs[interface{ SQLErrorNumber() int32 }](err); ok {
		return transientSQLError(e.SQLErrorNumber())
	}
	return brokenConnection(err)
}

// transientSQLError reports whether SQL Server error number n is one that
// goes away by itself: Microsoft's list for Azure SQL ("Transient fault
// error codes") and the deadlock and lock time-out errors.
func transientSQLError(n int32) bool {
	switch n {
	case 1205, // chosen as deadlock victim
		1222,                       // lock request time-out
		4060,                       // cannot open the database (during a resume or fail-over)
		4221,                       // login to a read replica timed out waiting for it
		40143, 40197, 40501, 40540, // the service could not process the request, is busy, …
		40613,               // database not currently available (a serverless database resuming)
		49918, 49919, 49920, // not enough resources, too many operations in progress
		10928, 10929: // resource limits (workers, sessions)
		return true
	}
	return false
}

// brokenConnection reports whether err says that the connection failed
// rather than the statement: the network or the server's end of it.
func brokenConnection(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	if _, ok := errorAs[net.Error](err); ok {
		return true
	}
	_, ok := errorAs[mssql.StreamError](err)
	return ok
}

// lostRace marks err as a lost insert race when it is a duplicate key
// (2627: unique constraint, 2601: unique index). Only statements that
// insert after finding no row may call it.
func lostRace(err error) error {
	e, ok := errorAs[mssql.Error](err)
	if !ok {
		return err
	}
	// Number is the last error of the batch; All has them all.
	for _, n := range append([]mssql.Error{e}, e.All...) {
		if n.Number == 2627 || n.Number == 2601 {
			return lostRaceError{err}
		}
	}
	return err
}

func (d mssqlDialect) migrate(ctx context.Context, db *sql.DB) error {
	return mssqlMigrations().run(ctx, db, d)
}

func mssqlMigrations() migrations {
	return migrations{
		lock: func(ctx context.Context, tx *sql.Tx) error {
			// An application lock owned by the transaction: a second process
			// waits here until the first has committed the schema. Sent
			// without parameters, as a plain batch.
			var status int
			// No SET NOCOUNT ON: it would outlive the batch on this pooled
			// session, and the store relies on rows-affected counts.
			err := tx.QueryRowContext(ctx, `DECLARE @status INT;
				EXEC @status = sp_getapplock @Resource = N'tinyhead.schema', @LockMode = N'Exclusive',
					@LockOwner = N'Transaction', @LockTimeout = 60000;
				SELECT @status;`).Scan(&status)
			if err == nil && status < 0 {
				err = fmt.Errorf("sp_getapplock returned %d", status)
			}
			return err
		},
		versionTable: `IF OBJECT_ID(N'schema_version', N'U') IS NULL
			CREATE TABLE schema_version (
				version    INT          NOT NULL,
				applied_at DATETIME2(7) NOT NULL,
				CONSTRAINT pk_schema_version PRIMARY KEY (version)
			)`,
		steps: [][]string{mssqlSchemaV1(), mssqlSchemaV2(), mssqlSchemaV3(), mssqlSchemaV4(), mssqlSchemaV5(), mssqlSchemaV6(), mssqlSchemaSketches()},
	}
}

// versionQueries: the WITH (UPDLOCK, HOLDLOCK) reads make concurrent
// claimers of one source queue on SQL Server; Babelfish ignores the hints,
// and there the compare-and-swap updates (checked by rows affected) and
// the unique keys (a lost insert race is retried) keep the outcome right.
func (mssqlDialect) embeddingQueries() *embeddingQueries { return mssqlEmbeddingQueries() }

func (mssqlDialect) versionQueries() *versionQueries {
	return &versionQueries{
		getClaim:    `SELECT etag, modified FROM sources WITH (UPDLOCK, HOLDLOCK) WHERE source_key = @p1`,
		insertClaim: `INSERT INTO sources (source_key, source, etag, modified, updated_at) VALUES (@p1, @p2, @p3, @p4, @p5)`,
		moveClaim: `UPDATE sources SET etag = @p1, modified = @p2, updated_at = @p3
			WHERE source_key = @p4 AND etag = @p5`,
		touchClaim: `UPDATE sources SET updated_at = @p1 WHERE source_key = @p2 AND etag = @p3`,
		supersede: `UPDATE ingests SET status = N'superseded', updated_at = @p1
			WHERE source_key = @p2 AND etag <> @p3 AND status = N'running'`,
		getIngest: `SELECT ` + ingestColumns + ` FROM ingests WITH (UPDLOCK, HOLDLOCK)
			WHERE source_key = @p1 AND etag = @p2`,
		insertIngest: `INSERT INTO ingests (source_key, source, etag, status, rows_ok, rows_rejected, error, attempts,
				modified, started_at, updated_at, lease_until)
			VALUES (@p1, @p2, @p3, @p4, 0, 0, N'', 1, @p5, @p6, @p7, @p8)`,
		countAttempt: `UPDATE ingests SET status = @p1, attempts = attempts + 1, updated_at = @p2
			WHERE source_key = @p3 AND etag = @p4 AND attempts = @p5`,
		takeOver: `UPDATE ingests SET status = N'running', attempts = attempts + 1, started_at = @p1, updated_at = @p1,
				lease_until = @p2
			WHERE source_key = @p3 AND etag = @p4 AND attempts = @p5`,
		renew: `UPDATE ingests SET lease_until = @p1, updated_at = @p2
			WHERE source_key = @p3 AND etag = @p4 AND attempts = @p5 AND status = N'running'`,
	}
}

// mssqlSchemaV1 is the first schema. Sizes: see internal/sqlstore/rowcheck. Every text
// column that is compared or grouped uses a binary collation (blob names,
// ids and labels are case-sensitive); the index keys stay far below the
// 1,700-byte limit because long strings are indexed through their SHA-256.
func mssqlSchemaV1() []string {
	return []string{
		`CREATE TABLE documents (
			id              BIGINT IDENTITY(1,1) NOT NULL,
			source_key      BINARY(32)     NOT NULL, -- SHA-256 of source (UTF-8)
			item_key        BINARY(32)     NOT NULL, -- SHA-256 of item (UTF-8)
			source          NVARCHAR(1024) COLLATE Latin1_General_100_BIN2 NOT NULL,
			item            NVARCHAR(1024) COLLATE Latin1_General_100_BIN2 NOT NULL,
			source_version  NVARCHAR(256)  COLLATE Latin1_General_100_BIN2 NOT NULL,
			content_hash    NVARCHAR(64)   COLLATE Latin1_General_100_BIN2 NOT NULL,
			text            NVARCHAR(MAX)  NOT NULL,
			embedding_model NVARCHAR(256)  COLLATE Latin1_General_100_BIN2 NOT NULL,
			embedding       VARBINARY(MAX) NOT NULL, -- float32 little-endian
			dim             INT            NOT NULL,
			created_at      DATETIME2(7)   NOT NULL,
			updated_at      DATETIME2(7)   NOT NULL,
			CONSTRAINT pk_documents PRIMARY KEY CLUSTERED (id),
			CONSTRAINT uq_documents_key UNIQUE (source_key, item_key)
		)`,
		`CREATE INDEX ix_documents_model_hash ON documents (embedding_model, content_hash)`,
		`CREATE TABLE labels (
			document_id BIGINT         NOT NULL,
			task        NVARCHAR(256)  COLLATE Latin1_General_100_BIN2 NOT NULL,
			label       NVARCHAR(1024) COLLATE Latin1_General_100_BIN2 NOT NULL,
			updated_at  DATETIME2(7)   NOT NULL,
			CONSTRAINT pk_labels PRIMARY KEY (document_id, task),
			CONSTRAINT fk_labels_document FOREIGN KEY (document_id) REFERENCES documents (id) ON DELETE CASCADE
		)`,
		// label is included, not a key column: (task, label) could reach
		// 2,560 bytes.
		`CREATE INDEX ix_labels_task ON labels (task) INCLUDE (label)`,
		`CREATE TABLE ingests (
			id            BIGINT IDENTITY(1,1) NOT NULL,
			source_key    BINARY(32)     NOT NULL, -- SHA-256 of source (UTF-8)
			source        NVARCHAR(1024) COLLATE Latin1_General_100_BIN2 NOT NULL,
			etag          NVARCHAR(256)  COLLATE Latin1_General_100_BIN2 NOT NULL,
			status        NVARCHAR(16)   COLLATE Latin1_General_100_BIN2 NOT NULL,
			rows_ok       INT            NOT NULL,
			rows_rejected INT            NOT NULL,
			error         NVARCHAR(MAX)  NOT NULL,
			attempts      INT            NOT NULL,
			started_at    DATETIME2(7)   NOT NULL,
			updated_at    DATETIME2(7)   NOT NULL,
			CONSTRAINT pk_ingests PRIMARY KEY CLUSTERED (id),
			CONSTRAINT uq_ingests_key UNIQUE (source_key, etag)
		)`,
		`CREATE TABLE models (
			id         BIGINT IDENTITY(1,1) NOT NULL,
			task       NVARCHAR(256)  COLLATE Latin1_General_100_BIN2 NOT NULL,
			version    NVARCHAR(128)  COLLATE Latin1_General_100_BIN2 NOT NULL,
			created_at DATETIME2(7)   NOT NULL,
			row_count  BIGINT         NOT NULL,
			metrics    NVARCHAR(MAX)  NOT NULL, -- JSON
			blob_path  NVARCHAR(1024) NOT NULL,
			promoted   BIT            NOT NULL CONSTRAINT df_models_promoted DEFAULT 0,
			CONSTRAINT pk_models PRIMARY KEY CLUSTERED (id),
			CONSTRAINT uq_models_task_version UNIQUE (task, version)
		)`,
	}
}

// mssqlSchemaV2 orders the versions of a source (see versions.go): the
// sources table holds each source's claimed version, and an ingest record
// keeps its version's LastModified and its attempt's lease. Records of
// older databases get the zero time: their leases have expired.
func mssqlSchemaV2() []string {
	return []string{
		`CREATE TABLE sources (
			source_key BINARY(32)     NOT NULL, -- SHA-256 of source (UTF-8)
			source     NVARCHAR(1024) COLLATE Latin1_General_100_BIN2 NOT NULL,
			etag       NVARCHAR(256)  COLLATE Latin1_General_100_BIN2 NOT NULL, -- the newest version claimed
			modified   DATETIME2(7)   NOT NULL, -- its LastModified
			updated_at DATETIME2(7)   NOT NULL,
			CONSTRAINT pk_sources PRIMARY KEY CLUSTERED (source_key)
		)`,
		`ALTER TABLE ingests ADD modified DATETIME2(7) NOT NULL
			CONSTRAINT df_ingests_modified DEFAULT '0001-01-01T00:00:00'`,
		`ALTER TABLE ingests ADD lease_until DATETIME2(7) NOT NULL
			CONSTRAINT df_ingests_lease_until DEFAULT '0001-01-01T00:00:00'`,
	}
}

// mssqlSchemaV3 widens the source columns to rowcheck.MaxSourceLen (2,176 UTF-16
// code units): "incoming/" and a blob name of the full 1,024 characters did
// not fit NVARCHAR(1024). The columns are not indexed (lookups go through
// source_key), so the change is in place. SQL Server needs the COLLATE
// and NOT NULL clauses, or the column would fall back to the database's
// collation and become nullable; Babelfish refuses both in ALTER COLUMN
// and keeps the column's collation and NOT NULL without them (PostgreSQL's
// ALTER COLUMN TYPE), so there the statement goes without. Each is dynamic
// SQL, parsed only on the engine that runs it.
func mssqlSchemaV3() []string {
	var out []string
	for _, table := range []string{"documents", "ingests", "sources"} {
		alter := `ALTER TABLE ` + table + ` ALTER COLUMN source NVARCHAR(2176)`
		out = append(out, `IF @@VERSION LIKE N'%Babelfish%'
			EXEC(N'`+alter+`')
		ELSE
			EXEC(N'`+alter+` COLLATE Latin1_General_100_BIN2 NOT NULL')`)
	}
	return out
}

// mssqlSchemaV4 keeps each document's validation group and test mark
// (tinyhead.Document's Group and Test): an empty group is a group of its own, and
// older documents are neither grouped nor held out for testing. Groups
// are only read back, never compared in SQL, so they need no index.
func mssqlSchemaV4() []string {
	return []string{
		`ALTER TABLE documents ADD doc_group NVARCHAR(1024) COLLATE Latin1_General_100_BIN2 NOT NULL
			CONSTRAINT df_documents_doc_group DEFAULT N''`,
		`ALTER TABLE documents ADD is_test BIT NOT NULL CONSTRAINT df_documents_is_test DEFAULT 0`,
	}
}

// mssqlSchemaV5 is sqliteSchemaV4 on SQL Server: embeddings apart from
// documents, one per (model, content hash), the old vectors moved there and
// the documents' columns emptied, and the claims of re-embedding runs.
func mssqlSchemaV5() []string {
	return []string{
		`CREATE TABLE embeddings (
			model        NVARCHAR(256)  COLLATE Latin1_General_100_BIN2 NOT NULL,
			content_hash NVARCHAR(64)   COLLATE Latin1_General_100_BIN2 NOT NULL,
			dim          INT            NOT NULL,
			embedding    VARBINARY(MAX) NOT NULL, -- float32 little-endian
			created_at   DATETIME2(7)   NOT NULL,
			CONSTRAINT pk_embeddings PRIMARY KEY CLUSTERED (content_hash, model)
		)`,
		migrateEmbeddings,
		`UPDATE documents SET embedding_model = N'', embedding = 0x, dim = 0`,
		`DROP INDEX ix_documents_model_hash ON documents`,
		`CREATE INDEX ix_documents_hash ON documents (content_hash)`,
		`CREATE TABLE embedding_claims (
			model        NVARCHAR(256) COLLATE Latin1_General_100_BIN2 NOT NULL,
			content_hash NVARCHAR(64)  COLLATE Latin1_General_100_BIN2 NOT NULL,
			owner        NVARCHAR(64)  COLLATE Latin1_General_100_BIN2 NOT NULL, -- the run holding the claim
			lease_until  DATETIME2(7)  NOT NULL,
			CONSTRAINT pk_embedding_claims PRIMARY KEY CLUSTERED (model, content_hash)
		)`,
		`CREATE INDEX ix_embedding_claims_owner ON embedding_claims (owner)`,
	}
}

// mssqlSchemaV6 adds the predictions table that batch scoring writes
// (predictions.go): one row per document and task, deleted with the
// document (the primary key serves that cascade and the lookups of
// incremental scoring). The one index serves a task's version: deleting
// the other versions' rows, and the "label next" list. It leaves margin
// out of the key: rows of a page then go to the index's end, where a key
// ordered by margin would scatter them over every page of it.
func mssqlSchemaV6() []string {
	return []string{
		`CREATE TABLE predictions (
			document_id   BIGINT         NOT NULL,
			task          NVARCHAR(256)  COLLATE Latin1_General_100_BIN2 NOT NULL,
			version       NVARCHAR(128)  COLLATE Latin1_General_100_BIN2 NOT NULL,
			label         NVARCHAR(1024) COLLATE Latin1_General_100_BIN2 NOT NULL,
			probability   FLOAT          NOT NULL,
			margin        FLOAT          NOT NULL,
			probabilities NVARCHAR(MAX)  NOT NULL, -- JSON object: label → probability
			scored_at     DATETIME2(7)   NOT NULL,
			CONSTRAINT pk_predictions PRIMARY KEY CLUSTERED (document_id, task),
			CONSTRAINT fk_predictions_document FOREIGN KEY (document_id) REFERENCES documents (id) ON DELETE CASCADE
		)`,
		`CREATE INDEX ix_predictions_version ON predictions (task, version) INCLUDE (margin)`,
	}
}

// mssqlSchemaSketches adds the texts' lexical sketches (sketches.go):
// one row per content hash, the featurizer's version beside it.
func mssqlSchemaSketches() []string {
	return []string{
		`CREATE TABLE sketches (
			content_hash NVARCHAR(64)   COLLATE Latin1_General_100_BIN2 NOT NULL,
			version      NVARCHAR(64)   COLLATE Latin1_General_100_BIN2 NOT NULL,
			sketch       VARBINARY(MAX) NOT NULL, -- (uint32 index, float32 value) little-endian pairs
			CONSTRAINT pk_sketches PRIMARY KEY CLUSTERED (content_hash)
		)`,
	}
}
