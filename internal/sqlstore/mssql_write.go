package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// The batch is bulk-copied into two temporary tables and merged with a few
// set-based statements: a handful of round trips per call instead of
// several per document. The temporary tables are created in a batch without
// parameters: go-mssqldb sends a batch with parameters through
// sp_executesql, and a #table created there would vanish when it returns.
// Their text columns carry the binary collation of the real tables, so
// joins do not hit a collation conflict with tempdb's default.
const mssqlCreateTemp = `
IF OBJECT_ID(N'tempdb..#put_docs') IS NOT NULL DROP TABLE #put_docs;
IF OBJECT_ID(N'tempdb..#put_labels') IS NOT NULL DROP TABLE #put_labels;
CREATE TABLE #put_docs (
	seq             INT            NOT NULL,
	source_key      BINARY(32)     NOT NULL,
	item_key        BINARY(32)     NOT NULL,
	source          NVARCHAR(1024) COLLATE Latin1_General_100_BIN2 NOT NULL,
	item            NVARCHAR(1024) COLLATE Latin1_General_100_BIN2 NOT NULL,
	source_version  NVARCHAR(256)  COLLATE Latin1_General_100_BIN2 NOT NULL,
	content_hash    NVARCHAR(64)   COLLATE Latin1_General_100_BIN2 NOT NULL,
	text            NVARCHAR(MAX)  NOT NULL,
	embedding_model NVARCHAR(256)  COLLATE Latin1_General_100_BIN2 NOT NULL,
	embedding       VARBINARY(MAX) NOT NULL,
	dim             INT            NOT NULL,
	is_new          BIT            NULL,
	PRIMARY KEY (source_key, item_key)
);
CREATE TABLE #put_labels (
	source_key BINARY(32)     NOT NULL,
	item_key   BINARY(32)     NOT NULL,
	task       NVARCHAR(256)  COLLATE Latin1_General_100_BIN2 NOT NULL,
	label      NVARCHAR(1024) COLLATE Latin1_General_100_BIN2 NULL, -- NULL: remove
	PRIMARY KEY (source_key, item_key, task)
);`

// mssqlMergeDocuments upserts #put_docs into documents; @p1 is the time.
// The first statement reads the target keys with UPDLOCK, HOLDLOCK: the
// existing rows and the gaps where new ones go stay locked to the end of
// the transaction, so no concurrent writer can insert the same key between
// the check and the insert (a deadlock between two such writers is retried
// by the caller). New rows are inserted in the caller's order, so ids
// follow it.
const mssqlMergeDocuments = `
UPDATE t SET is_new = CASE WHEN EXISTS (
		SELECT 1 FROM documents AS d WITH (UPDLOCK, HOLDLOCK)
		WHERE d.source_key = t.source_key AND d.item_key = t.item_key) THEN 0 ELSE 1 END
FROM #put_docs AS t;

UPDATE d SET
	source_version = t.source_version,
	content_hash = t.content_hash,
	text = t.text,
	embedding_model = t.embedding_model,
	embedding = t.embedding,
	dim = t.dim,
	updated_at = @p1
FROM documents AS d
JOIN #put_docs AS t ON t.source_key = d.source_key AND t.item_key = d.item_key
WHERE t.is_new = 0;

INSERT INTO documents (source_key, item_key, source, item, source_version, content_hash, text,
	embedding_model, embedding, dim, created_at, updated_at)
SELECT source_key, item_key, source, item, source_version, content_hash, text,
	embedding_model, embedding, dim, @p1, @p1
FROM #put_docs
WHERE is_new = 1
ORDER BY seq;`

// mssqlMergeLabels applies #put_labels; @p1 is the time. Every document
// concerned is locked by mssqlMergeDocuments in the same transaction, and
// every writer of labels locks the document first, so these need no
// range locks of their own. An unchanged label keeps its updated_at.
// DATALENGTH tells N'a' from N'a ', which = and <> do not.
const mssqlMergeLabels = `
DELETE l
FROM labels AS l
JOIN documents AS d ON d.id = l.document_id
JOIN #put_labels AS t ON t.source_key = d.source_key AND t.item_key = d.item_key AND t.task = l.task
WHERE t.label IS NULL;

UPDATE l SET label = t.label, updated_at = @p1
FROM labels AS l
JOIN documents AS d ON d.id = l.document_id
JOIN #put_labels AS t ON t.source_key = d.source_key AND t.item_key = d.item_key AND t.task = l.task
WHERE t.label IS NOT NULL
	AND (l.label <> t.label OR DATALENGTH(l.label) <> DATALENGTH(t.label));

INSERT INTO labels (document_id, task, label, updated_at)
SELECT d.id, t.task, t.label, @p1
FROM #put_labels AS t
JOIN documents AS d ON d.source_key = t.source_key AND d.item_key = t.item_key
WHERE t.label IS NOT NULL
	AND NOT EXISTS (SELECT 1 FROM labels AS l WHERE l.document_id = d.id AND l.task = t.task);`

const mssqlDropTemp = `DROP TABLE #put_docs; DROP TABLE #put_labels;`

