package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tinyhead/tinyhead/internal/sqlstore/rowcheck"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// The predictions table (tinyhead.Predictions): batch scoring reads the
// documents a task's current version has not scored yet, a page at a
// time by id, and writes a page of predictions per transaction.

var _ tinyhead.Predictions = (*Store)(nil)

// unscored is the condition on documents d (after the embedding model's
// and the cursor's argument places, ?1 and ?2) that selects those without a
// prediction of task p(3) by version p(4) made from the document as it is
// now: a document rewritten since (a new version of its blob) is scored
// again.
func (s *Store) unscored() string {
	p := s.numbered
	return `NOT EXISTS (SELECT 1 FROM predictions p
		WHERE p.task = ` + p(3) + ` AND p.document_id = d.id AND p.version = ` + p(4) + ` AND p.scored_at >= d.updated_at)`
}

// numbered is parameter n, numbered in both dialects (SQLite's ?NNN), so
// that a query may name its parameters out of order.
func (s *Store) numbered(n int) string {
	if _, ok := s.d.(sqliteDialect); ok {
		return "?" + strconv.Itoa(n)
	}
	return s.d.param(n)
}

// ScanUnscored calls fn with pages of the documents embedded by model that
// task's version has not scored, in id order, with their sketches of
// featurizer version sketch unless sketch is "" (a left join: a text
// without one has HasSketch false). The page, its vectors and sketches are
// buffers reused for the next page. The pages are read by a pageReader:
// on SQLite, several pages come from one read transaction, which fn's
// writes (on the write connection) do not wait for.
func (s *Store) ScanUnscored(ctx context.Context, task, version, model, sketch string, fn func(page []tinyhead.ScoreRow) error) error {
	if err := rowcheck.TaskName(task); err != nil {
		return fmt.Errorf("scan unscored documents of task %q: %w", task, err)
	}
	p := s.numbered
	cols, join := `d.id, e.embedding, NULL, 0`, ``
	if sketch != "" {
		cols = `d.id, e.embedding, k.sketch, CASE WHEN k.content_hash IS NULL THEN 0 ELSE 1 END`
		join = ` LEFT JOIN sketches k ON k.content_hash = d.content_hash AND k.version = ` + p(6)
	}
	// A version without a prediction yet (its first pass, or all again)
	// has every document to score: the look-up per document is left out.
	// Those this scan scores are behind its cursor; one scored meanwhile
	// by another call is scored again, as it would be if written after.
	unscored := ` AND ` + s.unscored()
	if none, err := s.noPredictions(ctx, task, version); err != nil {
		return fmt.Errorf("scan unscored documents of task %s: %w", task, err)
	} else if none {
		unscored = ``
	}
	var q string
	if _, ok := s.d.(mssqlDialect); ok {
		q = `SELECT TOP (@p5) ` + cols + ` FROM documents d
			JOIN embeddings e ON e.content_hash = d.content_hash AND e.model = @p1` + join + `
			WHERE d.id > @p2` + unscored + ` ORDER BY d.id`
	} else {
		// Walk documents by rowid from the cursor and look each vector,
		// sketch and prediction up by primary key (CROSS JOIN fixes the
		// join order, as in ScanLabeled).
		q = `SELECT ` + cols + ` FROM documents d
			CROSS JOIN embeddings e ON e.content_hash = d.content_hash AND e.model = ?1` + join + `
			WHERE d.id > ?2` + unscored + ` ORDER BY d.id LIMIT ?5`
	}
	args := []any{model, int64(0), task, version, scanPageSize}
	if sketch != "" {
		args = append(args, sketch)
	}
	page := make([]tinyhead.ScoreRow, 0, scanPageSize)
	var (
		vecs         []float32 // the page's embeddings, back to back
		sketches     []byte    // and its sketches
		ends, skEnds []int
	)
	after := int64(math.MinInt64)
	r, err := s.newPageReader(ctx)
	if err != nil {
		return fmt.Errorf("scan unscored documents of task %s: %w", task, err)
	}
	defer r.close()
	read := func() error {
		page, vecs, sketches, ends, skEnds = page[:0], vecs[:0], sketches[:0], ends[:0], skEnds[:0]
		args[1] = after
		rows, err := r.query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				row     tinyhead.ScoreRow
				emb, sk sql.RawBytes
			)
			if err := rows.Scan(&row.ID, &emb, &sk, &row.HasSketch); err != nil {
				return err
			}
			if cap(vecs) == 0 { // a page's vectors are all of one size: room for them at once
				vecs = make([]float32, 0, scanPageSize*len(emb)/4)
			}
			if vecs, err = AppendDecoded(growFor(vecs, len(emb)/4), emb); err != nil {
				return fmt.Errorf("document %d: %w", row.ID, err)
			}
			sketches = append(growFor(sketches, len(sk)), sk...)
			ends, skEnds = append(ends, len(vecs)), append(skEnds, len(sketches))
			page = append(page, row)
		}
		return rows.Err()
	}
	for {
		err := s.retry(ctx, func() error { return r.failed(read()) })
		if err != nil {
			return fmt.Errorf("scan unscored documents of task %s after id %d: %w", task, after, err)
		}
		start, skStart := 0, 0
		for i := range page {
			page[i].Embedding = vecs[start:ends[i]:ends[i]]
			if page[i].HasSketch {
				page[i].Sketch = sketches[skStart:skEnds[i]:skEnds[i]]
			}
			start, skStart = ends[i], skEnds[i]
		}
		if len(page) > 0 {
			if err := fn(page); err != nil {
				return err
			}
		}
		if len(page) < scanPageSize {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

// growFor makes room in buf for n more values, at least doubling it when
// it must grow: append's growth (a quarter at a time at a page's sizes)
// copied the first page's buffers several times over.
func growFor[T any](buf []T, n int) []T {
	if cap(buf)-len(buf) >= n {
		return buf
	}
	return slices.Grow(buf, max(n, cap(buf)))
}

// noPredictions reports whether the task has no prediction of version.
func (s *Store) noPredictions(ctx context.Context, task, version string) (bool, error) {
	q := `SELECT CASE WHEN EXISTS (SELECT 1 FROM predictions WHERE task = ` + s.d.param(1) +
		` AND version = ` + s.d.param(2) + `) THEN 1 ELSE 0 END`
	var some int
	err := s.retry(ctx, func() error { return s.db.QueryRowContext(ctx, q, task, version).Scan(&some) })
	return some == 0, err
}

// CountUnscored counts the documents ScanUnscored would visit.
func (s *Store) CountUnscored(ctx context.Context, task, version, model string) (int, error) {
	// The cursor's and page size's places are filled with no-ops, so that
	// unscored's parameter numbers hold.
	q := `SELECT COUNT(*) FROM documents d JOIN embeddings e ON e.content_hash = d.content_hash AND e.model = ` + s.numbered(1) +
		` WHERE d.id > ` + s.numbered(2) + ` AND ` + s.unscored()
	var n int
	err := rowcheck.TaskName(task)
	if err == nil {
		err = s.retry(ctx, func() error {
			return s.db.QueryRowContext(ctx, q, model, int64(math.MinInt64), task, version).Scan(&n)
		})
	}
	if err != nil {
		return 0, fmt.Errorf("count unscored documents of task %s: %w", task, err)
	}
	return n, nil
}

// PutPredictions replaces the task's predictions of the page's documents,
// in one transaction, several rows per statement. Documents deleted since
// they were read are left out.
func (s *Store) PutPredictions(ctx context.Context, preds []tinyhead.Prediction) error {
	if len(preds) == 0 {
		return nil
	}
	task, version := preds[0].Task, preds[0].Version
	if err := rowcheck.Predictions(preds); err != nil {
		return fmt.Errorf("write %d predictions of task %q: %w", len(preds), task, err)
	}
	lo, hi := preds[0].DocumentID, preds[len(preds)-1].DocumentID
	write := s.upsertPredictions
	if _, ok := s.d.(mssqlDialect); ok {
		write = s.replacePredictions
	}
	if err := s.inTx(ctx, func(tx *sql.Tx) error { return write(ctx, tx, preds) }); err != nil {
		return fmt.Errorf("write %d predictions of task %s version %s (documents %d to %d): %w", len(preds), task, version, lo, hi, err)
	}
	return nil
}

// predictionArgs appends a prediction's values in predictionColumns'
// order.
func (s *Store) predictionArgs(args []any, p tinyhead.Prediction) []any {
	return append(args, p.DocumentID, p.Task, p.Version, p.Label, p.Probability, p.Margin, p.Probabilities, s.d.timeArg(p.ScoredAt))
}

const predictionColumns = `document_id, task, version, label, probability, margin, probabilities, scored_at`

// predictionsPerStatement keeps a statement under SQL Server's 2,100
// parameters and SQLite's 500 rows of a compound SELECT, and divides a
// scan's page (scanPageSize), so that a page's statements are all of one
// shape, parsed once.
const predictionsPerStatement = 256

// upsertPredictions is SQLite's write: an upsert of rows whose document
// still exists. The write lock is held from BEGIN (_txlock=immediate), so
// no document is deleted between the check and the write.
func (s *Store) upsertPredictions(ctx context.Context, tx *sql.Tx, preds []tinyhead.Prediction) error {
	// A full chunk's statement is prepared once per store (s.upsert):
	// parsing it was a sixth of the write's time when it was prepared once
	// per page.
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close() // the transaction's handle, not the store's statement
		}
	}()
	args := make([]any, 0, predictionsPerStatement*8)
	var at time.Time
	var atArg any
	for start := 0; start < len(preds); start += predictionsPerStatement {
		chunk := preds[start:min(start+predictionsPerStatement, len(preds))]
		args = args[:0]
		for _, p := range chunk {
			if !p.ScoredAt.Equal(at) { // a page's rows share one time
				at, atArg = p.ScoredAt, s.d.timeArg(p.ScoredAt)
			}
			args = append(args, p.DocumentID, p.Task, p.Version, p.Label, p.Probability, p.Margin, p.Probabilities, atArg)
		}
		var err error
		if len(chunk) == predictionsPerStatement {
			if full == nil {
				full = tx.StmtContext(ctx, s.upsert) // prepared on the write connection at Open
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, sqliteUpsertPredictions(len(chunk)), args...)
		}
		if err != nil {
			return fmt.Errorf("upsert predictions: %w", err)
		}
	}
	return nil
}

