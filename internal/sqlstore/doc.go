// Package sqlstore implements tinyhead.Store on SQL: SQLite
// (modernc.org/sqlite, pure Go) locally and SQL Server / Azure SQL
// (github.com/microsoft/go-mssqldb) in production. One schema, two dialects:
//
//	documents(id, source, item, source_version, content_hash, text,
//	          embedding_model, embedding, dim, created_at, updated_at)
//	          unique (source, item); index (embedding_model, content_hash)
//	labels(document_id → documents ON DELETE CASCADE, task, label, updated_at)
//	          primary key (document_id, task); index (task)
//	ingests(id, source, etag, status, rows_ok, rows_rejected, error, attempts,
//	        started_at, updated_at) unique (source, etag)
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
// item ids and labels are case-sensitive. Sizes are in limits.go; both
// dialects enforce them, and both reject task names and etags that end in
// a space (SQL Server would take them for the name without it).
//
// PutDocuments bulk-copies the batch (mssql.CopyIn) into #temp tables and
// merges it with set-based statements: UPDLOCK, HOLDLOCK on the key lookup
// keeps existing rows and the gaps for new ones locked until commit, then
// UPDATE the existing rows and INSERT the new ones. Labels are written
// only while their document's row is locked (by that merge, or by SetLabel
// reading it WITH (UPDLOCK)), which orders all label writers. BeginIngest
// is "UPDATE WITH (UPDLOCK, HOLDLOCK), INSERT if no row". Deadlocks, lost
// insert races and Azure SQL's transient errors are retried, the whole
// transaction at a time. No MERGE, no CREATE OR ALTER.
//
// # Tests
//
// The conformance suite (package storetest) runs against SQLite always and
// against SQL Server when TINYHEAD_TEST_MSSQL_DSN is set
// (sqlserver://user:pass@host?database=tinyhead_test). Every SQL Server
// test deletes all rows of tinyhead's tables first: use a database that
// holds nothing else.
package sqlstore
