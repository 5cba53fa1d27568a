package sqlstore

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// TestMigrateV1 opens a SQLite database left by the first schema, holding
// an ingest that was running when its process died and a labelled
// document: Open migrates it in place, the dead attempt's lease counts as
// expired, and versions of the source are ordered from then on.
func TestMigrateV1(t *testing.T) {
	ctx := t.Context()
	const src = "incoming/old.csv"
	path := filepath.Join(t.TempDir(), "tinyhead.db")
	db, w, err := openSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := initSQLite(ctx, w); err != nil {
		t.Fatal(err)
	}
	err = migrations{
		lock:         func(context.Context, *sql.Tx) error { return nil },
		versionTable: `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`,
		steps:        [][]string{sqliteSchemaV1()},
	}.run(ctx, w, sqliteDialect{})
	if err != nil {
		t.Fatal(err)
	}
	ts := sqliteDialect{}.timeArg(time.Now())
	for _, q := range []struct {
		stmt string
		args []any
	}{
		{`INSERT INTO ingests (source, etag, status, rows_ok, rows_rejected, error, attempts, started_at, updated_at)
			VALUES (?, 'e1', 'running', 0, 0, '', 1, ?, ?)`, []any{src, ts, ts}},
		{`INSERT INTO documents (source, item, source_version, content_hash, text, embedding_model, embedding, dim,
			created_at, updated_at) VALUES (?, '1', 'e0', 'h', 'text', 'm', x'0000803f', 1, ?, ?)`, []any{src, ts, ts}},
		{`INSERT INTO labels (document_id, task, label, updated_at) VALUES (1, 'extra', 'x', ?)`, []any{ts}},
	} {
		if _, err := w.ExecContext(ctx, q.stmt, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	w.Close()

	s, err := Open(ctx, DriverSQLite, path)
	if err != nil {
		t.Fatalf("Open a version 1 database: %v", err)
	}
	defer s.Close()
	old, err := s.GetIngest(ctx, src, "e1")
	if err != nil || old.Status != tinyhead.IngestRunning || !old.LeaseUntil.Before(time.Now()) {
		t.Fatalf("migrated record = %+v, %v; want running with an expired lease", old, err)
	}
	mod := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	in, err := s.BeginIngest(ctx, tinyhead.BlobVersion{Source: src, ETag: "e1", Modified: mod}, time.Hour)
	if err != nil || in.Status != tinyhead.IngestRunning || in.Attempts != 2 {
		t.Fatalf("BeginIngest of the dead attempt's version = %+v, %v; want it taken over, attempt 2", in, err)
	}
	in, err = s.BeginIngest(ctx, tinyhead.BlobVersion{Source: src, ETag: "e0", Modified: mod.Add(-time.Second)}, time.Hour)
	if err != nil || in.Status != tinyhead.IngestSuperseded {
		t.Errorf("BeginIngest of an older version = %+v, %v; want superseded", in, err)
	}
	d := tinyhead.Document{Source: src, Item: "1", SourceVersion: "e1", Text: "text", EmbeddingModel: "m",
		Embedding: []float32{1}, Labels: map[string]string{"idem": "a"}}
	if err := s.PutDocuments(ctx, []tinyhead.Document{d}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetDocument(ctx, src, "1")
	if err != nil || len(got.Labels) != 1 || got.Labels["idem"] != "a" {
		t.Errorf("document after the new version = %+v, %v; want the label idem=a only", got.Labels, err)
	}
}
