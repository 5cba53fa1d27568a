package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/tinyhead/tinyhead/internal/sqlstore/rowcheck"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// Embeddings live in their own table, one vector per (content_hash,
// model): a document holds its text and content hash, and its vector of a
// model is the row of that model for its hash. So a text embedded by two
// models holds two vectors, documents with the same text share them, and
// re-embedding with a new model adds rows without touching documents.
// The key leads with content_hash, so that the orphan check after a
// deletion (no document holds the hash any more) is a seek.
//
// A vector is written only if none is stored for its key (a conditional
// insert; a lost race on Babelfish, which ignores the lock hints, is a
// duplicate key that is retried), and only while a document holds its
// hash. Deleting or rewriting documents deletes, in the same transaction,
// the vectors of the hashes they held that no document holds any more.

// migrateEmbeddings moves the vectors of a database of the previous
// schema, stored in documents, into embeddings: one per (model, content
// hash), that of the first document.
const migrateEmbeddings = `INSERT INTO embeddings (model, content_hash, dim, embedding, created_at)
	SELECT embedding_model, content_hash, dim, embedding, created_at FROM (
		SELECT embedding_model, content_hash, dim, embedding, created_at,
			ROW_NUMBER() OVER (PARTITION BY embedding_model, content_hash ORDER BY id) AS n
		FROM documents WHERE embedding_model <> '') AS firsts
	WHERE n = 1`

// maxInList is the most hashes sent in one IN list: SQL Server takes at
// most 2,100 parameters per statement.
const maxInList = 1024

// scanPageSize is how many embeddings ScanEmbeddings reads per query.
const scanPageSize = 1024

// EmbeddingsByHash returns the stored embeddings, for model, of whichever
// content hashes are already known.
func (s *Store) EmbeddingsByHash(ctx context.Context, model string, hashes []string) (map[string][]float32, error) {
	out := make(map[string][]float32)
	uniq := make([]string, 0, len(hashes))
	seen := make(map[string]bool, len(hashes))
	for _, h := range hashes {
		if !seen[h] {
			seen[h] = true
			uniq = append(uniq, h)
		}
	}
	for len(uniq) > 0 {
		n := min(len(uniq), maxInList)
		err := s.retry(ctx, func() error { return s.embeddingsByHash(ctx, model, uniq[:n], out) })
		if err != nil {
			return nil, fmt.Errorf("look up %d embeddings of model %s: %w", len(hashes), model, err)
		}
		uniq = uniq[n:]
	}
	return out, nil
}

func (s *Store) embeddingsByHash(ctx context.Context, model string, hashes []string, out map[string][]float32) error {
	// Pad the list to a power of two by repeating a hash, so the server
	// sees a handful of statement shapes, not one per list length.
	size := 8
	for size < len(hashes) {
		size *= 2
	}
	args := make([]any, 0, 1+size)
	args = append(args, model)
	var q strings.Builder
	q.WriteString("SELECT content_hash, embedding FROM embeddings WHERE model = ")
	q.WriteString(s.d.param(1))
	q.WriteString(" AND content_hash IN (")
	for i := range size {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(s.d.param(i + 2))
		args = append(args, hashes[min(i, len(hashes)-1)])
	}
	q.WriteString(")")

	rows, err := s.db.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			h   string
			emb sql.RawBytes
		)
		if err := rows.Scan(&h, &emb); err != nil {
			return err
		}
		if out[h], err = DecodeVector(emb); err != nil {
			return fmt.Errorf("hash %s: %w", h, err)
		}
	}
	return rows.Err()
}