// sqliteUpsertPredictions upserts n rows whose document exists.
func sqliteUpsertPredictions(n int) string {
	var q strings.Builder
	q.WriteString(`INSERT INTO predictions (` + predictionColumns + `)
		SELECT column1, column2, column3, column4, column5, column6, column7, column8 FROM (VALUES `)
	for i := range n {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
	}
	q.WriteString(`) WHERE EXISTS (SELECT 1 FROM documents WHERE id = column1)
		ON CONFLICT (document_id, task) DO UPDATE SET version = excluded.version, label = excluded.label,
			probability = excluded.probability, margin = excluded.margin, probabilities = excluded.probabilities,
			scored_at = excluded.scored_at`)
	return q.String()
}

// replacePredictions is SQL Server's write (it has no upsert but MERGE,
// which this store does not use): the live documents are read with their
// rows share-locked to the end of the transaction, their old predictions
// deleted, the new ones inserted.
func (s *Store) replacePredictions(ctx context.Context, tx *sql.Tx, preds []tinyhead.Prediction) error {
	live, err := s.liveIDs(ctx, tx, preds[0].DocumentID, preds[len(preds)-1].DocumentID)
	if err != nil {
		return err
	}
	ids := make([]any, 0, len(preds))
	rows := make([]tinyhead.Prediction, 0, len(preds))
	for _, p := range preds {
		if live[p.DocumentID] {
			ids = append(ids, p.DocumentID)
			rows = append(rows, p)
		}
	}
	task := preds[0].Task
	for start := 0; start < len(ids); start += idsPerQuery {
		chunk := ids[start:min(start+idsPerQuery, len(ids))]
		q := `DELETE FROM predictions WHERE task = @p1 AND document_id IN (` + s.marks(2, len(chunk)) + `)`
		if _, err := tx.ExecContext(ctx, q, append([]any{task}, chunk...)...); err != nil {
			return fmt.Errorf("delete old predictions: %w", err)
		}
	}
	args := make([]any, 0, predictionsPerStatement*8)
	for start := 0; start < len(rows); start += predictionsPerStatement {
		chunk := rows[start:min(start+predictionsPerStatement, len(rows))]
		var q strings.Builder
		q.WriteString(`INSERT INTO predictions (` + predictionColumns + `) VALUES `)
		args = args[:0]
		for i, p := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(" + s.marks(i*8+1, 8) + ")")
			args = s.predictionArgs(args, p)
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("insert predictions: %w", err)
		}
	}
	return nil
}

