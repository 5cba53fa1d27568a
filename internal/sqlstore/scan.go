package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
)

// pageReader runs the page queries of a long scan. On a SQLite file it
// reads on one connection with a larger page cache and memory-mapped
// reads, in read transactions of up to scanTxPages pages each. SQLite
// empties a connection's page cache when a read transaction starts after
// another connection has committed, and batch scoring commits a page of
// predictions per page it reads: with a transaction per page, each page
// started cold and every vector looked up by content hash cost a fresh
// 16 KiB page read. The transaction ends every scanTxPages pages, because
// a reader keeps the WAL frames after its snapshot from being
// checkpointed. Elsewhere (SQL Server, or SQLite in memory, whose one
// connection the writes need too) each page is a query on the pool.
type pageReader struct {
	s     *Store
	conn  *sql.Conn // nil: each page on the pool
	tx    *sql.Tx
	pages int // read in tx
}

// scanTxPages is how many pages a pageReader reads per read transaction:
// 64 pages of 1,024 rows hold the WAL for a second or two.
const scanTxPages = 64

// scanCacheKiB is the page cache of a pageReader's connection (the pool's
// connections have sqliteCacheKiB): the content-hash index of a million
// documents' vectors fits in it.
const scanCacheKiB = 256 << 10

// scanMmapBytes is how much of the database file a pageReader's
// connection reads through a memory map rather than read calls: the most
// SQLite's build allows (its SQLITE_MAX_MMAP_SIZE). The pool's
// connections map nothing (SQLite's default).
const scanMmapBytes = 2147418112

func (s *Store) newPageReader(ctx context.Context) (*pageReader, error) {
	r := &pageReader{s: s}
	if _, ok := s.d.(sqliteDialect); !ok || s.w == s.db {
		return r, nil
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("open a connection to scan: %w", err)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = -%d", scanCacheKiB)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("size the scan's page cache: %w", err)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA mmap_size = %d", scanMmapBytes)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("map the database for the scan: %w", err)
	}
	r.conn = conn
	return r, nil
}

// query runs a page's query.
func (r *pageReader) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if r.conn == nil {
		return r.s.db.QueryContext(ctx, q, args...)
	}
	if r.tx != nil && r.pages >= r.s.scanTxPages {
		r.end()
	}
	if r.tx == nil {
		tx, err := r.conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true}) // BEGIN DEFERRED: no write lock
		if err != nil {
			return nil, err
		}
		r.tx, r.pages = tx, 0
	}
	r.pages++
	return r.tx.QueryContext(ctx, q, args...)
}

// failed ends the read transaction after a page's query or read returned
// err (if not nil), so that its retry starts afresh; it returns err.
func (r *pageReader) failed(err error) error {
	if err != nil {
		r.end()
	}
	return err
}

// end ends the read transaction, if any.
func (r *pageReader) end() {
	if r.tx != nil {
		r.tx.Rollback() // a read-only transaction: nothing to lose
		r.tx = nil
	}
}

// close ends the scan and gives the connection back with the pool's cache
// size.
func (r *pageReader) close() {
	if r.conn == nil {
		return
	}
	r.end()
	// A failure leaves a larger cache on one pooled connection: harmless.
	r.conn.ExecContext(context.Background(), fmt.Sprintf("PRAGMA cache_size = -%d", sqliteCacheKiB))
	r.conn.ExecContext(context.Background(), "PRAGMA mmap_size = 0")
	r.conn.Close()
}
