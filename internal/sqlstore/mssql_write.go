package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
	"github.com/tinyhead/tinyhead/internal/sqlstore/rowcheck"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// The batch is bulk-copied into two temporary tables and merged with
// set-based statements: a handful of round trips per call instead of
// several per document. The temporary tables are created in a batch without
// parameters: go-mssqldb sends a batch with parameters through
// sp_executesql, and a #table created there would vanish when it returns.
// Their text columns carry the binary collation of the real tables, so
// joins do not hit a collation conflict with tempdb's default.
//
// #put_docs is keyed by seq, the document's place in the batch, and gets
// the id of its documents row once that is known; #put_labels refers to
// its document by seq. So the binary (source_key, item_key) pair is used
// only to look each document up once, by the unique index, and every join
// after that is on integers, as the target's keys are: labels are matched
// on (document_id, task), the primary key of labels. (Joining labels to
// the batch through the binary keys made Babelfish, which cannot hash or
// merge-join on VARBINARY, pair every label of the task with every row of
// the batch: seconds per batch, growing with the table.)
const mssqlCreateTemp = `
IF OBJECT_ID(N'tempdb..#put_docs') IS NOT NULL DROP TABLE #put_docs;
IF OBJECT_ID(N'tempdb..#put_labels') IS NOT NULL DROP TABLE #put_labels;
IF OBJECT_ID(N'tempdb..#put_old') IS NOT NULL DROP TABLE #put_old;
CREATE TABLE #put_docs (
	seq             INT            NOT NULL,
	id              BIGINT         NULL, -- documents.id, once known
	is_new          BIT            NOT NULL, -- inserted by this batch (copied as 0)
	source_key      BINARY(32)     NOT NULL,
	item_key        BINARY(32)     NOT NULL,
	source          NVARCHAR(2176) COLLATE Latin1_General_100_BIN2 NOT NULL,
	item            NVARCHAR(1024) COLLATE Latin1_General_100_BIN2 NOT NULL,
	source_version  NVARCHAR(256)  COLLATE Latin1_General_100_BIN2 NOT NULL,
	content_hash    NVARCHAR(64)   COLLATE Latin1_General_100_BIN2 NOT NULL,
	text            NVARCHAR(MAX)  NOT NULL,
	doc_group       NVARCHAR(1024) COLLATE Latin1_General_100_BIN2 NOT NULL,
	is_test         BIT            NOT NULL,
	PRIMARY KEY (seq)
);
CREATE TABLE #put_labels (
	seq         INT            NOT NULL, -- the document's seq in #put_docs
	document_id BIGINT         NULL,     -- its documents.id, once known
	is_new      BIT            NULL,     -- its document is new, once known
	task        NVARCHAR(256)  COLLATE Latin1_General_100_BIN2 NOT NULL,
	label       NVARCHAR(1024) COLLATE Latin1_General_100_BIN2 NULL, -- NULL: remove
	PRIMARY KEY (seq, task)
);
CREATE TABLE #put_old ( -- content hashes that rewritten documents held before
	content_hash NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL PRIMARY KEY
);` + mssqlCreateVectorTemp

