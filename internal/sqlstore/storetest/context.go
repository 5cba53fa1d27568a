package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// testContextCanceled checks that every call gives up on a canceled
// context, and says why.
func testContextCanceled(t *testing.T, s tinyhead.Store) {
	const src = "incoming/ctx.csv"
	d := doc(src, "1", "v1", "text", map[string]string{"task": "x"})
	put(t, s, d)
	ctx := canceled(t)
	calls := map[string]func() error{
		"PutDocuments": func() error { return s.PutDocuments(ctx, []tinyhead.Document{doc(src, "2", "v1", "t", nil)}) },
		"GetDocument":  func() error { _, err := s.GetDocument(ctx, src, "1"); return err },
		"SetLabel":     func() error { return s.SetLabel(ctx, src, "1", "task", "y") },
		"SetLabels": func() error {
			_, err := s.SetLabels(ctx, "", "", []tinyhead.LabelEdit{{Doc: tinyhead.DocRef{Source: src, Item: "1"}, Task: "task", Label: "y"}})
			return err
		},
		"PruneSource":    func() error { _, err := s.PruneSource(ctx, src, "v2"); return err },
		"DeleteSource":   func() error { _, err := s.DeleteSource(ctx, src, []string{"v1"}); return err },
		"SourceVersions": func() error { _, err := s.SourceVersions(ctx, src); return err },
		"Sources":        func() error { _, err := s.Sources(ctx); return err },
		"EmbeddingsByHash": func() error {
			_, err := s.EmbeddingsByHash(ctx, model, []string{d.ContentHash})
			return err
		},
		"Stats": func() error { _, err := s.Stats(ctx); return err },
		"BeginIngest": func() error {
			_, err := s.BeginIngest(ctx, tinyhead.BlobVersion{Source: src, ETag: "e1"}, time.Minute)
			return err
		},
		"RenewIngest":    func() error { return s.RenewIngest(ctx, src, "e1", 1, time.Minute) },
		"GetIngest":      func() error { _, err := s.GetIngest(ctx, src, "e1"); return err },
		"ListIngests":    func() error { _, err := s.ListIngests(ctx, tinyhead.IngestFilter{}); return err },
		"IngestProgress": func() error { return s.IngestProgress(ctx, src, "e1", 1, 1) },
		"FinishIngest": func() error {
			return s.FinishIngest(ctx, tinyhead.Ingest{Source: src, ETag: "e1", Status: tinyhead.IngestDone})
		},
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context: error %v, want context.Canceled", name, err)
		}
	}
	// Nothing was written.
	checkDoc(t, get(t, s, src, "1"), d)
	if st := stats(t, s); st.Documents != 1 {
		t.Errorf("%d documents, want 1", st.Documents)
	}
}
