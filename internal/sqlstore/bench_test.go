package sqlstore

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/tinyhead/tinyhead/internal/testenv"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

const (
	benchDim   = 512
	benchBatch = 256
	// benchFile is the rows written per benchmark op: one file of 64 batches,
	// enough to measure even with -benchtime 3x.
	benchFile = 64 * benchBatch
)

// benchDocs builds n documents of source with 512-d embeddings, ~200-byte
// texts and one label each, as an ingest of a CSV file would.
func benchDocs(rng *rand.Rand, source, version string, first, n int) []tinyhead.Document {
	docs := make([]tinyhead.Document, n)
	for i := range docs {
		text := fmt.Sprintf("document %d of %s: %0180d", first+i, source, rng.Int64())
		vec := make([]float32, benchDim)
		for j := range vec {
			vec[j] = rng.Float32()*2 - 1
		}
		docs[i] = tinyhead.Document{
			Source: source, Item: itoa(first + i), SourceVersion: version,
			ContentHash: tinyhead.ContentHash(text), Text: text,
			Embeddings: map[string][]float32{"bench-model": vec},
			Labels:     map[string]string{"class": itoa((first + i) % 5)},
		}
	}
	return docs
}

// benchDialects are the stores the benchmarks run on: SQLite always, SQL
// Server when TINYHEAD_TEST_MSSQL_DSN names a database (whose tinyhead
// tables every benchmark empties, as the tests do).
func benchDialects() []string {
	if os.Getenv(testenv.MSSQLDSN) != "" {
		return []string{"SQLite", "SQLServer"}
	}
	return []string{"SQLite"}
}

func openBench(b *testing.B, dialect string) *Store {
	b.Helper()
	var (
		s   *Store
		err error
	)
	if dialect == "SQLServer" {
		s, err = Open(b.Context(), DriverSQLServer, os.Getenv(testenv.MSSQLDSN))
		if err == nil {
			err = s.Clear(b.Context())
		}
	} else {
		s, err = Open(b.Context(), DriverSQLite, filepath.Join(b.TempDir(), "bench.db"))
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkPutDocuments writes files of 16,384 rows in batches of 256:
// "insert" writes new rows, "update" rewrites the same rows (a new version
// of the file). On SQLite, and SQL Server when TINYHEAD_TEST_MSSQL_DSN is
// set.
func BenchmarkPutDocuments(b *testing.B) {
	for _, d := range benchDialects() {
		for _, mode := range []string{"insert", "update"} {
			b.Run(d+"/"+mode, func(b *testing.B) { benchPut(b, d, mode) })
		}
	}
}

func benchPut(b *testing.B, dialect, mode string) {
	s := openBench(b, dialect)
	rng := rand.New(rand.NewPCG(1, 2))
	docs := benchDocs(rng, "incoming/bench.csv", "v1", 0, benchFile)
	if mode == "update" {
		putAll(b, s, docs)
	}
	b.ResetTimer()
	for i := range b.N {
		if mode == "insert" {
			// New items each op (renumbering costs well under 1%).
			for j := range docs {
				docs[j].Item = itoa(i*benchFile + j)
			}
		}
		putAll(b, s, docs)
	}
	b.ReportMetric(float64(b.N*benchFile)/b.Elapsed().Seconds(), "rows/s")
}

func putAll(b *testing.B, s *Store, docs []tinyhead.Document) {
	for j := 0; j < len(docs); j += benchBatch {
		if err := s.PutDocuments(b.Context(), docs[j:min(j+benchBatch, len(docs))]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadEmbeddings scans every embedding of a 50,000-row table
// with ScanEmbeddings, as training does (SQLite; SQL Server too when
// TINYHEAD_TEST_MSSQL_DSN is set).
func BenchmarkReadEmbeddings(b *testing.B) {
	for _, d := range benchDialects() {
		b.Run(d, func(b *testing.B) { benchRead(b, d) })
	}
}

func benchRead(b *testing.B, dialect string) {
	const rows = 50_000
	s := openBench(b, dialect)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < rows; i += benchFile {
		putAll(b, s, benchDocs(rng, "incoming/bench.csv", "v1", i, min(benchFile, rows-i)))
	}
	b.ResetTimer()
	for range b.N {
		n := 0
		err := s.ScanEmbeddings(b.Context(), "bench-model", func(_ int64, vec []float32) error {
			if len(vec) != benchDim {
				return fmt.Errorf("dim %d", len(vec))
			}
			n++
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if n != rows {
			b.Fatalf("scanned %d rows, want %d", n, rows)
		}
	}
	b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
}
