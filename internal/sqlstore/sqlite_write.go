package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tinyhead/tinyhead/internal/sqlstore/rowcheck"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// Documents are written with plain statements, not an upsert with
// RETURNING id, which costs about twice as much per row here.
// The documents' embedding columns of the first schema stay empty (see
// sqliteSchemaV4).
const (
	sqliteFindDocument   = `SELECT id, source_version, content_hash FROM documents WHERE source = ? AND item = ?`
	sqliteInsertDocument = `INSERT INTO documents
	(source, item, source_version, content_hash, text, embedding_model, embedding, dim, doc_group, is_test,
		created_at, updated_at)
	VALUES (?, ?, ?, ?, ?, '', x'', 0, ?, ?, ?, ?)
	ON CONFLICT (source, item) DO NOTHING`
	sqliteUpdateDocument = `UPDATE documents SET source_version = ?, content_hash = ?, text = ?,
		doc_group = ?, is_test = ?, updated_at = ?
	WHERE id = ?`
)

// sqliteInsertVector stores a vector unless one is stored for its key, and
// only while a document holds its hash.
const sqliteInsertVector = `INSERT INTO embeddings (model, content_hash, dim, embedding, created_at)
	SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM documents WHERE content_hash = ?2)
	ON CONFLICT (content_hash, model) DO NOTHING`

// sqliteDropOrphans deletes the vectors of a hash that no document holds.
const sqliteDropOrphans = `DELETE FROM embeddings WHERE content_hash = ?1
	AND NOT EXISTS (SELECT 1 FROM documents WHERE content_hash = ?1)`

// An unchanged label keeps its updated_at, so re-putting a file does not
// make its tasks look changed.
const sqliteUpsertLabel = `INSERT INTO labels (document_id, task, label, updated_at) VALUES (?, ?, ?, ?)
	ON CONFLICT (document_id, task) DO UPDATE SET label = excluded.label, updated_at = excluded.updated_at
	WHERE label <> excluded.label`

// putDocuments writes row by row with statements prepared once per
// transaction: SQLite runs in-process, so a statement costs no round trip.
func (sqliteDialect) putDocuments(ctx context.Context, tx *sql.Tx, docs []tinyhead.Document, now time.Time) error {
	// modernc watches a cancelable context with a goroutine per statement,
	// which costs as much as the insert itself. The statements run without
	// it and ctx is checked between documents; the transaction still rolls
	// back when ctx is canceled.
	sctx := context.WithoutCancel(ctx)
	ts := sqliteDialect{}.timeArg(now)
	var stmts [6]*sql.Stmt
	for i, q := range []string{sqliteFindDocument, sqliteInsertDocument, sqliteUpdateDocument, sqliteUpsertLabel,
		`DELETE FROM labels WHERE document_id = ? AND task = ?`, `SELECT task FROM labels WHERE document_id = ?`} {
		st, err := tx.PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		defer st.Close()
		stmts[i] = st
	}
	writer := docWriter{find: stmts[0], insert: stmts[1], update: stmts[2]}
	setLabel, delLabel, tasks := stmts[3], stmts[4], stmts[5]

	var oldHashes []string // held by rewritten documents before
	for _, d := range docs {
		if err := ctx.Err(); err != nil {
			return err
		}
		id, oldVersion, oldHash, err := writer.put(sctx, d, ts)
		if err != nil {
			return fmt.Errorf("item %q: %w", d.Item, err)
		}
		if oldHash != "" && oldHash != d.ContentHash {
			oldHashes = append(oldHashes, oldHash)
		}
		if oldVersion != "" && oldVersion != d.SourceVersion {
			if err := dropOtherLabels(sctx, tasks, delLabel, id, d.Labels); err != nil {
				return fmt.Errorf("labels of item %q: %w", d.Item, err)
			}
		}
		for task, label := range d.Labels {
			if label == "" {
				_, err = delLabel.ExecContext(sctx, id, task)
			} else {
				_, err = setLabel.ExecContext(sctx, id, task, label, ts)
			}
			if err != nil {
				return fmt.Errorf("label %q of item %q: %w", task, d.Item, err)
			}
		}
	}
	if _, err := (sqliteDialect{}).putVectors(ctx, tx, rowcheck.Vectors(docs), now); err != nil {
		return err
	}
	return dropOrphans(ctx, tx, oldHashes)
}

// putVectors stores the vectors that are missing and returns how many it
// wrote.
func (sqliteDialect) putVectors(ctx context.Context, tx *sql.Tx, vecs []rowcheck.Vector, now time.Time) (int, error) {
	if len(vecs) == 0 {
		return 0, nil
	}
	st, err := tx.PrepareContext(ctx, sqliteInsertVector)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	ts := sqliteDialect{}.timeArg(now)
	sctx := context.WithoutCancel(ctx) // see putDocuments
	// Never nil, even for an empty vector: nil would be bound as NULL.
	buf := make([]byte, 0, 4096)
	n := 0
	for _, v := range vecs {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		buf = AppendVector(buf[:0], v.Vec)
		res, err := st.ExecContext(sctx, v.Model, v.Hash, len(v.Vec), buf, ts)
		if err != nil {
			return n, fmt.Errorf("the %s vector of %s: %w", v.Model, v.Hash, err)
		}
		m, err := res.RowsAffected()
		if err != nil {
			return n, err
		}
		n += int(m)
	}
	return n, nil
}