// liveIDs returns which documents with ids from lo to hi exist, read in
// tx on SQL Server, where the rows stay share-locked until it ends, so
// none is deleted before the predictions that reference it are written.
func (s *Store) liveIDs(ctx context.Context, tx *sql.Tx, lo, hi int64) (map[int64]bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM documents WITH (HOLDLOCK) WHERE id >= @p1 AND id <= @p2`, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("read document ids: %w", err)
	}
	defer rows.Close()
	live := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		live[id] = true
	}
	return live, rows.Err()
}

// marks returns n placeholders numbered from first, comma-separated.
func (s *Store) marks(first, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s.d.param(first + i))
	}
	return b.String()
}

// DeletePredictions deletes the task's predictions of every version but
// keepVersion ("" deletes them all).
func (s *Store) DeletePredictions(ctx context.Context, task, keepVersion string) (int, error) {
	if err := rowcheck.TaskName(task); err != nil {
		return 0, fmt.Errorf("delete predictions of task %q: %w", task, err)
	}
	// Versions below keepVersion, then above: two ranges of the (task,
	// version) index, where "version <> ?" read every entry of the task,
	// keepVersion's too (after a full pass, all of them).
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		n = 0
		for _, op := range []string{"<", ">"} {
			res, err := tx.ExecContext(ctx, `DELETE FROM predictions WHERE task = `+s.d.param(1)+` AND version `+op+` `+s.d.param(2), task, keepVersion)
			if err != nil {
				return err
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += k
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete predictions of task %s other than version %q: %w", task, keepVersion, err)
	}
	return int(n), nil
}

const predictionSelect = `p.document_id, p.task, p.version, p.label, p.probability, p.margin, p.probabilities, p.scored_at`

func scanPrediction(rows *sql.Rows, p *tinyhead.Prediction, more ...any) error {
	return rows.Scan(append([]any{&p.DocumentID, &p.Task, &p.Version, &p.Label, &p.Probability, &p.Margin,
		&p.Probabilities, timeCol{&p.ScoredAt}}, more...)...)
}

// PredictionsOf returns the task's predictions of the given documents.
func (s *Store) PredictionsOf(ctx context.Context, task string, ids []int64) (map[int64]tinyhead.Prediction, error) {
	if err := rowcheck.TaskName(task); err != nil {
		return nil, fmt.Errorf("read predictions of task %q: %w", task, err)
	}
	out := make(map[int64]tinyhead.Prediction, len(ids))
	for start := 0; start < len(ids); start += idsPerQuery {
		chunk := ids[start:min(start+idsPerQuery, len(ids))]
		args := []any{task}
		for _, id := range chunk {
			args = append(args, id)
		}
		q := `SELECT ` + predictionSelect + ` FROM predictions p WHERE p.task = ` + s.d.param(1) +
			` AND p.document_id IN (` + s.marks(2, len(chunk)) + `)`
		err := s.retry(ctx, func() error {
			rows, err := s.db.QueryContext(ctx, q, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var p tinyhead.Prediction
				if err := scanPrediction(rows, &p); err != nil {
					return err
				}
				out[p.DocumentID] = p
			}
			return rows.Err()
		})
		if err != nil {
			return nil, fmt.Errorf("read predictions of task %s for %d documents: %w", task, len(chunk), err)
		}
	}
	return out, nil
}

// MaxSuggestions bounds Uncertain's n.
const MaxSuggestions = 1000

// Uncertain returns up to n unlabelled documents scored by the task's
// version, smallest margin first.
func (s *Store) Uncertain(ctx context.Context, task, version string, n int) ([]tinyhead.Suggestion, error) {
	if err := rowcheck.TaskName(task); err != nil {
		return nil, fmt.Errorf("suggest documents of task %q: %w", task, err)
	}
	n = max(0, min(n, MaxSuggestions))
	p := s.d.param
	from := ` FROM predictions p JOIN documents d ON d.id = p.document_id
		WHERE p.task = ` + p(1) + ` AND p.version = ` + p(2) + `
		AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.document_id = p.document_id AND l.task = ` + p(3) + `)
		ORDER BY p.margin, p.document_id`
	cols := predictionSelect + `, d.source, d.item, d.text`
	var q string
	if _, ok := s.d.(mssqlDialect); ok {
		q = `SELECT TOP (@p4) ` + cols + from
	} else {
		q = `SELECT ` + cols + from + ` LIMIT ?`
	}
	var out []tinyhead.Suggestion
	err := s.retry(ctx, func() error {
		out = out[:0]
		rows, err := s.db.QueryContext(ctx, q, task, version, task, n)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var sg tinyhead.Suggestion
			if err := scanPrediction(rows, &sg.Prediction, &sg.Source, &sg.Item, &sg.Text); err != nil {
				return err
			}
			out = append(out, sg)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("suggest documents of task %s: %w", task, err)
	}
	return out, nil
}