// documentEmbeddings reads every vector of one content hash, by model.
func (s *Store) documentEmbeddings(ctx context.Context, hash string) (map[string][]float32, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT model, embedding FROM embeddings WHERE content_hash = `+s.d.param(1), hash)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]float32{}
	for rows.Next() {
		var (
			model string
			emb   sql.RawBytes
		)
		if err := rows.Scan(&model, &emb); err != nil {
			return nil, err
		}
		if out[model], err = DecodeVector(emb); err != nil {
			return nil, fmt.Errorf("model %s: %w", model, err)
		}
	}
	return out, rows.Err()
}

// ScanEmbeddings calls fn with the embedding of model of every document
// that has one, in document id order. It reads a page at a time, so memory
// stays bounded whatever the table size, and no connection is held while
// fn runs (fn may use the Store). fn owns vec. An error from fn stops the
// scan and is returned.
func (s *Store) ScanEmbeddings(ctx context.Context, model string, fn func(id int64, vec []float32) error) error {
	type row struct {
		id  int64
		vec []float32
	}
	page := make([]row, 0, scanPageSize)
	after := int64(math.MinInt64)
	for {
		page = page[:0]
		err := s.retry(ctx, func() error {
			page = page[:0]
			rows, err := s.db.QueryContext(ctx, s.q.scanPage, model, after, scanPageSize)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var (
					r   row
					emb sql.RawBytes
				)
				if err := rows.Scan(&r.id, &emb); err != nil {
					return err
				}
				if r.vec, err = DecodeVector(emb); err != nil {
					return fmt.Errorf("document %d: %w", r.id, err)
				}
				page = append(page, r)
			}
			return rows.Err()
		})
		if err != nil {
			return fmt.Errorf("scan embeddings of model %s after id %d: %w", model, after, err)
		}
		for _, r := range page {
			if err := fn(r.id, r.vec); err != nil {
				return err
			}
		}
		if len(page) < scanPageSize {
			return nil
		}
		after = page[len(page)-1].id
	}
}

// ClaimMissing claims for owner up to n texts after the content hash
// after that have no vector of model and no live claim, in one
// transaction: it first drops the model's expired claims (their holder
// crashed or overran), then inserts claims with a conditional INSERT …
// SELECT, and reads the owner's claimed texts back. Two runs that pick the
// same texts at once are ordered by the claims' key: on SQL Server the
// second waits on the first's key-range locks; on Babelfish its insert
// fails on the primary key and the transaction is retried, after which it
// sees the first's claims.
func (s *Store) ClaimMissing(ctx context.Context, model, owner, after string, n int, lease time.Duration) ([]tinyhead.PendingText, error) {
	var out []tinyhead.PendingText
	err := rowcheck.Model(model)
	if err == nil && (owner == "" || n <= 0 || lease <= 0) {
		err = fmt.Errorf("want an owner, n > 0 and a lease > 0 (got %q, %d, %s)", owner, n, lease)
	}
	if err == nil {
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			out = out[:0]
			t := now()
			if _, err := tx.ExecContext(ctx, s.e.dropExpired, model, s.d.timeArg(t)); err != nil {
				return fmt.Errorf("drop expired claims: %w", err)
			}
			if _, err := tx.ExecContext(ctx, s.e.claim, model, owner, s.d.timeArg(t.Add(lease)), after, n); err != nil {
				return fmt.Errorf("claim: %w", lostRace(err))
			}
			rows, err := tx.QueryContext(ctx, s.e.claimed, model, owner)
			if err != nil {
				return fmt.Errorf("read claimed texts: %w", err)
			}
			defer rows.Close()
			for rows.Next() {
				var p tinyhead.PendingText
				if err := rows.Scan(&p.ContentHash, &p.Text); err != nil {
					return err
				}
				out = append(out, p)
			}
			return rows.Err()
		})
	}
	if err != nil {
		return nil, fmt.Errorf("claim texts missing embeddings of model %s: %w", model, err)
	}
	return out, nil
}

// PutEmbeddings stores the vectors of model that are missing, for hashes a
// document still holds, and releases owner's claims, in one transaction.
func (s *Store) PutEmbeddings(ctx context.Context, model, owner string, vecs []tinyhead.HashVector) (int, error) {
	n := 0
	err := rowcheck.Model(model)
	if err == nil {
		vs := make([]rowcheck.Vector, len(vecs))
		for i, v := range vecs {
			vs[i] = rowcheck.Vector{Model: model, Hash: v.ContentHash, Vec: v.Vector}
		}
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			var err error
			if n, err = s.d.putVectors(ctx, tx, vs, now()); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, s.e.release, model, owner)
			return err
		})
	}
	if err != nil {
		return 0, fmt.Errorf("store %d embeddings of model %s: %w", len(vecs), model, err)
	}
	return n, nil
}

// EmbeddingProgress counts the distinct texts of the stored documents,
// those with a vector of model, and the missing ones under a live claim.
func (s *Store) EmbeddingProgress(ctx context.Context, model string) (tinyhead.EmbeddingProgress, error) {
	var p tinyhead.EmbeddingProgress
	err := rowcheck.Model(model)
	if err == nil {
		err = s.retry(ctx, func() error {
			return s.db.QueryRowContext(ctx, s.e.progress, model, s.d.timeArg(now())).Scan(&p.Texts, &p.Embedded, &p.Claimed)
		})
	}
	if err != nil {
		return p, fmt.Errorf("count embeddings of model %s: %w", model, err)
	}
	return p, nil
}

// embeddingQueries are the statements of re-embedding, per dialect; the
// comment on each field lists its arguments.
type embeddingQueries struct {
	dropExpired string // model, now
	claim       string // model, owner, lease_until, after hash, n
	claimed     string // model, owner: (content_hash, text) of the owner's claims
	release     string // model, owner
	progress    string // model, now: texts, embedded, claimed
}

// progressQuery counts with one statement on both dialects.
const progressQuery = `SELECT
	(SELECT COUNT(DISTINCT content_hash) FROM documents),
	(SELECT COUNT(*) FROM (SELECT DISTINCT content_hash FROM documents) AS h
		WHERE EXISTS (SELECT 1 FROM embeddings AS e WHERE e.content_hash = h.content_hash AND e.model = %[1]s)),
	(SELECT COUNT(*) FROM embedding_claims AS c WHERE c.model = %[1]s AND c.lease_until >= %[2]s
		AND EXISTS (SELECT 1 FROM documents AS d WHERE d.content_hash = c.content_hash)
		AND NOT EXISTS (SELECT 1 FROM embeddings AS e WHERE e.content_hash = c.content_hash AND e.model = %[1]s))`

// claimedQuery reads the owner's claims with the text of the first
// document that holds each hash (claims whose documents are gone drop out).
const claimedQuery = `SELECT c.content_hash, d.text FROM embedding_claims AS c
	JOIN documents AS d ON d.id = (SELECT MIN(x.id) FROM documents AS x WHERE x.content_hash = c.content_hash)
	WHERE c.model = %[1]s AND c.owner = %[2]s
	ORDER BY c.content_hash`

func sqliteEmbeddingQueries() *embeddingQueries {
	return &embeddingQueries{
		dropExpired: `DELETE FROM embedding_claims WHERE model = ? AND lease_until < ?`,
		// The distinct hashes are walked in order on documents_hash from
		// the caller's cursor, so a run reads each document about once.
		claim: `INSERT INTO embedding_claims (model, content_hash, owner, lease_until)
			SELECT ?1, h.content_hash, ?2, ?3 FROM (SELECT DISTINCT content_hash FROM documents WHERE content_hash > ?4) AS h
			WHERE NOT EXISTS (SELECT 1 FROM embeddings AS e WHERE e.content_hash = h.content_hash AND e.model = ?1)
				AND NOT EXISTS (SELECT 1 FROM embedding_claims AS c WHERE c.content_hash = h.content_hash AND c.model = ?1)
			ORDER BY h.content_hash LIMIT ?5`,
		claimed:  fmt.Sprintf(claimedQuery, "?1", "?2"),
		release:  `DELETE FROM embedding_claims WHERE model = ? AND owner = ?`,
		progress: fmt.Sprintf(progressQuery, "?1", "?2"),
	}
}

func mssqlEmbeddingQueries() *embeddingQueries {
	return &embeddingQueries{
		dropExpired: `DELETE FROM embedding_claims WHERE model = @p1 AND lease_until < @p2`,
		// UPDLOCK, HOLDLOCK on the claims keeps the checked keys locked to
		// the end of the transaction, so a concurrent claimer waits.
		claim: `INSERT INTO embedding_claims (model, content_hash, owner, lease_until)
			SELECT TOP (@p5) @p1, h.content_hash, @p2, @p3
			FROM (SELECT DISTINCT content_hash FROM documents WHERE content_hash > @p4) AS h
			WHERE NOT EXISTS (SELECT 1 FROM embeddings AS e WHERE e.content_hash = h.content_hash AND e.model = @p1)
				AND NOT EXISTS (SELECT 1 FROM embedding_claims AS c WITH (UPDLOCK, HOLDLOCK)
					WHERE c.content_hash = h.content_hash AND c.model = @p1)
			ORDER BY h.content_hash`,
		claimed:  fmt.Sprintf(claimedQuery, "@p1", "@p2"),
		release:  `DELETE FROM embedding_claims WHERE model = @p1 AND owner = @p2`,
		progress: fmt.Sprintf(progressQuery, "@p1", "@p2"),
	}
}