// dropOrphans deletes the vectors of those hashes that no document holds.
func dropOrphans(ctx context.Context, tx *sql.Tx, hashes []string) error {
	if len(hashes) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, sqliteDropOrphans)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, h := range hashes {
		if _, err := st.ExecContext(ctx, h); err != nil {
			return fmt.Errorf("delete the vectors of %s: %w", h, err)
		}
	}
	return nil
}

// deleteDocuments deletes the documents that match where, then the
// vectors that no document holds any more, and returns how many
// documents it deleted.
func deleteDocuments(ctx context.Context, tx *sql.Tx, where string, args ...any) (int, error) {
	rows, err := tx.QueryContext(ctx, `DELETE FROM documents WHERE `+where+` RETURNING content_hash`, args...)
	if err != nil {
		return 0, err
	}
	seen := map[string]bool{}
	var hashes []string
	n := 0
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			rows.Close()
			return 0, err
		}
		n++
		if !seen[h] {
			seen[h] = true
			hashes = append(hashes, h)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, err
	}
	return n, dropOrphans(ctx, tx, hashes)
}

// docWriter inserts or updates documents in the order that suits the rows
// seen so far: a new file is all inserts, so an insert is tried first; a
// new version of a file is mostly updates, so after an update the id is
// looked up first. The transaction holds SQLite's write lock, so nothing
// comes between a lookup and a write.
type docWriter struct {
	find, insert, update *sql.Stmt
	existed              bool // the previous document was already stored
}

// put writes d and returns its id and, when it was stored already, the
// version it was stored from and the content hash it held.
func (w *docWriter) put(ctx context.Context, d tinyhead.Document, ts any) (int64, string, string, error) {
	insert := func() (sql.Result, error) {
		return w.insert.ExecContext(ctx, d.Source, d.Item, d.SourceVersion, d.ContentHash, d.Text,
			d.Group, d.Test, ts, ts)
	}
	inserted := func(res sql.Result) (int64, string, string, error) {
		id, err := res.LastInsertId()
		return id, "", "", err
	}
	if !w.existed {
		res, err := insert()
		if err != nil {
			return 0, "", "", err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, "", "", err
		}
		if n == 1 {
			return inserted(res)
		}
		w.existed = true // the insert was ignored: update it
	}
	var (
		id            int64
		version, hash string
	)
	err := w.find.QueryRowContext(ctx, d.Source, d.Item).Scan(&id, &version, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		w.existed = false
		res, err := insert()
		if err != nil {
			return 0, "", "", err
		}
		return inserted(res)
	}
	if err != nil {
		return 0, "", "", err
	}
	_, err = w.update.ExecContext(ctx, d.SourceVersion, d.ContentHash, d.Text, d.Group, d.Test, ts, id)
	return id, version, hash, err
}

// dropOtherLabels deletes the labels of document id whose task keep does
// not mention: a new version of a document replaces its labels.
func dropOtherLabels(ctx context.Context, tasks, del *sql.Stmt, id int64, keep map[string]string) error {
	rows, err := tasks.QueryContext(ctx, id)
	if err != nil {
		return err
	}
	var drop []string
	for rows.Next() {
		var task string
		if err := rows.Scan(&task); err != nil {
			rows.Close()
			return err
		}
		if _, ok := keep[task]; !ok {
			drop = append(drop, task)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, task := range drop {
		if _, err := del.ExecContext(ctx, id, task); err != nil {
			return err
		}
	}
	return nil
}

func (sqliteDialect) pruneBatch(ctx context.Context, tx *sql.Tx, source, keepVersion string) (int, bool, error) {
	n, err := deleteDocuments(ctx, tx, `source = ? AND source_version <> ?`, source, keepVersion)
	return n, false, err
}

// deleteSource runs in one transaction: the write lock orders it with
// every ingest's writes.
func (d sqliteDialect) deleteSource(ctx context.Context, db *sql.DB, source string, versions []string, now time.Time) (int, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	in, args := inList(d, 3, versions)
	_, err = tx.ExecContext(ctx, `UPDATE ingests SET status = 'deleted', updated_at = ?
		WHERE source = ? AND status <> 'deleted' AND etag IN (`+in+`)`,
		append([]any{d.timeArg(now), source}, args...)...)
	if err != nil {
		return 0, err
	}
	in, args = inList(d, 2, versions)
	n, err := deleteDocuments(ctx, tx, `source = ? AND source_version IN (`+in+`)`, append([]any{source}, args...)...)
	if err != nil {
		return 0, err
	}
	return n, tx.Commit()
}
