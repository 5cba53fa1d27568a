package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// SetLabels on SQL Server is set-based, as PutDocuments is: the edits are
// bulk-copied into #label_edits, one batch finds every edit's documents
// (locking them) with their stored labels, planLabels works out the net
// changes in Go, and those are bulk-copied into #label_writes and applied
// by one DELETE, UPDATE and INSERT each: a dozen round trips per call
// instead of one or two per edit. The tables are created in a batch
// without parameters (see mssqlCreateTemp) with the binary collation of
// the real tables.
const mssqlCreateLabelTemp = `
IF OBJECT_ID(N'tempdb..#label_edits') IS NOT NULL DROP TABLE #label_edits;
IF OBJECT_ID(N'tempdb..#label_targets') IS NOT NULL DROP TABLE #label_targets;
IF OBJECT_ID(N'tempdb..#label_writes') IS NOT NULL DROP TABLE #label_writes;
CREATE TABLE #label_edits ( -- one identifier set, as tinyhead.DocRef picks it
	seq          INT            NOT NULL PRIMARY KEY, -- the edit's place in the call
	doc_id       BIGINT         NULL, -- by id, or the id its key found
	source_key   BINARY(32)     NULL,
	item_key     BINARY(32)     NULL,
	content_hash NVARCHAR(64)   COLLATE Latin1_General_100_BIN2 NULL,
	model        NVARCHAR(256)  COLLATE Latin1_General_100_BIN2 NULL,
	task         NVARCHAR(256)  COLLATE Latin1_General_100_BIN2 NOT NULL
);
CREATE TABLE #label_targets (
	seq         INT    NOT NULL,
	document_id BIGINT NOT NULL,
	PRIMARY KEY (seq, document_id)
);
CREATE TABLE #label_writes (
	document_id BIGINT         NOT NULL,
	task        NVARCHAR(256)  COLLATE Latin1_General_100_BIN2 NOT NULL,
	label       NVARCHAR(1024) COLLATE Latin1_General_100_BIN2 NULL, -- NULL: remove
	is_new      BIT            NOT NULL, -- no label stored: insert
	PRIMARY KEY (document_id, task)
);`

// mssqlResolveLabels finds the documents of #label_edits and answers
// them with their stored label of the edit's task. Keys are looked up
// first, one seek of uq_documents_key per edit (a correlated subquery, as
// in mssqlMergeDocuments: Babelfish cannot hash-join on BINARY), which
// turns them into ids. UPDLOCK keeps every document found locked to the
// end of the transaction, which orders every writer of its labels (see
// doc.go); Babelfish ignores it, and there a concurrent writer can insert
// a label first: the INSERT of mssqlWriteLabels then fails on the primary
// key, a lost race that is retried. A content hash names the documents of
// a text that hold a vector of the model. The batch has no parameters, so
// it runs as it is, not in sp_executesql: a SET here would outlast it.
const mssqlResolveLabels = `
UPDATE e SET doc_id = (
		SELECT d.id FROM documents AS d WITH (UPDLOCK, ROWLOCK)
		WHERE d.source_key = e.source_key AND d.item_key = e.item_key)
FROM #label_edits AS e
WHERE e.source_key IS NOT NULL;

INSERT INTO #label_targets (seq, document_id)
SELECT e.seq, d.id
FROM #label_edits AS e
JOIN documents AS d WITH (UPDLOCK, ROWLOCK) ON d.id = e.doc_id;

INSERT INTO #label_targets (seq, document_id)
SELECT e.seq, d.id
FROM #label_edits AS e
JOIN documents AS d WITH (UPDLOCK, ROWLOCK) ON d.content_hash = e.content_hash
WHERE e.content_hash IS NOT NULL
	AND EXISTS (SELECT 1 FROM embeddings AS x WHERE x.content_hash = d.content_hash AND x.model = e.model);

SELECT t.seq, t.document_id, COALESCE(l.label, N'')
FROM #label_targets AS t
JOIN #label_edits AS e ON e.seq = t.seq
LEFT JOIN labels AS l ON l.document_id = t.document_id AND l.task = e.task
ORDER BY t.seq, t.document_id;`

// The statements of mssqlWriteLabels, each joined on (document_id, task),
// the primary key of labels; @p1 is the time. Only those with rows to
// write are sent.
const (
	mssqlDeleteLabels = `
DELETE l FROM labels AS l
JOIN #label_writes AS w ON w.document_id = l.document_id AND w.task = l.task
WHERE w.label IS NULL;`
	mssqlUpdateLabels = `
UPDATE l SET label = w.label, updated_at = @p1
FROM labels AS l
JOIN #label_writes AS w ON w.document_id = l.document_id AND w.task = l.task
WHERE w.label IS NOT NULL AND w.is_new = 0;`
	mssqlInsertLabels = `
INSERT INTO labels (document_id, task, label, updated_at)
SELECT w.document_id, w.task, w.label, @p1
FROM #label_writes AS w
WHERE w.is_new = 1;`
	mssqlDropLabelTemp = `
DROP TABLE #label_edits;
DROP TABLE #label_targets;
DROP TABLE #label_writes;`
)