// mssqlMergeDocuments upserts #put_docs into documents; @p1 is the time.
// The first statement looks every key up with UPDLOCK, HOLDLOCK: the
// existing rows and the gaps where new ones go stay locked to the end of
// the transaction, so no concurrent writer can insert the same key between
// the check and the insert (a deadlock between two such writers is retried
// by the caller). The lookup is a correlated subquery, one seek of
// uq_documents_key per row, on purpose: a join could be planned as a scan,
// which with HOLDLOCK would lock the whole table. Existing rows are then
// updated by id, new ones inserted in the caller's order, so ids follow it,
// and looked up the same way. A statement with nothing to do (no existing
// rows in a new file, no new rows in a new version of one) is skipped: a
// join can cost a scan of the target even when one side is empty.
//
// A document stored from another source_version than the batch's loses,
// before it is updated, the labels of the tasks the batch does not give it
// (a new version replaces the row, labels included).
//
// Babelfish parses and ignores the hints; there a concurrent writer of the
// same new key makes the INSERT fail on uq_documents_key instead of
// waiting, and putDocuments reports that as a lost race, which is retried.
//
// XACT_ABORT ON makes the first error end the batch (and the
// transaction): by default SQL Server aborts only the failing statement
// and runs the next ones, which would then fail on the rows it did not
// write, and report their error instead of the first. Set inside the
// batch, which sp_executesql runs, it reverts when the batch ends.
const mssqlMergeDocuments = `
SET XACT_ABORT ON;

UPDATE t SET id = (
		SELECT d.id FROM documents AS d WITH (UPDLOCK, HOLDLOCK)
		WHERE d.source_key = t.source_key AND d.item_key = t.item_key)
FROM #put_docs AS t;

DECLARE @existing INT = (SELECT COUNT(*) FROM #put_docs WHERE id IS NOT NULL);

IF @existing > 0
	DELETE l
	FROM labels AS l
	JOIN #put_docs AS t ON t.id = l.document_id
	JOIN documents AS d ON d.id = t.id
	WHERE (d.source_version <> t.source_version OR DATALENGTH(d.source_version) <> DATALENGTH(t.source_version))
		AND NOT EXISTS (SELECT 1 FROM #put_labels AS p
			WHERE p.seq = t.seq AND p.task = l.task AND p.label IS NOT NULL);

IF @existing > 0
	INSERT INTO #put_old (content_hash)
	SELECT DISTINCT d.content_hash
	FROM documents AS d
	JOIN #put_docs AS t ON t.id = d.id
	WHERE d.content_hash <> t.content_hash;

IF @existing > 0
	UPDATE d SET
		source_version = t.source_version,
		content_hash = t.content_hash,
		text = t.text,
		doc_group = t.doc_group,
		is_test = t.is_test,
		updated_at = @p1
	FROM documents AS d
	JOIN #put_docs AS t ON t.id = d.id;

IF EXISTS (SELECT 1 FROM #put_docs WHERE id IS NULL)
BEGIN
	INSERT INTO documents (source_key, item_key, source, item, source_version, content_hash, text,
		embedding_model, embedding, dim, doc_group, is_test, created_at, updated_at)
	SELECT source_key, item_key, source, item, source_version, content_hash, text,
		N'', 0x, 0, doc_group, is_test, @p1, @p1
	FROM #put_docs
	WHERE id IS NULL
	ORDER BY seq;

	UPDATE t SET is_new = 1, id = (
			SELECT d.id FROM documents AS d
			WHERE d.source_key = t.source_key AND d.item_key = t.item_key)
	FROM #put_docs AS t
	WHERE t.id IS NULL;
END;`

// mssqlMergeLabels applies #put_labels; @p1 is the time. It follows
// mssqlMergeDocuments in the same batch and uses its @existing: only
// documents that existed before can have labels to delete or update, or
// to check before an insert (that check would otherwise scan labels).
// Every document concerned is locked by mssqlMergeDocuments in the same
// transaction, and every writer of labels locks the document first, so
// these need no range locks of their own. An unchanged label keeps its
// updated_at. DATALENGTH tells N'a' from N'a ', which = and <> do not
// (labels are trimmed on the way in; this rewrites one stored before).
const mssqlMergeLabels = `
UPDATE t SET document_id = p.id, is_new = p.is_new
FROM #put_labels AS t
JOIN #put_docs AS p ON p.seq = t.seq;

IF @existing > 0
BEGIN
	DELETE l
	FROM labels AS l
	JOIN #put_labels AS t ON t.document_id = l.document_id AND t.task = l.task
	WHERE t.label IS NULL;

	UPDATE l SET label = t.label, updated_at = @p1
	FROM labels AS l
	JOIN #put_labels AS t ON t.document_id = l.document_id AND t.task = l.task
	WHERE t.label IS NOT NULL
		AND (l.label <> t.label OR DATALENGTH(l.label) <> DATALENGTH(t.label));
END;

INSERT INTO labels (document_id, task, label, updated_at)
SELECT t.document_id, t.task, t.label, @p1
FROM #put_labels AS t
WHERE t.label IS NOT NULL AND t.is_new = 1;

IF @existing > 0
	INSERT INTO labels (document_id, task, label, updated_at)
	SELECT t.document_id, t.task, t.label, @p1
	FROM #put_labels AS t
	WHERE t.label IS NOT NULL AND t.is_new = 0
		AND NOT EXISTS (SELECT 1 FROM labels AS l WHERE l.document_id = t.document_id AND l.task = t.task);`

