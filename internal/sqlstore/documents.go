package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/tinyhead/tinyhead/internal/sqlstore/rowcheck"
	"slices"
	"strings"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// documentColumns are read by scanDocument; the table is aliased d.
const documentColumns = `d.id, d.source, d.item, d.source_version, d.content_hash, d.text,
	d.doc_group, d.is_test, d.created_at`

// PutDocuments upserts docs by (Source, Item) and applies their labels, all
// in one transaction. Labels are stored without surrounding white space;
// a task mapped to "" (or white space) loses its label; tasks not
// mentioned keep theirs, unless the stored document was written by another
// SourceVersion: a new version replaces the row, labels included. When
// another version of a document's source is claimed (BeginIngest), nothing
// is written and the error wraps tinyhead.ErrSuperseded. Task names with surrounding white space are
// refused. When docs holds the same (Source, Item) twice, the
// later one wins, as if they had been written one after the other. An
// empty ContentHash is computed from Text.
func (s *Store) PutDocuments(ctx context.Context, docs []tinyhead.Document) error {
	if len(docs) == 0 {
		return nil
	}
	merged, err := rowcheck.Documents(docs)
	if err != nil {
		return fmt.Errorf("put documents of %s: %w", docs[0].Source, err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		t := now()
		if err := s.checkClaims(ctx, tx, merged, t); err != nil {
			return err
		}
		return s.d.putDocuments(ctx, tx, merged, t)
	})
	if err != nil {
		return fmt.Errorf("put %d documents of %s: %w", len(docs), docs[0].Source, err)
	}
	return nil
}

// GetDocument returns one document with its labels, or ErrNotFound.
func (s *Store) GetDocument(ctx context.Context, source, item string) (tinyhead.Document, error) {
	var d tinyhead.Document
	err := s.retry(ctx, func() error {
		var err error
		d, err = s.getDocument(ctx, source, item)
		return err
	})
	if err != nil {
		return tinyhead.Document{}, fmt.Errorf("get document %s/%s: %w", source, item, err)
	}
	return d, nil
}

func (s *Store) getDocument(ctx context.Context, source, item string) (tinyhead.Document, error) {
	var d tinyhead.Document
	if err := rowcheck.Key(source, item); err != nil {
		return d, err
	}
	// One query, documents joined with labels, so the labels belong to the
	// same version of the row.
	rows, err := s.db.QueryContext(ctx, s.q.getDocument, s.d.docKey(source, item)...)
	if err != nil {
		return d, err
	}
	defer rows.Close()
	found := false
	for rows.Next() {
		var task, label sql.NullString
		err := rows.Scan(&d.ID, &d.Source, &d.Item, &d.SourceVersion, &d.ContentHash, &d.Text,
			&d.Group, &d.Test, timeCol{&d.CreatedAt}, &task, &label)
		if err != nil {
			return d, err
		}
		if !found {
			found = true
			d.Labels = map[string]string{}
		}
		if task.Valid {
			d.Labels[task.String] = label.String
		}
	}
	if err := rows.Err(); err != nil {
		return d, err
	}
	if !found {
		return d, tinyhead.ErrNotFound
	}
	// The vectors are read apart: joined, every label would repeat them.
	d.Embeddings, err = s.documentEmbeddings(ctx, d.ContentHash)
	return d, err
}

// PruneSource deletes the documents of source that were not written by
// keepVersion (their labels go with them) and returns how many it deleted.
// Each transaction (one on SQLite, one per batch on SQL Server) first
// checks that no other version of source is claimed; if one is, it stops
// with tinyhead.ErrSuperseded.
func (s *Store) PruneSource(ctx context.Context, source, keepVersion string) (int, error) {
	n := 0
	err := rowcheck.Key(source, "")
	for more := err == nil; more; {
		var m int
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			if err := s.checkClaim(ctx, tx, source, keepVersion, now()); err != nil {
				return err
			}
			var err error
			m, more, err = s.d.pruneBatch(ctx, tx, source, keepVersion)
			return err
		})
		if err != nil {
			break
		}
		n += m
	}
	if err != nil {
		return n, fmt.Errorf("prune documents of %s except version %s: %w", source, keepVersion, err)
	}
	return n, nil
}

// maxVersionsPerStatement bounds the versions in one statement's IN list
// (SQL Server takes at most 2,100 parameters).
const maxVersionsPerStatement = 500

// SourceVersions lists the versions of source that its documents and its
// ingest records name, sorted.
func (s *Store) SourceVersions(ctx context.Context, source string) ([]string, error) {
	var out []string
	err := rowcheck.Key(source, "")
	if err == nil {
		key := s.d.docKey(source, "")[0]
		err = s.retry(ctx, func() error {
			out = nil
			rows, err := s.db.QueryContext(ctx, s.q.versions, key, key)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var v string
				if err := rows.Scan(&v); err != nil {
					return err
				}
				out = append(out, v)
			}
			return rows.Err()
		})
	}
	if err != nil {
		return nil, fmt.Errorf("list versions of %s: %w", source, err)
	}
	return out, nil
}

// DeleteSource deletes the documents of source written by one of versions
// (their labels go with them) and marks the ingest records of those
// versions deleted, and returns how many documents it deleted. The ingests
// are marked first, so that an attempt at one of those versions that
// begins meanwhile does nothing.
func (s *Store) DeleteSource(ctx context.Context, source string, versions []string) (int, error) {
	var n int
	err := rowcheck.Key(source, "")
	if err == nil {
		err = ctx.Err()
	}
	for len(versions) > 0 && err == nil {
		chunk := versions[:min(len(versions), maxVersionsPerStatement)]
		versions = versions[len(chunk):]
		err = s.retry(ctx, func() error {
			// A failed try may have committed some batches: count them.
			m, err := s.d.deleteSource(ctx, s.w, source, chunk, now())
			n += m
			return err
		})
	}
	if s.ckpt != nil && n > 0 {
		s.ckpt.notify()
	}
	if err != nil {
		return n, fmt.Errorf("delete documents of %s: %w", source, err)
	}
	return n, nil
}

// Sources lists the distinct sources that have documents, in byte order.
func (s *Store) Sources(ctx context.Context) ([]string, error) {
	var out []string
	err := s.retry(ctx, func() error {
		out = nil
		rows, err := s.db.QueryContext(ctx, s.q.sources)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var src string
			if err := rows.Scan(&src); err != nil {
				return err
			}
			out = append(out, src)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	// Byte order, whatever the column's collation (Babelfish loses the
	// binary collation when schema version 3 widens the column).
	slices.Sort(out)
	return out, nil
}

// inList returns the placeholders of an IN list of values, numbered from
// first, and the values as arguments.
func inList(d dialect, first int, values []string) (string, []any) {
	var b strings.Builder
	args := make([]any, len(values))
	for i, v := range values {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(d.param(first + i))
		args[i] = v
	}
	return b.String(), args
}