func (d mssqlDialect) putDocuments(ctx context.Context, tx *sql.Tx, docs []tinyhead.Document, now time.Time) error {
	if _, err := tx.ExecContext(ctx, mssqlCreateTemp); err != nil {
		return fmt.Errorf("create temporary tables: %w", err)
	}
	nLabels, err := copyDocuments(ctx, tx, docs)
	if err != nil {
		return err
	}
	ts := d.timeArg(now)
	if _, err := tx.ExecContext(ctx, mssqlMergeDocuments, ts); err != nil {
		return fmt.Errorf("merge documents: %w", err)
	}
	if nLabels > 0 {
		if _, err := tx.ExecContext(ctx, mssqlMergeLabels, ts); err != nil {
			return fmt.Errorf("merge labels: %w", err)
		}
	}
	// Dropped here rather than left to the connection reset, so the pooled
	// session is clean whatever the driver does.
	if _, err := tx.ExecContext(ctx, mssqlDropTemp); err != nil {
		return fmt.Errorf("drop temporary tables: %w", err)
	}
	return nil
}

// copyDocuments bulk-copies docs and their labels into the temporary
// tables and returns the number of label rows.
func copyDocuments(ctx context.Context, tx *sql.Tx, docs []tinyhead.Document) (int, error) {
	docStmt, err := tx.PrepareContext(ctx, mssql.CopyIn("#put_docs", mssql.BulkOptions{},
		"seq", "source_key", "item_key", "source", "item", "source_version", "content_hash", "text",
		"embedding_model", "embedding", "dim"))
	if err != nil {
		return 0, fmt.Errorf("bulk copy documents: %w", err)
	}
	defer docStmt.Close()
	// The bulk copy encodes each row as it is added, so one buffer serves.
	buf := make([]byte, 0, 4096)
	for i, doc := range docs {
		buf = AppendVector(buf[:0], doc.Embedding)
		_, err := docStmt.ExecContext(ctx, int64(i), keyOf(doc.Source), keyOf(doc.Item), doc.Source, doc.Item,
			doc.SourceVersion, doc.ContentHash, doc.Text, doc.EmbeddingModel, buf, int64(len(doc.Embedding)))
		if err != nil {
			return 0, fmt.Errorf("bulk copy item %q: %w", doc.Item, err)
		}
	}
	if _, err := docStmt.ExecContext(ctx); err != nil {
		return 0, fmt.Errorf("bulk copy documents: %w", err)
	}

	n := 0
	for _, doc := range docs {
		n += len(doc.Labels)
	}
	if n == 0 {
		return 0, nil
	}
	labelStmt, err := tx.PrepareContext(ctx, mssql.CopyIn("#put_labels", mssql.BulkOptions{},
		"source_key", "item_key", "task", "label"))
	if err != nil {
		return 0, fmt.Errorf("bulk copy labels: %w", err)
	}
	defer labelStmt.Close()
	for _, doc := range docs {
		sk, ik := keyOf(doc.Source), keyOf(doc.Item)
		for task, label := range doc.Labels {
			var v any = label
			if label == "" {
				v = nil
			}
			if _, err := labelStmt.ExecContext(ctx, sk, ik, task, v); err != nil {
				return 0, fmt.Errorf("bulk copy label %q of item %q: %w", task, doc.Item, err)
			}
		}
	}
	if _, err := labelStmt.ExecContext(ctx); err != nil {
		return 0, fmt.Errorf("bulk copy labels: %w", err)
	}
	return n, nil
}

// beginIngest is "update, then insert if no row was updated" in one
// transaction. HOLDLOCK keeps the key range locked when the row is
// missing, so a concurrent caller waits and then counts its attempt on the
// row this one inserts; should both get past the update anyway (Babelfish
// ignores the hints), the loser of the insert race hits the unique
// constraint, and the retry counts its attempt on the winner's row.
func (d mssqlDialect) beginIngest(ctx context.Context, db *sql.DB, source, etag string, now time.Time) (tinyhead.Ingest, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return tinyhead.Ingest{}, err
	}
	defer tx.Rollback()
	sk, ts := keyOf(source), d.timeArg(now)
	res, err := tx.ExecContext(ctx, `UPDATE ingests WITH (UPDLOCK, HOLDLOCK)
		SET attempts = attempts + 1,
			started_at = CASE WHEN status = N'running' THEN @p3 ELSE started_at END,
			updated_at = @p3
		WHERE source_key = @p1 AND etag = @p2`, sk, etag, ts)
	if err != nil {
		return tinyhead.Ingest{}, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return tinyhead.Ingest{}, err
	}
	if n == 0 {
		_, err := tx.ExecContext(ctx, `INSERT INTO ingests
			(source_key, source, etag, status, rows_ok, rows_rejected, error, attempts, started_at, updated_at)
			VALUES (@p1, @p2, @p3, N'running', 0, 0, N'', 1, @p4, @p4)`, sk, source, etag, ts)
		if err != nil {
			return tinyhead.Ingest{}, lostRace(err)
		}
	}
	in, err := scanIngest(tx.QueryRowContext(ctx, d.queries().getIngest, sk, etag))
	if err != nil {
		return tinyhead.Ingest{}, err
	}
	return in, tx.Commit()
}

// pruneBatch keeps each DELETE under SQL Server's lock escalation
// threshold (5,000 locks), so pruning a large file does not lock the whole
// table against concurrent ingests.
const pruneBatch = 2000

// pruneSource deletes in batches, each its own transaction: a failure part
// way leaves a prune that the next call completes.
func (mssqlDialect) pruneSource(ctx context.Context, db *sql.DB, source, keepVersion string) (int, error) {
	total := 0
	for {
		res, err := db.ExecContext(ctx, `DELETE TOP (@p3) FROM documents
			WHERE source_key = @p1
				AND (source_version <> @p2 OR DATALENGTH(source_version) <> DATALENGTH(@p2))`,
			keyOf(source), keepVersion, pruneBatch)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += int(n)
		if n < pruneBatch {
			return total, nil
		}
	}
}
