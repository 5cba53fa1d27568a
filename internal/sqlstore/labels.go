package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/tinyhead/tinyhead/internal/sqlstore/rowcheck"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// SetLabels applies label edits to stored documents in one transaction
// (see tinyhead.Labeler). Documents are named by id, by (source, item) or
// by content hash and embedding model; each is locked before its labels
// are written (documentID's lock on SQL Server, the write lock on
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
	for i, e := range edits {
		ids, err := s.resolve(ctx, tx, e.Doc)
		if err != nil {
			return nil, fmt.Errorf("find the documents of label edit %d: %w", i, err)
		}
		out[i].Documents = len(ids)
		for _, id := range ids {
			changed, err := s.labelDocument(ctx, tx, id, e.Task, e.Label, ts)
			if err != nil {
				return nil, fmt.Errorf("label %q of document %d: %w", e.Task, id, err)
			}
			if changed {
				out[i].Changed++
			}
		}
	}
	return out, nil
}

// resolve returns the ids of the documents ref names, locking them (see
// tinyhead.DocRef for which identifier counts).
func (s *Store) resolve(ctx context.Context, tx *sql.Tx, ref tinyhead.DocRef) ([]int64, error) {
	var (
		q    string
		args []any
	)
	switch {
	case ref.ID != 0:
		q, args = s.q.documentByID, []any{ref.ID}
	case ref.Source != "":
		q, args = s.q.documentID, s.d.docKey(ref.Source, ref.Item)
	default:
		q, args = s.q.documentsByHash, []any{ref.Model, ref.ContentHash}
	}
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// labelDocument sets (label "": removes) one task's label of document id,
// whose row the caller has locked, and reports whether it changed. An
// unchanged label keeps its time stamp, so that writing a label again does
// not make its task look changed.
func (s *Store) labelDocument(ctx context.Context, tx *sql.Tx, id int64, task, label string, ts any) (bool, error) {
	var old string
	err := tx.QueryRowContext(ctx, s.q.labelOf, id, task).Scan(&old)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if label == "" {
			return false, nil
		}
		// Only on Babelfish, which ignores documentID's UPDLOCK, can a
		// concurrent writer insert the label first.
		_, err := tx.ExecContext(ctx, s.q.insertLabel, id, task, label, ts)
		return err == nil, lostRace(err)
	case err != nil:
		return false, err
	case label == "":
		_, err := tx.ExecContext(ctx, s.q.deleteLabel, id, task)
		return err == nil, err
	case label == old:
		return false, nil
	}
	_, err = tx.ExecContext(ctx, s.q.updateLabel, label, ts, id, task)
	return err == nil, err
}

// SetLabel sets, or with label "" removes, one task's label on a stored
// document; the label is trimmed as PutDocuments trims it. It returns
// ErrNotFound when the document does not exist.
func (s *Store) SetLabel(ctx context.Context, source, item, task, label string) error {
	return tinyhead.SetLabel(ctx, s, source, item, task, label)
}