// mssqlDropTemp ends the merge batch. The tables are dropped here rather
// than left to the connection reset, so the pooled session is clean
// whatever the driver does.
const mssqlDropTemp = `
DROP TABLE #put_docs;
DROP TABLE #put_labels;
DROP TABLE #put_old;
DROP TABLE #put_emb;`

// mssqlCreateVectorTemp creates #put_emb, the vectors to store.
const mssqlCreateVectorTemp = `
IF OBJECT_ID(N'tempdb..#put_emb') IS NOT NULL DROP TABLE #put_emb;
CREATE TABLE #put_emb (
	model        NVARCHAR(256)  COLLATE Latin1_General_100_BIN2 NOT NULL,
	content_hash NVARCHAR(64)   COLLATE Latin1_General_100_BIN2 NOT NULL,
	dim          INT            NOT NULL,
	embedding    VARBINARY(MAX) NOT NULL,
	PRIMARY KEY (content_hash, model)
);`

// mssqlInsertVectors stores the vectors of #put_emb that are not stored
// yet, for hashes a document holds; @p1 is the time. The check is a seek
// WITH (UPDLOCK, HOLDLOCK): the key stays locked to the end of the
// transaction, so a concurrent writer of the same vector waits, and a
// concurrent deletion of the hash's last document (which deletes its
// vectors) is ordered with this one. @put counts the rows written.
const mssqlInsertVectors = `
SET XACT_ABORT ON;
DECLARE @put INT;
INSERT INTO embeddings (model, content_hash, dim, embedding, created_at)
SELECT t.model, t.content_hash, t.dim, t.embedding, @p1
FROM #put_emb AS t
WHERE EXISTS (SELECT 1 FROM documents AS d WHERE d.content_hash = t.content_hash)
	AND NOT EXISTS (SELECT 1 FROM embeddings AS e WITH (UPDLOCK, HOLDLOCK)
		WHERE e.content_hash = t.content_hash AND e.model = t.model);
SET @put = @@ROWCOUNT;`

// mssqlDropOldOrphans deletes the vectors of the hashes that rewritten
// documents held (#put_old) and no document holds any more.
const mssqlDropOldOrphans = `
DELETE e FROM embeddings AS e
JOIN #put_old AS o ON o.content_hash = e.content_hash
WHERE NOT EXISTS (SELECT 1 FROM documents AS d WHERE d.content_hash = e.content_hash);`

// putVectors stores the vectors that are missing (PutEmbeddings) and
// returns how many it wrote.
func (mssqlDialect) putVectors(ctx context.Context, tx *sql.Tx, vecs []rowcheck.Vector, now time.Time) (int, error) {
	if _, err := tx.ExecContext(ctx, mssqlCreateVectorTemp); err != nil {
		return 0, fmt.Errorf("create temporary table: %w", err)
	}
	if err := copyVectors(ctx, tx, vecs); err != nil {
		return 0, err
	}
	var n int
	err := tx.QueryRowContext(ctx, mssqlInsertVectors+"\nDROP TABLE #put_emb;\nSELECT @put;", mssqlDialect{}.timeArg(now)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("insert vectors: %w", lostRace(err))
	}
	return n, nil
}

