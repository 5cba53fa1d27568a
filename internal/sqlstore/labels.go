package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tinyhead/tinyhead/internal/sqlstore/rowcheck"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// SetLabels applies label edits to stored documents in one transaction
// (see tinyhead.Labeler). Documents are named by id, by (source, item) or
// by content hash and embedding model; each is locked before its labels
// are written (UPDLOCK of the query that finds it on SQL Server, the write
// lock on SQLite), as SetLabel and PutDocuments do.
//
// Both dialects find every edit's documents with their stored labels
// first, planLabels works out in Go what the edits do in order, and only
// the net changes are written: on SQL Server with a few set-based
// statements per call (mssqlDialect.setLabels), on SQLite row by row.
func (s *Store) SetLabels(ctx context.Context, source, version string, edits []tinyhead.LabelEdit) ([]tinyhead.LabelResult, error) {
	var out []tinyhead.LabelResult
	edits, err := rowcheck.Edits(edits)
	if err == nil && source != "" {
		err = rowcheck.IngestKey(source, version)
	}
	if err == nil && len(edits) > 0 {
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			t := now()
			if source != "" {
				if err := s.checkClaim(ctx, tx, source, version, t); err != nil {
					return err
				}
			}
			var err error
			out, err = s.d.setLabels(ctx, tx, edits, t)
			return err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("set %d labels: %w", len(edits), err)
	}
	if out == nil {
		out = []tinyhead.LabelResult{}
	}
	return out, nil
}

// target is a document a label edit names and its stored label of the
// edit's task ("" for none; labels are never stored empty).
type target struct {
	id    int64
	label string
}

// labelWrite is one net change of a document's label: label "" deletes
// it; isNew says none is stored, so it is inserted.
type labelWrite struct {
	doc   int64
	task  string
	label string
	isNew bool
}

// planLabels applies edits in order to the stored labels of the documents
// each names (found[i] for edits[i], read before any write) and returns
// what each edit did and the writes that leave every (document, task) as
// its last edit says, in the order of their first edit. A label that ends
// as it was stored is not written, so it keeps its time stamp.
func planLabels(edits []tinyhead.LabelEdit, found [][]target) ([]tinyhead.LabelResult, []labelWrite) {
	type key struct {
		doc  int64
		task string
	}
	type state struct{ stored, now string }
	out := make([]tinyhead.LabelResult, len(edits))
	labels := map[key]*state{}
	var order []key
	for i, e := range edits {
		out[i].Documents = len(found[i])
		for _, t := range found[i] {
			k := key{t.id, e.Task}
			st := labels[k]
			if st == nil {
				st = &state{t.label, t.label}
				labels[k] = st
				order = append(order, k)
			}
			if st.now != e.Label {
				st.now = e.Label
				out[i].Changed++
			}
		}
	}
	var writes []labelWrite
	for _, k := range order {
		if st := labels[k]; st.now != st.stored {
			writes = append(writes, labelWrite{doc: k.doc, task: k.task, label: st.now, isNew: st.stored == ""})
		}
	}
	return out, writes
}

// The documents a label edit names, each with its label of the task, in
// one statement each (SQLite; SQL Server finds them all at once, see
// mssqlResolveLabels); a content hash names the documents of a text that
// hold a vector of the model.
const (
	sqliteLabelTarget = `SELECT d.id, COALESCE(l.label, '') FROM documents AS d
		LEFT JOIN labels AS l ON l.document_id = d.id AND l.task = ? `
	sqliteLabelTargetByID    = sqliteLabelTarget + `WHERE d.id = ?`
	sqliteLabelTargetByKey   = sqliteLabelTarget + `WHERE d.source = ? AND d.item = ?`
	sqliteLabelTargetsByHash = sqliteLabelTarget + `WHERE d.content_hash = ?
		AND EXISTS (SELECT 1 FROM embeddings AS e WHERE e.content_hash = d.content_hash AND e.model = ?) ORDER BY d.id`
	sqliteUpdateLabel = `UPDATE labels SET label = ?, updated_at = ? WHERE document_id = ? AND task = ?`
	sqliteInsertLabel = `INSERT INTO labels (document_id, task, label, updated_at) VALUES (?, ?, ?, ?)`
	sqliteDeleteLabel = `DELETE FROM labels WHERE document_id = ? AND task = ?`
)

// setLabels finds and writes row by row: SQLite runs in-process, so a
// statement costs no round trip. The transaction holds SQLite's write
// lock throughout.
func (d sqliteDialect) setLabels(ctx context.Context, tx *sql.Tx, edits []tinyhead.LabelEdit, now time.Time) ([]tinyhead.LabelResult, error) {
	// As in putDocuments: modernc watches a cancelable context with a
	// goroutine per statement, which costs about as much as the
	// statement; ctx is checked between edits instead (the transaction
	// still rolls back when it is canceled).
	sctx := context.WithoutCancel(ctx)
	found := make([][]target, len(edits))
	for i, e := range edits {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var err error
		found[i], err = sqliteResolve(sctx, tx, e.Doc, e.Task)
		if err != nil {
			return nil, fmt.Errorf("find the documents of label edit %d: %w", i, err)
		}
	}
	out, writes := planLabels(edits, found)
	ts := d.timeArg(now)
	for _, w := range writes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var err error
		switch {
		case w.label == "":
			_, err = tx.ExecContext(sctx, sqliteDeleteLabel, w.doc, w.task)
		case w.isNew:
			_, err = tx.ExecContext(sctx, sqliteInsertLabel, w.doc, w.task, w.label, ts)
		default:
			_, err = tx.ExecContext(sctx, sqliteUpdateLabel, w.label, ts, w.doc, w.task)
		}
		if err != nil {
			return nil, fmt.Errorf("label %q of document %d: %w", w.task, w.doc, err)
		}
	}
	return out, nil
}

// sqliteResolve returns the documents ref names with their label of task
// (see tinyhead.DocRef for which identifier counts).
func sqliteResolve(ctx context.Context, tx *sql.Tx, ref tinyhead.DocRef, task string) ([]target, error) {
	var (
		q    string
		args = []any{task}
	)
	switch {
	case ref.ID != 0:
		q, args = sqliteLabelTargetByID, append(args, ref.ID)
	case ref.Source != "":
		q, args = sqliteLabelTargetByKey, append(args, ref.Source, ref.Item)
	default:
		q, args = sqliteLabelTargetsByHash, append(args, ref.ContentHash, ref.Model)
	}
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []target
	for rows.Next() {
		var t target
		if err := rows.Scan(&t.id, &t.label); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// SetLabel sets, or with label "" removes, one task's label on a stored
// document; the label is trimmed as PutDocuments trims it. It returns
// ErrNotFound when the document does not exist.
func (s *Store) SetLabel(ctx context.Context, source, item, task, label string) error {
	return tinyhead.SetLabel(ctx, s, source, item, task, label)
}
