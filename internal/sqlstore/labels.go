package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/tinyhead/tinyhead/internal/sqlstore/rowcheck"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// SetLabels applies label edits to stored documents in one transaction
// (see tinyhead.Labeler). Documents are named by id, by (source, item) or
// by content hash and embedding model; each is locked before its labels
// are written (UPDLOCK of the query that finds it on SQL Server, the write lock on
// SQLite), as SetLabel and PutDocuments do.
func (s *Store) SetLabels(ctx context.Context, source, version string, edits []tinyhead.LabelEdit) ([]tinyhead.LabelResult, error) {
	var out []tinyhead.LabelResult
	edits, err := rowcheck.Edits(edits)
	if err == nil && source != "" {
		err = rowcheck.IngestKey(source, version)
	}
	if err == nil && len(edits) > 0 {
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			var err error
			out, err = s.setLabels(ctx, tx, source, version, edits)
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

func (s *Store) setLabels(ctx context.Context, tx *sql.Tx, source, version string, edits []tinyhead.LabelEdit) ([]tinyhead.LabelResult, error) {
	t := now()
	if source != "" {
		if err := s.checkClaim(ctx, tx, source, version, t); err != nil {
			return nil, err
		}
	}
	out := make([]tinyhead.LabelResult, len(edits))
	ts := s.d.timeArg(t)
	// As in sqliteDialect.putDocuments: modernc watches a cancelable
	// context with a goroutine per statement, which costs about as much as
	// the statement; ctx is checked between edits instead (the
	// transaction still rolls back when it is canceled).
	sctx := ctx
	if _, ok := s.d.(sqliteDialect); ok {
		sctx = context.WithoutCancel(ctx)
	}
	for i, e := range edits {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		targets, err := s.resolve(sctx, tx, e.Doc, e.Task)
		if err != nil {
			return nil, fmt.Errorf("find the documents of label edit %d: %w", i, err)
		}
		out[i].Documents = len(targets)
		for _, t := range targets {
			changed, err := s.labelDocument(sctx, tx, t, e.Task, e.Label, ts)
			if err != nil {
				return nil, fmt.Errorf("label %q of document %d: %w", e.Task, t.id, err)
			}
			if changed {
				out[i].Changed++
			}
		}
	}
	return out, nil
}

// The documents a label edit names, each with its label of the task
// ("" for none; labels are never stored empty), in one statement: the
// dialects add the WHERE clause. On SQL Server UPDLOCK keeps each
// document locked to the end of the transaction, which orders every
// writer of its labels (see doc.go).
const (
	labelTarget = `SELECT d.id, COALESCE(l.label, '') FROM documents AS d
		LEFT JOIN labels AS l ON l.document_id = d.id AND l.task = ? `
	mssqlLabelTarget = `SELECT d.id, COALESCE(l.label, N'') FROM documents AS d WITH (UPDLOCK, ROWLOCK)
		LEFT JOIN labels AS l ON l.document_id = d.id AND l.task = @p1 `
)

// target is a document a label edit names and its current label.
type target struct {
	id    int64
	label string
}

// resolve returns the documents ref names with their label of task (see
// tinyhead.DocRef for which identifier counts).
func (s *Store) resolve(ctx context.Context, tx *sql.Tx, ref tinyhead.DocRef, task string) ([]target, error) {
	var (
		q    string
		args = []any{task}
	)
	switch {
	case ref.ID != 0:
		q, args = s.q.labelTargetByID, append(args, ref.ID)
	case ref.Source != "":
		q, args = s.q.labelTargetByKey, append(args, s.d.docKey(ref.Source, ref.Item)...)
	default:
		q, args = s.q.labelTargetsByHash, append(args, ref.ContentHash, ref.Model)
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

// labelDocument sets (label "": removes) one task's label of the document
// t, whose row the caller has locked, and reports whether it changed. An
// unchanged label keeps its time stamp, so that writing a label again does
// not make its task look changed.
func (s *Store) labelDocument(ctx context.Context, tx *sql.Tx, t target, task, label string, ts any) (bool, error) {
	switch {
	case label == t.label:
		return false, nil
	case label == "":
		_, err := tx.ExecContext(ctx, s.q.deleteLabel, t.id, task)
		return err == nil, err
	case t.label == "":
		// Only on Babelfish, which ignores the target query's UPDLOCK, can a
		// concurrent writer insert the label first.
		_, err := tx.ExecContext(ctx, s.q.insertLabel, t.id, task, label, ts)
		return err == nil, lostRace(err)
	}
	_, err := tx.ExecContext(ctx, s.q.updateLabel, label, ts, t.id, task)
	return err == nil, err
}

// SetLabel sets, or with label "" removes, one task's label on a stored
// document; the label is trimmed as PutDocuments trims it. It returns
// ErrNotFound when the document does not exist.
func (s *Store) SetLabel(ctx context.Context, source, item, task, label string) error {
	return tinyhead.SetLabel(ctx, s, source, item, task, label)
}