// copyVectors bulk-copies vecs into #put_emb.
func copyVectors(ctx context.Context, tx *sql.Tx, vecs []rowcheck.Vector) error {
	stmt, err := tx.PrepareContext(ctx, mssql.CopyIn("#put_emb", mssql.BulkOptions{}, "model", "content_hash", "dim", "embedding"))
	if err != nil {
		return fmt.Errorf("bulk copy vectors: %w", err)
	}
	defer stmt.Close()
	buf := make([]byte, 0, 4096)
	for _, v := range vecs {
		buf = AppendVector(buf[:0], v.Vec)
		if _, err := stmt.ExecContext(ctx, v.Model, v.Hash, int64(len(v.Vec)), buf); err != nil {
			return fmt.Errorf("bulk copy the %s vector of %s: %w", v.Model, v.Hash, err)
		}
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		return fmt.Errorf("bulk copy vectors: %w", err)
	}
	return nil
}

func (d mssqlDialect) putDocuments(ctx context.Context, tx *sql.Tx, docs []tinyhead.Document, now time.Time) error {
	if _, err := tx.ExecContext(ctx, mssqlCreateTemp); err != nil {
		return fmt.Errorf("create temporary tables: %w", err)
	}
	nLabels, err := copyDocuments(ctx, tx, docs)
	if err != nil {
		return err
	}
	// One batch, one round trip, for the merge and the clean-up.
	if err := copyVectors(ctx, tx, rowcheck.Vectors(docs)); err != nil {
		return err
	}
	batch := mssqlMergeDocuments
	if nLabels > 0 {
		batch += mssqlMergeLabels
	}
	batch += mssqlInsertVectors + mssqlDropOldOrphans + mssqlDropTemp
	if _, err := tx.ExecContext(ctx, batch, d.timeArg(now)); err != nil {
		return fmt.Errorf("merge documents: %w", lostRace(err))
	}
	return nil
}

