package sqlstore

import (
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// TestScanUnscoredReadTransactions: on a SQLite file, ScanUnscored reads
// several pages per read transaction while fn writes each page's
// predictions; every page is read in order with its own vectors, and a
// later transaction sees what was written since (a document deleted
// ahead of the scan is left out).
func TestScanUnscoredReadTransactions(t *testing.T) {
	s := openSQLiteTest(t)
	defer s.Close()
	s.scanTxPages = 2
	ctx := t.Context()
	const n = 5*scanPageSize + 3
	var docs []tinyhead.Document
	for i := range n {
		docs = append(docs, tinyhead.Document{Source: "incoming/scan", Item: itoa(i), Text: "text " + itoa(i),
			Embeddings: map[string][]float32{"m": {float32(i), -float32(i)}}})
	}
	late := tinyhead.Document{Source: "incoming/late", Item: "0", SourceVersion: "v", Text: "deleted while the scan runs",
		Embeddings: map[string][]float32{"m": {-1, 1}}}
	if err := s.PutDocuments(ctx, append(docs, late)); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	var ids []int64
	pages := 0
	err := s.ScanUnscored(ctx, "spam", "v1", "m", "", func(page []tinyhead.ScoreRow) error {
		if pages++; pages == 1 {
			if _, err := s.DeleteSource(ctx, "incoming/late", []string{"v"}); err != nil {
				return err
			}
		}
		preds := make([]tinyhead.Prediction, len(page))
		for i, r := range page {
			if len(ids) > 0 && r.ID <= ids[len(ids)-1] {
				t.Fatalf("id %d after %d", r.ID, ids[len(ids)-1])
			}
			if len(r.Embedding) != 2 || r.Embedding[0] != -r.Embedding[1] || r.Embedding[0] < 0 {
				t.Fatalf("document %d: vector %v", r.ID, r.Embedding)
			}
			ids = append(ids, r.ID)
			preds[i] = tinyhead.Prediction{DocumentID: r.ID, Task: "spam", Version: "v1", Label: "a", Probability: 1,
				Margin: 1, Probabilities: `{"a":1}`, ScoredAt: at}
		}
		return s.PutPredictions(ctx, preds)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != n || pages != 6 {
		t.Errorf("scanned %d documents in %d pages, want %d in 6", len(ids), pages, n)
	}
	if left, err := s.CountUnscored(ctx, "spam", "v1", "m"); err != nil || left != 0 {
		t.Errorf("CountUnscored after the scan = %d, %v", left, err)
	}
}
