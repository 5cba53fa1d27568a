// Package storetest is a conformance suite for implementations of
// tinyhead.Store. Run it from an implementation's tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) tinyhead.Store { return openEmptyStore(t) })
//	}
//
// The tests do not run in parallel, so one database may serve them all as
// long as open empties it.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// Run runs every conformance test. open must return an empty store; Run
// closes it when the test ends.
func Run(t *testing.T, open func(t *testing.T) tinyhead.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s tinyhead.Store)
	}{
		{"PutCreatesThenUpdates", testPutCreatesThenUpdates},
		{"PutEmpty", testPutEmpty},
		{"PutSameKeyTwiceInBatch", testPutSameKeyTwiceInBatch},
		{"PutLabels", testPutLabels},
		{"SetLabel", testSetLabel},
		{"SetLabels", testSetLabels},
		{"SetLabelsAtomic", testSetLabelsAtomic},
		{"SetLabelsLastChange", testSetLabelsLastChange},
		{"SetLabelsClaim", testSetLabelsClaim},
		{"SetLabelsOverlap", testSetLabelsOverlap},
		{"VectorRoundTrip", testVectorRoundTrip},
		{"EmbeddingsByHash", testEmbeddingsByHash},
		{"EmbeddingsByHashManyHashes", testEmbeddingsByHashMany},
		{"PruneSource", testPruneSource},
		{"DeleteSource", testDeleteSource},
		{"DeleteSourceKeepsNewerVersions", testDeleteSourceKeepsNewerVersions},
		{"SourceVersionsMany", testSourceVersionsMany},
		{"Sources", testSources},
		{"IngestLifecycle", testIngestLifecycle},
		{"ListIngests", testListIngests},
		{"IngestProgress", testIngestProgress},
		{"ConcurrentBeginIngest", testConcurrentBeginIngest},
		{"ConcurrentPut", testConcurrentPut},
		{"ConcurrentPutOverlapping", testConcurrentPutOverlapping},
		{"ConcurrentSetLabel", testConcurrentSetLabel},
		{"ConcurrentBeginIngestVersions", testConcurrentBeginIngestVersions},
		{"NewVersionReplacesLabels", testNewVersionReplacesLabels},
		{"VersionOrder", testVersionOrder},
		{"SupersedeRunning", testSupersedeRunning},
		{"IngestLease", testIngestLease},
		{"ConcurrentVersions", testConcurrentVersions},
		{"NotFound", testNotFound},
		{"Stats", testStats},
		{"OddText", testOddText},
		{"KeysAreExact", testKeysAreExact},
		{"LongestBlobName", testLongestBlobName},
		{"LabelsTrimmed", testLabelsTrimmed},
		{"ContextCanceled", testContextCanceled},
		{"Tasks", testTasks},
		{"ScanLabeled", testScanLabeled},
		{"GroupAndTest", testGroupAndTest},
		{"EmbeddingsByID", testEmbeddingsByID},
		{"TwoModels", testTwoModels},
		{"OrphanedVectors", testOrphanedVectors},
		{"ClaimMissing", testClaimMissing},
		{"ClaimLease", testClaimLease},
		{"ConcurrentBackfill", testConcurrentBackfill},
		{"Models", testModels},
		{"Predictions", testPredictions},
		{"ScanUnscoredSketches", testScanUnscoredSketches},
		{"PutPredictionsInvalid", testPutPredictionsInvalid},
		{"Uncertain", testUncertain},
		{"Sketches", testSketches},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// model is the embedding model of test documents.
const model = "test-model"

// doc builds a test document whose embedding is derived from text, so that
// equal texts get equal vectors.
func doc(source, item, version, text string, labels map[string]string) tinyhead.Document {
	return tinyhead.Document{
		Source:        source,
		Item:          item,
		SourceVersion: version,
		ContentHash:   tinyhead.ContentHash(text),
		Text:          text,
		Embeddings:    map[string][]float32{model: vectorOf(text, 8)},
		Labels:        labels,
	}
}

// withVector gives d one vector only, of model m.
func withVector(d tinyhead.Document, m string, vec []float32) tinyhead.Document {
	d.Embeddings = map[string][]float32{m: vec}
	return d
}

// vectorOf is a deterministic pseudo-embedding of text.
func vectorOf(text string, dim int) []float32 {
	h := uint32(2166136261)
	for i := 0; i < len(text); i++ {
		h = (h ^ uint32(text[i])) * 16777619
	}
	v := make([]float32, dim)
	for i := range v {
		h = h*1664525 + 1013904223
		v[i] = float32(int32(h)) / (1 << 31)
	}
	return v
}

func put(t *testing.T, s tinyhead.Store, docs ...tinyhead.Document) {
	t.Helper()
	if err := s.PutDocuments(t.Context(), docs); err != nil {
		t.Fatalf("PutDocuments: %v", err)
	}
}

func get(t *testing.T, s tinyhead.Store, source, item string) tinyhead.Document {
	t.Helper()
	d, err := s.GetDocument(t.Context(), source, item)
	if err != nil {
		t.Fatalf("GetDocument(%q, %q): %v", source, item, err)
	}
	return d
}

func stats(t *testing.T, s tinyhead.Store) tinyhead.Stats {
	t.Helper()
	st, err := s.Stats(t.Context())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return st
}

// sameBits reports whether two vectors are equal bit for bit (so -0 ≠ 0
// and a NaN equals itself).
func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// checkDoc compares what was read with what was written, ignoring ID and
// CreatedAt.
func checkDoc(t *testing.T, got, want tinyhead.Document) {
	t.Helper()
	if got.Source != want.Source || got.Item != want.Item || got.SourceVersion != want.SourceVersion ||
		got.ContentHash != want.ContentHash || got.Text != want.Text {
		t.Errorf("document %q/%q:\n got %+v\nwant %+v", want.Source, want.Item, brief(got), brief(want))
	}
	if !maps.EqualFunc(got.Embeddings, want.Embeddings, sameBits) {
		t.Errorf("document %q/%q: embeddings\n got %v\nwant %v", want.Source, want.Item, got.Embeddings, want.Embeddings)
	}
	wantLabels := map[string]string{}
	for k, v := range want.Labels {
		if v != "" {
			wantLabels[k] = v
		}
	}
	if !maps.Equal(got.Labels, wantLabels) {
		t.Errorf("document %q/%q: labels %v, want %v", want.Source, want.Item, got.Labels, wantLabels)
	}
	if got.ID <= 0 {
		t.Errorf("document %q/%q: ID %d, want > 0", want.Source, want.Item, got.ID)
	}
}

// brief leaves the embedding out of error messages.
func brief(d tinyhead.Document) string {
	text := d.Text
	if len(text) > 80 {
		text = text[:80] + "…"
	}
	return fmt.Sprintf("{Source:%q Item:%q SourceVersion:%q ContentHash:%q Text:%q}",
		d.Source, d.Item, d.SourceVersion, d.ContentHash, text)
}

// checkRecent checks that tm is set and close to the wall clock: stores
// may round to their precision.
func checkRecent(t *testing.T, what string, tm, before, after time.Time) {
	t.Helper()
	if tm.Before(before.Add(-time.Second)) || tm.After(after.Add(time.Second)) {
		t.Errorf("%s = %v, want between %v and %v", what, tm, before, after)
	}
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, tinyhead.ErrNotFound) {
		t.Errorf("%s: error %v, want ErrNotFound", what, err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// canceled returns a context that is already canceled.
func canceled(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx
}
