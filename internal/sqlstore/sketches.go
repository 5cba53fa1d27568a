package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// Sketches (internal/sketch) are kept by content hash, like the texts
// they are computed from: identical texts share one row, and a document
// finds its sketch through its content_hash. A row whose hash no document
// has any more (its documents were deleted or rewritten) is left behind;
// it costs its bytes and is reused if the text comes back.

// putSketchBatch is how many sketches one transaction of PutSketches
// writes.
const putSketchBatch = 256

// PutSketches stores encoded sketches by content hash, computed by the
// featurizer version; a stored sketch of another version is replaced, one
// of this version kept (it is the same). Safe to repeat.
func (s *Store) PutSketches(ctx context.Context, version string, sketches map[string][]byte) error {
	hashes := make([]string, 0, len(sketches))
	for h := range sketches {
		hashes = append(hashes, h)
	}
	slices.Sort(hashes) // a fixed lock order between concurrent writers
	p := s.d.param
	update := `UPDATE sketches SET version = ` + p(1) + `, sketch = ` + p(2) + ` WHERE content_hash = ` + p(3) + ` AND version <> ` + p(4)
	insert := `INSERT INTO sketches (content_hash, version, sketch) SELECT ` + p(1) + `, ` + p(2) + `, ` + p(3) + `
		WHERE NOT EXISTS (SELECT 1 FROM sketches WHERE content_hash = ` + p(4) + `)`
	for len(hashes) > 0 {
		batch := hashes[:min(putSketchBatch, len(hashes))]
		hashes = hashes[len(batch):]
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			for _, h := range batch {
				b := sketches[h]
				if b == nil {
					b = []byte{} // an empty sketch, not NULL
				}
				if _, err := tx.ExecContext(ctx, update, version, b, h, version); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, insert, h, version, b, h); err != nil {
					// Another writer inserted the same text's sketch in
					// between (Babelfish takes no range locks): a retry
					// finds it.
					return lostRace(err)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("store %d sketches: %w", len(batch), err)
		}
	}
	return nil
}

// SketchesByID returns the encoded sketches, of featurizer version, of the
// given documents; a document without one is absent from the map.
func (s *Store) SketchesByID(ctx context.Context, version string, ids []int64) (map[int64][]byte, error) {
	out := make(map[int64][]byte, len(ids))
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), maxInList)]
		ids = ids[len(chunk):]
		args := make([]any, 0, 1+len(chunk))
		args = append(args, version)
		marks := make([]string, len(chunk))
		for i, id := range chunk {
			marks[i] = s.d.param(i + 2)
			args = append(args, id)
		}
		q := `SELECT d.id, k.sketch FROM documents d JOIN sketches k ON k.content_hash = d.content_hash
			WHERE k.version = ` + s.d.param(1) + ` AND d.id IN (` + strings.Join(marks, ", ") + `)`
		if err := s.retry(ctx, func() error { return s.scanSketches(ctx, q, args, out) }); err != nil {
			return nil, fmt.Errorf("read the sketches of %d documents: %w", len(chunk), err)
		}
	}
	return out, nil
}

// scanSketches adds the (id, sketch) rows of query q to out.
func (s *Store) scanSketches(ctx context.Context, q string, args []any, out map[int64][]byte) error {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		id int64
		b  []byte
	)
	for rows.Next() {
		if err := rows.Scan(&id, &b); err != nil {
			return err
		}
		out[id] = b
	}
	return rows.Err()
}

// MissingSketches returns the texts, by content hash, of up to limit
// documents labelled for task (of any document when task is "") that have
// no sketch of featurizer version: what a backfill computes next.
func (s *Store) MissingSketches(ctx context.Context, task, version string, limit int) (map[string]string, error) {
	p := s.d.param
	from := `labels l JOIN documents d ON d.id = l.document_id WHERE l.task = ` + p(1)
	args := []any{task, version, limit}
	if task == "" {
		from = `documents d WHERE ` + p(1) + ` = ''`
	}
	q := `SELECT d.content_hash, d.text FROM ` + from + ` AND NOT EXISTS (SELECT 1 FROM sketches k
			WHERE k.content_hash = d.content_hash AND k.version = ` + p(2) + `)
		ORDER BY d.id`
	if _, ok := s.d.(mssqlDialect); ok {
		q = strings.Replace(q, "SELECT d.content_hash", "SELECT TOP ("+p(3)+") d.content_hash", 1)
	} else {
		q += ` LIMIT ` + p(3)
	}
	out := map[string]string{}
	err := s.retry(ctx, func() error {
		clear(out)
		rows, err := s.db.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var h, text string
			if err := rows.Scan(&h, &text); err != nil {
				return err
			}
			out[h] = text
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("find documents of task %q without a sketch: %w", task, err)
	}
	return out, nil
}
