// Package sqlstore implements tinyhead.Store on SQL: SQLite
// (modernc.org/sqlite, pure Go) locally and SQL Server / Azure SQL
// (github.com/microsoft/go-mssqldb) in production. One schema, two dialects:
//
//	documents(id, source, item, source_version, content_hash, text,
//	          embedding_model, embedding, dim, created_at, updated_at,
//	          doc_group, is_test)
//	          unique (source, item); index (content_hash)
//	          (embedding_model, embedding and dim are left empty: see embeddings)
//	embeddings(content_hash, model, dim, embedding, created_at)
//	          primary key (content_hash, model)
//	embedding_claims(model, content_hash, owner, lease_until)
//	          primary key (model, content_hash); index (owner)
//	labels(document_id → documents ON DELETE CASCADE, task, label, updated_at)
//	          primary key (document_id, task); index (task)
//	ingests(id, source, etag, status, rows_ok, rows_rejected, error, attempts,
//	        started_at, updated_at, modified, lease_until) unique (source, etag)
//	sources(source, etag, modified, updated_at) primary key (source)
//	models(id, task, version, created_at, row_count, metrics, blob_path,
//	       promoted) unique (task, version)
//	schema_version(version, applied_at)
//
// Open creates or migrates the schema in one transaction under a lock
// (SQLite's write lock; sp_getapplock on SQL Server), so processes that
// start together do not race.
//
// Embeddings are float32 little-endian bytes (EncodeVector, DecodeVector)
// in a BLOB / VARBINARY(MAX) column, so they round-trip bit for bit.
// Times are stored in UTC: fixed-width RFC 3339 text on SQLite,
// DATETIME2(7) on SQL Server.
//
// # SQLite
//
// WAL mode, 16 KiB pages, one connection for writes (writers queue in Go),
// a pool for reads, and a background goroutine that checkpoints the WAL so
// that commits do not wait for it. PutDocuments writes row by row with
// statements prepared once per transaction.
//
// # SQL Server
//
// The uniqueness of (source, item) is enforced on SHA-256 hashes of the two
// strings (source_key, item_key, BINARY(32) each): two NVARCHAR(1024)
// columns would exceed the 1,700-byte index key limit, and the hashes also
// avoid the padding rule that makes N'a' = N'a '. Compared text columns
// use the binary collation Latin1_General_100_BIN2, because blob names,
// item ids and labels are case-sensitive. Sizes are in package rowcheck; both
// dialects enforce them, and both reject etags that end in a space (SQL
// Server would take them for the etag without it).
//
// PutDocuments bulk-copies the batch (mssql.CopyIn) into #temp tables and
// merges it with set-based statements in one batch: each key is looked up
// once, by a seek of the unique index WITH (UPDLOCK, HOLDLOCK), which keeps
// existing rows and the gaps for new ones locked until commit; then
// existing rows are updated by id, new ones inserted, and labels merged on
// (document_id, task), the primary key of labels. SetLabels works the same
// way: the edits are bulk-copied, their documents found and locked in one
// batch, and the net changes bulk-copied and applied by one DELETE, UPDATE
// and INSERT. Labels are written only while their document's row is
// locked (by that merge, or by SetLabels reading it WITH (UPDLOCK)), which
// orders all label writers. No MERGE, no CREATE OR ALTER.
//
// # Versions of a source
//
// BeginIngest claims a source for the newest version it has seen (sources
// holds it; versions are ordered by LastModified, then ETag), and leases a
// version to one attempt at a time (ingests.lease_until). PutDocuments and
// each transaction of PruneSource first update the claim row where it names
// their version: the update's row lock (not a hint) orders them against a
// claim on every engine, Babelfish included, and when no row matches they
// fail with tinyhead.ErrSuperseded. Claims and take-overs are
// compare-and-swap updates checked by rows affected (see versions.go).
//
// # Retries and the pool
//
// Every call is retried, the whole transaction at a time, after errors that
// a retry can cure: deadlocks, Azure SQL's transient errors (a serverless
// database resuming answers 40613 for about a minute), broken connections,
// and duplicate keys where an upsert lost an insert race (never a genuine
// duplicate). Back-off is exponential, within Options.RetryBudget (90 s by
// default), never past the context's deadline. The SQL Server pool is
// bounded (Options.MaxOpenConns) and closes idle connections
// (Options.ConnMaxIdle), so that a serverless database can pause.
//
// Labels are stored trimmed of surrounding white space and task names with
// surrounding white space are refused, in both dialects, since SQL Server
// compares 'a' and 'a ' as equal and SQLite does not.
//
// # Tests
//
// The conformance suite (package storetest) runs against SQLite always and
// against SQL Server when TINYHEAD_TEST_MSSQL_DSN is set
// (sqlserver://user:pass@host?database=tinyhead_test; scripts/test.sh
// starts Babelfish and sets it). Every SQL Server test deletes all rows of
// tinyhead's tables first: use a database that holds nothing else.
package sqlstore
