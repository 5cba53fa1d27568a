package sqlstore

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/testenv"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// TestMigrateV1 opens a database left by the first schema, holding an
// ingest that was running when its process died and a labelled document:
// Open migrates it in place, the dead attempt's lease counts as expired,
// and versions of the source are ordered from then on. On SQL Server it
// uses a database of its own next to TINYHEAD_TEST_MSSQL_DSN's.
func TestMigrateV1(t *testing.T) {
	const src = "incoming/old.csv"
	ctx := t.Context()
	for _, tc := range []struct {
		name    string
		driver  string
		prepare func(t *testing.T) (dsn string, db *sql.DB, d dialect, m migrations)
		v1Rows  func() []string // statements whose one parameter is the time
	}{{
		name:    "SQLite",
		driver:  DriverSQLite,
		prepare: prepareSQLite,
		v1Rows: func() []string {
			return []string{
				`INSERT INTO ingests (source, etag, status, rows_ok, rows_rejected, error, attempts, started_at, updated_at)
				VALUES ('` + src + `', 'e1', 'running', 0, 0, '', 1, ?, ?1)`,
				`INSERT INTO documents (source, item, source_version, content_hash, text, embedding_model, embedding, dim,
				created_at, updated_at) VALUES ('` + src + `', '1', 'e0', 'h', 'text', 'm', x'0000803f', 1, ?, ?1)`,
				`INSERT INTO labels (document_id, task, label, updated_at) VALUES (1, 'extra', 'x', ?)`,
			}
		},
	}, {
		name:    "SQLServer",
		driver:  DriverSQLServer,
		prepare: prepareMSSQL,
		v1Rows: func() []string {
			sk := fmt.Sprintf("0x%x", keyOf(src))
			return []string{
				`INSERT INTO ingests (source_key, source, etag, status, rows_ok, rows_rejected, error, attempts, started_at, updated_at)
				VALUES (` + sk + `, N'` + src + `', N'e1', N'running', 0, 0, N'', 1, @p1, @p1)`,
				`INSERT INTO documents (source_key, item_key, source, item, source_version, content_hash, text, embedding_model,
				embedding, dim, created_at, updated_at) VALUES (` + sk + `, ` + fmt.Sprintf("0x%x", keyOf("1")) + `,
				N'` + src + `', N'1', N'e0', N'h', N'text', N'm', 0x0000803f, 1, @p1, @p1)`,
				`INSERT INTO labels (document_id, task, label, updated_at)
				SELECT id, N'extra', N'x', @p1 FROM documents`,
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dsn, db, d, m := tc.prepare(t)
			m.steps = m.steps[:1]
			if err := m.run(ctx, db, d); err != nil {
				t.Fatal(err)
			}
			ts := d.timeArg(time.Now())
			for _, stmt := range tc.v1Rows() {
				if _, err := db.ExecContext(ctx, stmt, ts); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			db.Close()
			checkMigrated(t, tc.driver, dsn, src)
		})
	}
}

func checkMigrated(t *testing.T, driver, dsn, src string) {
	ctx := t.Context()
	s, err := Open(ctx, driver, dsn)
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
	if old, err := s.GetDocument(ctx, src, "1"); err != nil || old.Group != "" || old.Test {
		t.Errorf("migrated document: group %q, test %v, %v; want no group, not a test row", old.Group, old.Test, err)
	}
	d := tinyhead.Document{Source: src, Item: "1", SourceVersion: "e1", Text: "text",
		Embeddings: map[string][]float32{"m": {1}}, Labels: map[string]string{"idem": "a"}, Group: "g", Test: true}
	if err := s.PutDocuments(ctx, []tinyhead.Document{d}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetDocument(ctx, src, "1")
	if err != nil || len(got.Labels) != 1 || got.Labels["idem"] != "a" || got.Group != "g" || !got.Test {
		t.Errorf("document after the new version: labels %v, group %q, test %v, %v; want idem=a only, group g, test",
			got.Labels, got.Group, got.Test, err)
	}
}

// TestMigrateEmbeddings opens a database of the schema before embeddings
// had a table of their own, holding documents of two models, two of them
// with the same text: Open moves the vectors to the embeddings table, one
// per (model, text), and every read sees them as before.
func TestMigrateEmbeddings(t *testing.T) {
	const src = "incoming/old.csv"
	ctx := t.Context()
	for _, tc := range []struct {
		name    string
		driver  string
		prepare func(t *testing.T) (dsn string, db *sql.DB, d dialect, m migrations)
		row     func(item, hash, text, model, vec string) string // its one parameter is the time
		label   string
	}{{
		name:    "SQLite",
		driver:  DriverSQLite,
		prepare: prepareSQLite,
		row: func(item, hash, text, model, vec string) string {
			return `INSERT INTO documents (source, item, source_version, content_hash, text, embedding_model, embedding, dim,
				created_at, updated_at) VALUES ('` + src + `', '` + item + `', 'e0', '` + hash + `', '` + text + `', '` + model +
				`', x'` + vec + `', 1, ?, ?1)`
		},
		label: `INSERT INTO labels (document_id, task, label, updated_at) SELECT id, 'spam', 'ham', ? FROM documents`,
	}, {
		name:    "SQLServer",
		driver:  DriverSQLServer,
		prepare: prepareMSSQL,
		row: func(item, hash, text, model, vec string) string {
			return `INSERT INTO documents (source_key, item_key, source, item, source_version, content_hash, text, embedding_model,
				embedding, dim, created_at, updated_at) VALUES (` + fmt.Sprintf("0x%x, 0x%x", keyOf(src), keyOf(item)) + `,
				N'` + src + `', N'` + item + `', N'e0', N'` + hash + `', N'` + text + `', N'` + model + `', 0x` + vec + `, 1, @p1, @p1)`
		},
		label: `INSERT INTO labels (document_id, task, label, updated_at) SELECT id, N'spam', N'ham', @p1 FROM documents`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dsn, db, d, m := tc.prepare(t)
			m.steps = m.steps[:embeddingsStep(t, m)]
			if err := m.run(ctx, db, d); err != nil {
				t.Fatal(err)
			}
			ts := d.timeArg(time.Now())
			one, two := "0000803f", "00000040" // 1.0 and 2.0
			for _, stmt := range []string{
				tc.row("1", "h1", "same", "m", one),
				tc.row("2", "h1", "same", "m", one),
				tc.row("3", "h2", "other", "m", two),
				tc.row("4", "h3", "old model", "m-old", two),
				tc.label,
			} {
				if _, err := db.ExecContext(ctx, stmt, ts); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			db.Close()

			s, err := Open(ctx, tc.driver, dsn)
			if err != nil {
				t.Fatalf("Open a database of the previous schema: %v", err)
			}
			defer s.Close()
			for item, want := range map[string]map[string][]float32{"1": {"m": {1}}, "2": {"m": {1}}, "3": {"m": {2}}, "4": {"m-old": {2}}} {
				got, err := s.GetDocument(ctx, src, item)
				if err != nil || fmt.Sprint(got.Embeddings) != fmt.Sprint(want) {
					t.Errorf("item %s: embeddings %v, %v; want %v", item, got.Embeddings, err, want)
				}
			}
			var n int
			if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM embeddings`).Scan(&n); err != nil || n != 3 {
				t.Errorf("embeddings rows = %d, %v; want 3 (one per model and text)", n, err)
			}
			st, err := s.Stats(ctx)
			if err != nil || st.Documents != 4 || st.ByModel["m"] != 3 || st.ByModel["m-old"] != 1 {
				t.Errorf("Stats = %+v, %v; want 4 documents, m: 3, m-old: 1", st, err)
			}
			sums, err := s.Tasks(ctx, "m")
			if err != nil || len(sums) != 1 || sums[0].Rows != 3 {
				t.Errorf("Tasks(m) = %+v, %v; want spam with 3 rows", sums, err)
			}
			if n, err := s.DeleteSource(ctx, src, []string{"e0"}); err != nil || n != 4 {
				t.Fatalf("DeleteSource = %d, %v; want 4", n, err)
			}
			if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM embeddings`).Scan(&n); err != nil || n != 0 {
				t.Errorf("embeddings rows after deleting every document = %d, %v; want 0", n, err)
			}
		})
	}
}

// embeddingsStep is the number of the schema steps before the one that
// moves embeddings to their own table.
func embeddingsStep(t *testing.T, m migrations) int {
	for i, step := range m.steps {
		if slices.Contains(step, migrateEmbeddings) {
			return i
		}
	}
	t.Fatal("no schema step moves the embeddings")
	return 0
}

// prepareSQLite makes an empty SQLite database for a migration test and
// returns its DSN, its write pool, and its dialect and migrations.
func prepareSQLite(t *testing.T) (string, *sql.DB, dialect, migrations) {
	path := filepath.Join(t.TempDir(), "tinyhead.db")
	db, w, err := openSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := initSQLite(t.Context(), w); err != nil {
		t.Fatal(err)
	}
	return path, w, sqliteDialect{}, sqliteMigrations()
}

// prepareMSSQL is prepareSQLite on a database of its own next to
// TINYHEAD_TEST_MSSQL_DSN's (skipped without it).
func prepareMSSQL(t *testing.T) (string, *sql.DB, dialect, migrations) {
	dsn := testenv.FreshMSSQLDatabase(t, testenv.MSSQL(t), "tinyhead_migrate")
	db, err := openMSSQL(dsn, Options{}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	return dsn, db, mssqlDialect{}, mssqlMigrations()
}
