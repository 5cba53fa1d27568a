package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/tinyhead/tinyhead/internal/sqlstore/rowcheck"
	"math"
	"strings"
	"time"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// The read paths of training (tinyhead.TrainingData) and the models table.

var _ tinyhead.TrainingData = (*Store)(nil)

// Tasks summarises every task with labelled documents embedded by model.
// LastChange is the latest write to one of the task's labels or to a
// labelled document.
func (s *Store) Tasks(ctx context.Context, model string) ([]tinyhead.TaskSummary, error) {
	q := `SELECT l.task, l.label, COUNT(*),
			MAX(CASE WHEN l.updated_at > d.updated_at THEN l.updated_at ELSE d.updated_at END)
		FROM labels l JOIN documents d ON d.id = l.document_id
		JOIN embeddings e ON e.content_hash = d.content_hash AND e.model = ` + s.d.param(1) + `
		GROUP BY l.task, l.label
		ORDER BY l.task, l.label`
	var out []tinyhead.TaskSummary
	err := s.retry(ctx, func() error {
		out = out[:0]
		rows, err := s.db.QueryContext(ctx, q, model)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				task, label string
				n           int
				last        time.Time
			)
			if err := rows.Scan(&task, &label, &n, timeCol{&last}); err != nil {
				return err
			}
			if len(out) == 0 || out[len(out)-1].Task != task {
				out = append(out, tinyhead.TaskSummary{Task: task, Labels: map[string]int{}})
			}
			t := &out[len(out)-1]
			t.Labels[label] = n
			t.Rows += n
			if last.After(t.LastChange) {
				t.LastChange = last
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("summarise tasks of model %s: %w", model, err)
	}
	return out, nil
}

// ScanLabeled streams a task's labelled documents embedded by model, in id
// order, a page at a time; no connection is held while fn runs. A row's
// Embedding lives in a buffer reused for the next page: fn copies what it
// keeps, so that a scan of any size allocates one page.
func (s *Store) ScanLabeled(ctx context.Context, task, model string, withVectors bool, fn func(tinyhead.LabeledRow) error) error {
	cols := "d.id, d.source, d.item, l.label, d.doc_group, d.is_test"
	if withVectors {
		cols += ", e.embedding"
	}
	var q string
	if _, ok := s.d.(mssqlDialect); ok {
		q = "SELECT TOP (@p4) " + cols + ` FROM labels l JOIN documents d ON d.id = l.document_id
			JOIN embeddings e ON e.content_hash = d.content_hash AND e.model = @p2
			WHERE l.task = @p1 AND d.id > @p3 ORDER BY d.id`
	} else {
		// Walk documents by rowid from the cursor and look each label and
		// vector up by primary key, so that a page costs only its own rows:
		// CROSS JOIN fixes the join order. Left to itself SQLite starts
		// from an index and sorts every row of the task for each page,
		// which is quadratic in the task's size.
		q = "SELECT " + cols + ` FROM documents d CROSS JOIN labels l ON l.document_id = d.id
			CROSS JOIN embeddings e ON e.content_hash = d.content_hash AND e.model = ?2
			WHERE l.task = ?1 AND d.id > ?3 ORDER BY d.id LIMIT ?4`
	}
	if err := rowcheck.TaskName(task); err != nil {
		return fmt.Errorf("scan labelled rows of task %q: %w", task, err)
	}
	page := make([]tinyhead.LabeledRow, 0, scanPageSize)
	var vecs []float32 // the page's embeddings, back to back
	ends := make([]int, 0, scanPageSize)
	after := int64(math.MinInt64)
	for {
		err := s.retry(ctx, func() error {
			page, vecs, ends = page[:0], vecs[:0], ends[:0]
			rows, err := s.db.QueryContext(ctx, q, task, model, after, scanPageSize)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var r tinyhead.LabeledRow
				var emb sql.RawBytes
				dest := []any{&r.ID, &r.Source, &r.Item, &r.Label, &r.Group, &r.Test}
				if withVectors {
					dest = append(dest, &emb)
				}
				if err := rows.Scan(dest...); err != nil {
					return err
				}
				if withVectors {
					if vecs, err = AppendDecoded(vecs, emb); err != nil {
						return fmt.Errorf("document %d: %w", r.ID, err)
					}
					ends = append(ends, len(vecs))
				}
				page = append(page, r)
			}
			return rows.Err()
		})
		if err != nil {
			return fmt.Errorf("scan labelled rows of task %s after id %d: %w", task, after, err)
		}
		start := 0
		for i, r := range page {
			if withVectors {
				r.Embedding = vecs[start:ends[i]:ends[i]]
				if r.Embedding == nil {
					r.Embedding = []float32{} // stored empty, not absent
				}
				start = ends[i]
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(page) < scanPageSize {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

// idsPerQuery keeps IN lists under SQL Server's 2,100-parameter limit.
const idsPerQuery = 1000

// EmbeddingsByID returns the embeddings of model of the given documents;
// missing ids, and documents without a vector of model, are absent from
// the map.
func (s *Store) EmbeddingsByID(ctx context.Context, model string, ids []int64) (map[int64][]float32, error) {
	out := make(map[int64][]float32, len(ids))
	for start := 0; start < len(ids); start += idsPerQuery {
		chunk := ids[start:min(start+idsPerQuery, len(ids))]
		marks := make([]string, len(chunk))
		args := make([]any, len(chunk)+1)
		args[0] = model
		for i, id := range chunk {
			marks[i] = s.d.param(i + 2)
			args[i+1] = id
		}
		q := `SELECT d.id, e.embedding FROM documents d
			JOIN embeddings e ON e.content_hash = d.content_hash AND e.model = ` + s.d.param(1) + `
			WHERE d.id IN (` + strings.Join(marks, ", ") + ")"
		err := s.retry(ctx, func() error {
			rows, err := s.db.QueryContext(ctx, q, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var (
					id  int64
					emb sql.RawBytes
				)
				if err := rows.Scan(&id, &emb); err != nil {
					return err
				}
				v, err := DecodeVector(emb)
				if err != nil {
					return fmt.Errorf("document %d: %w", id, err)
				}
				out[id] = v
			}
			return rows.Err()
		})
		if err != nil {
			return nil, fmt.Errorf("read embeddings of %d documents: %w", len(chunk), err)
		}
	}
	return out, nil
}

// RecordModel adds a trained model to the models table.
func (s *Store) RecordModel(ctx context.Context, m tinyhead.ModelRecord) error {
	p := s.d.param
	q := `INSERT INTO models (task, version, created_at, row_count, metrics, blob_path, promoted)
		VALUES (` + p(1) + `, ` + p(2) + `, ` + p(3) + `, ` + p(4) + `, ` + p(5) + `, ` + p(6) + `, 0)`
	err := rowcheck.TaskName(m.Task)
	if err == nil {
		err = s.retry(ctx, func() error {
			_, err := s.w.ExecContext(ctx, q, m.Task, m.Version, s.d.timeArg(m.CreatedAt), m.Rows, m.Metrics, m.BlobPath)
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("record model %s/%s: %w", m.Task, m.Version, err)
	}
	return nil
}

// PromoteModel marks version as the task's promoted model, and no other, in
// one transaction.
func (s *Store) PromoteModel(ctx context.Context, task, version string) error {
	p := s.d.param
	if err := rowcheck.TaskName(task); err != nil {
		return fmt.Errorf("promote model %s/%s: %w", task, version, err)
	}
	err := s.retry(ctx, func() error {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		res, err := tx.ExecContext(ctx, `UPDATE models SET promoted = 1 WHERE task = `+p(1)+` AND version = `+p(2), task, version)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return tinyhead.ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, `UPDATE models SET promoted = 0 WHERE task = `+p(1)+` AND version <> `+p(2), task, version); err != nil {
			return err
		}
		return tx.Commit()
	})
	if err != nil {
		return fmt.Errorf("promote model %s/%s: %w", task, version, err)
	}
	return nil
}

// Models lists a task's models, oldest first.
func (s *Store) Models(ctx context.Context, task string) ([]tinyhead.ModelRecord, error) {
	q := `SELECT task, version, created_at, row_count, metrics, blob_path, promoted
		FROM models WHERE task = ` + s.d.param(1) + ` ORDER BY version`
	var out []tinyhead.ModelRecord
	if err := rowcheck.TaskName(task); err != nil {
		return nil, fmt.Errorf("list models of task %q: %w", task, err)
	}
	err := s.retry(ctx, func() error {
		out = out[:0]
		rows, err := s.db.QueryContext(ctx, q, task)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m tinyhead.ModelRecord
			if err := rows.Scan(&m.Task, &m.Version, timeCol{&m.CreatedAt}, &m.Rows, &m.Metrics, &m.BlobPath, &m.Promoted); err != nil {
				return err
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list models of task %s: %w", task, err)
	}
	return out, nil
}
