package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
)

// maxInList is the most hashes sent in one IN list: SQL Server takes at
// most 2,100 parameters per statement.
const maxInList = 1024

// scanPageSize is how many embeddings ScanEmbeddings reads per query.
const scanPageSize = 1024

// EmbeddingsByHash returns the stored embeddings, for model, of whichever
// content hashes are already known. When several documents share a hash,
// any one of their vectors is returned (they are the same text).
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
	q.WriteString("SELECT content_hash, embedding FROM documents WHERE embedding_model = ")
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
		if _, ok := out[h]; ok {
			continue
		}
		if out[h], err = DecodeVector(emb); err != nil {
			return fmt.Errorf("hash %s: %w", h, err)
		}
	}
	return rows.Err()
}

// ScanEmbeddings calls fn with every embedding of model, in id order. It
// reads a page at a time, so memory stays bounded whatever the table size,
// and no connection is held while fn runs (fn may use the Store). fn owns
// vec. An error from fn stops the scan and is returned.
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
