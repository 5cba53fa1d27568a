package sqlstore

import (
	"math/rand/v2"
	"testing"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// BenchmarkSetLabels labels 16,384 stored documents (2,048 on SQL Server,
// the size the per-edit writes it replaced were measured at, so that
// BENCHMARKS.md compares like with like) in batches of 256 edits, as a labels file is applied, naming them
// by id, by (source, item) or by content hash; each op alternates the
// label, so every edit changes one. On SQLite, and SQL Server when
// TINYHEAD_TEST_MSSQL_DSN is set. The metric is edits/s.
func BenchmarkSetLabels(b *testing.B) {
	for _, d := range benchDialects() {
		for _, by := range []string{"id", "key", "hash"} {
			b.Run(d+"/"+by, func(b *testing.B) { benchSetLabels(b, d, by) })
		}
	}
}

func benchSetLabels(b *testing.B, dialect, by string) {
	s := openBench(b, dialect)
	const src = "incoming/bench.csv"
	n := benchFile
	if dialect == "SQLServer" {
		n = 8 * benchBatch
	}
	docs := benchDocs(rand.New(rand.NewPCG(1, 2)), src, "v1", 0, n)
	for i := 0; i < len(docs); i += benchBatch {
		if err := s.PutDocuments(b.Context(), docs[i:i+benchBatch]); err != nil {
			b.Fatal(err)
		}
	}
	refs := make([]tinyhead.DocRef, len(docs))
	for i, d := range docs {
		switch by {
		case "id":
			got, err := s.GetDocument(b.Context(), src, d.Item)
			if err != nil {
				b.Fatal(err)
			}
			refs[i] = tinyhead.DocRef{ID: got.ID}
		case "key":
			refs[i] = tinyhead.DocRef{Source: src, Item: d.Item}
		default:
			refs[i] = tinyhead.DocRef{ContentHash: d.ContentHash, Model: "bench-model"}
		}
	}
	edits := make([]tinyhead.LabelEdit, benchBatch)
	b.ResetTimer()
	for n := range b.N {
		for i := 0; i < len(refs); i += benchBatch {
			for j := range edits {
				edits[j] = tinyhead.LabelEdit{Doc: refs[i+j], Task: "later", Label: itoa(n % 2)}
			}
			res, err := s.SetLabels(b.Context(), "", "", edits)
			if err != nil {
				b.Fatal(err)
			}
			if res[0].Changed != 1 {
				b.Fatalf("edit %d: %+v, want one changed label", i, res[0])
			}
		}
	}
	b.ReportMetric(float64(b.N*len(refs))/b.Elapsed().Seconds(), "edits/s")
}