// copyDocuments bulk-copies docs and their labels into the temporary
// tables and returns the number of label rows.
//
// Bulk copy (INSERT BULK, what bcp and SqlBulkCopy use) is the way SQL
// Server and Azure SQL take many rows: one statement per table, the rows
// streamed in TDS packets, no limit of 2,100 parameters (a batch of 256
// rows with 11 columns would need 2,816 as one parameterised INSERT), and
// minimal logging into tempdb. go-mssqldb spends four round trips per
// table on it (column metadata, the INSERT BULK command, the rows), so a
// batch costs the same few round trips whatever its size; measured on
// Babelfish, the copy is a small part of PutDocuments (BENCHMARKS.md).
// Stock Babelfish 4.2.0 mishandled such a copy when its last packet
// straddled a packet boundary; SQL Server does not, so this stays.
func copyDocuments(ctx context.Context, tx *sql.Tx, docs []tinyhead.Document) (int, error) {
	docStmt, err := tx.PrepareContext(ctx, mssql.CopyIn("#put_docs", mssql.BulkOptions{},
		"seq", "is_new", "source_key", "item_key", "source", "item", "source_version", "content_hash", "text",
		"doc_group", "is_test"))
	if err != nil {
		return 0, fmt.Errorf("bulk copy documents: %w", err)
	}
	defer docStmt.Close()
	for i, doc := range docs {
		// is_new is sent rather than left to a column default, which a
		// bulk copy applies or not depending on its options (KEEP_NULLS).
		_, err := docStmt.ExecContext(ctx, int64(i), false, keyOf(doc.Source), keyOf(doc.Item), doc.Source, doc.Item,
			doc.SourceVersion, doc.ContentHash, doc.Text, doc.Group, doc.Test)
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
	labelStmt, err := tx.PrepareContext(ctx, mssql.CopyIn("#put_labels", mssql.BulkOptions{}, "seq", "task", "label"))
	if err != nil {
		return 0, fmt.Errorf("bulk copy labels: %w", err)
	}
	defer labelStmt.Close()
	for i, doc := range docs {
		for task, label := range doc.Labels {
			var v any = label
			if label == "" {
				v = nil
			}
			if _, err := labelStmt.ExecContext(ctx, int64(i), task, v); err != nil {
				return 0, fmt.Errorf("bulk copy label %q of item %q: %w", task, doc.Item, err)
			}
		}
	}
	if _, err := labelStmt.ExecContext(ctx); err != nil {
		return 0, fmt.Errorf("bulk copy labels: %w", err)
	}
	return n, nil
}

// pruneBatch keeps each DELETE under SQL Server's lock escalation
// threshold (5,000 locks), so pruning a large file does not lock the whole
// table against concurrent ingests.
const pruneBatch = 2000

// pruneBatch deletes one batch (PruneSource runs each in a transaction
// of its own): a failure part way leaves a prune that the next call
// completes.
func (d mssqlDialect) pruneBatch(ctx context.Context, tx *sql.Tx, source, keepVersion string) (int, bool, error) {
	n, err := d.deleteDocuments(ctx, tx, `source_key = @p2
		AND (source_version <> @p3 OR DATALENGTH(source_version) <> DATALENGTH(@p3))`, keyOf(source), keepVersion)
	return n, n == pruneBatch, err
}

// mssqlDeleteDocuments deletes up to @p1 documents matching the WHERE
// clause that follows, and then the vectors of the hashes they held that
// no document holds any more; it answers how many documents went.
const mssqlDeleteDocuments = `
SET XACT_ABORT ON;
CREATE TABLE #gone (content_hash NVARCHAR(64) COLLATE Latin1_General_100_BIN2 NOT NULL);
DELETE TOP (@p1) FROM documents OUTPUT deleted.content_hash INTO #gone
WHERE %s;
DECLARE @n INT = @@ROWCOUNT;
DELETE e FROM embeddings AS e
WHERE e.content_hash IN (SELECT content_hash FROM #gone)
	AND NOT EXISTS (SELECT 1 FROM documents AS d WHERE d.content_hash = e.content_hash);
DROP TABLE #gone;
SELECT @n;`

// deleteDocuments deletes one batch of pruneBatch documents that match
// where (whose parameters start at @p2) with their orphaned vectors.
func (mssqlDialect) deleteDocuments(ctx context.Context, tx *sql.Tx, where string, args ...any) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx, fmt.Sprintf(mssqlDeleteDocuments, where), append([]any{pruneBatch}, args...)...).Scan(&n)
	return n, err
}

// deleteSource marks the ingests of the versions deleted, then deletes
// their documents in batches of pruneBatch, each its own transaction, as
// pruneSource does: a failure part way leaves a deletion that the next
// call (the retry, or the event's re-delivery) completes. Etags and
// versions never end in a space (rowcheck), so = and IN compare them
// exactly.
func (d mssqlDialect) deleteSource(ctx context.Context, db *sql.DB, source string, versions []string, now time.Time) (int, error) {
	sk := keyOf(source)
	in, args := inList(d, 3, versions)
	_, err := db.ExecContext(ctx, `UPDATE ingests SET status = N'deleted', updated_at = @p2
		WHERE source_key = @p1 AND status <> N'deleted' AND etag IN (`+in+`)`,
		append([]any{sk, d.timeArg(now)}, args...)...)
	if err != nil {
		return 0, err
	}
	in, args = inList(d, 3, versions)
	where := `source_key = @p2 AND source_version IN (` + in + `)`
	total := 0
	for {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return total, err
		}
		n, err := d.deleteDocuments(ctx, tx, where, append([]any{sk}, args...)...)
		if err == nil {
			err = tx.Commit()
		}
		if err != nil {
			tx.Rollback()
			return total, err
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}