func (d mssqlDialect) setLabels(ctx context.Context, tx *sql.Tx, edits []tinyhead.LabelEdit, now time.Time) ([]tinyhead.LabelResult, error) {
	if _, err := tx.ExecContext(ctx, mssqlCreateLabelTemp); err != nil {
		return nil, fmt.Errorf("create temporary tables: %w", err)
	}
	if err := copyLabelEdits(ctx, tx, edits); err != nil {
		return nil, err
	}
	found, err := resolveLabelEdits(ctx, tx, len(edits))
	if err != nil {
		return nil, fmt.Errorf("find the documents of the label edits: %w", err)
	}
	out, writes := planLabels(edits, found)
	batch := "SET XACT_ABORT ON;"
	if len(writes) > 0 {
		stmts, err := copyLabelWrites(ctx, tx, writes)
		if err != nil {
			return nil, err
		}
		batch += stmts
	}
	if _, err := tx.ExecContext(ctx, batch+mssqlDropLabelTemp, d.timeArg(now)); err != nil {
		return nil, fmt.Errorf("write %d labels: %w", len(writes), lostRace(err))
	}
	return out, nil
}

// copyLabelEdits bulk-copies the identifier and task of each edit into
// #label_edits (see copyDocuments on bulk copy).
func copyLabelEdits(ctx context.Context, tx *sql.Tx, edits []tinyhead.LabelEdit) error {
	stmt, err := tx.PrepareContext(ctx, mssql.CopyIn("#label_edits", mssql.BulkOptions{},
		"seq", "doc_id", "source_key", "item_key", "content_hash", "model", "task"))
	if err != nil {
		return fmt.Errorf("bulk copy label edits: %w", err)
	}
	defer stmt.Close()
	for i, e := range edits {
		row := []any{int64(i), nil, nil, nil, nil, nil, e.Task}
		switch r := e.Doc; {
		case r.ID != 0:
			row[1] = r.ID
		case r.Source != "":
			row[2], row[3] = keyOf(r.Source), keyOf(r.Item)
		default:
			row[4], row[5] = r.ContentHash, r.Model
		}
		if _, err := stmt.ExecContext(ctx, row...); err != nil {
			return fmt.Errorf("bulk copy label edit %d: %w", i, err)
		}
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		return fmt.Errorf("bulk copy label edits: %w", err)
	}
	return nil
}

// resolveLabelEdits runs mssqlResolveLabels and returns each edit's
// documents, in id order.
func resolveLabelEdits(ctx context.Context, tx *sql.Tx, n int) ([][]target, error) {
	rows, err := tx.QueryContext(ctx, mssqlResolveLabels)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	found := make([][]target, n)
	for rows.Next() {
		var (
			seq int
			t   target
		)
		if err := rows.Scan(&seq, &t.id, &t.label); err != nil {
			return nil, err
		}
		if seq < 0 || seq >= n {
			return nil, fmt.Errorf("edit %d of %d found", seq, n)
		}
		found[seq] = append(found[seq], t)
	}
	return found, rows.Err()
}

// copyLabelWrites bulk-copies writes into #label_writes and returns the
// statements that apply them.
func copyLabelWrites(ctx context.Context, tx *sql.Tx, writes []labelWrite) (string, error) {
	stmt, err := tx.PrepareContext(ctx, mssql.CopyIn("#label_writes", mssql.BulkOptions{},
		"document_id", "task", "label", "is_new"))
	if err != nil {
		return "", fmt.Errorf("bulk copy labels: %w", err)
	}
	defer stmt.Close()
	var del, upd, ins bool
	for _, w := range writes {
		var label any = w.label
		switch {
		case w.label == "":
			label, del = nil, true
		case w.isNew:
			ins = true
		default:
			upd = true
		}
		if _, err := stmt.ExecContext(ctx, w.doc, w.task, label, w.isNew); err != nil {
			return "", fmt.Errorf("bulk copy label %q of document %d: %w", w.task, w.doc, err)
		}
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		return "", fmt.Errorf("bulk copy labels: %w", err)
	}
	var batch string
	for _, s := range []struct {
		on   bool
		stmt string
	}{{del, mssqlDeleteLabels}, {upd, mssqlUpdateLabels}, {ins, mssqlInsertLabels}} {
		if s.on {
			batch += s.stmt
		}
	}
	return batch, nil
}
