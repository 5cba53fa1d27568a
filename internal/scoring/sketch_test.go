package scoring_test

import (
	"context"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/inmem"
	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/registry"
	"github.com/tinyhead/tinyhead/internal/scoring"
	"github.com/tinyhead/tinyhead/internal/sketch"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// TestScoreSketchHead: batch scoring of a head that reads sketches first
// sketches the stored texts that lack one (documents stored before
// sketches existed), then predicts what the head predicts from each
// document's embedding and sketch: the same forward pass as Classify's.
func TestScoreSketchHead(t *testing.T) {
	const n, dim = 40, 8
	store := inmem.NewStore()
	var docs []tinyhead.Document
	for i := range n {
		v := make([]float32, dim)
		v[i%dim] = 1
		text := "order " + strconv.Itoa(i) + " code " + []string{"alpha", "beta", "gamma"}[i%3]
		docs = append(docs, tinyhead.Document{Source: "s", Item: strconv.Itoa(i), SourceVersion: "v",
			ContentHash: tinyhead.ContentHash(text), Text: text, Embeddings: map[string][]float32{embModel: v}})
	}
	if err := store.PutDocuments(t.Context(), docs); err != nil { // no sketches, as before they existed
		t.Fatal(err)
	}
	head := randomHead(dim, 4, []string{"x", "y", "z"}, 3)
	head.Buckets, head.Features = 64, mlp.FeatureBoth
	head.WS = make([]float32, 0, 64*3)
	for i := range 64 * 3 {
		head.WS = append(head.WS, float32((i*7919)%13)-6)
	}
	reg := newRegistry()
	ctx := context.Background()
	man := &registry.Manifest{Task: "task", Version: "v1", CreatedAt: time.Now().UTC(), Labels: head.Labels,
		EmbeddingModel: embModel, EmbeddingDim: dim, Sketch: sketch.Version, Parameters: head.ParamCount()}
	if err := reg.Save(ctx, man, head.ONNX().Marshal(), nil); err != nil {
		t.Fatal(err)
	}
	if err := reg.Promote(ctx, "task", "v1", "test", ""); err != nil {
		t.Fatal(err)
	}
	svc := &scoring.Service{Store: store, Models: reg, Log: slog.New(slog.DiscardHandler)}
	// The first pass backfills the sketches and reads them by id; the
	// second (all again) gets them with the scan's pages.
	for pass, req := range []scoring.Request{{}, {All: true}} {
		res, err := svc.Score(ctx, "task", req)
		if err != nil || !res.Done || res.Scored != n {
			t.Fatalf("pass %d: score: %+v, %v", pass, res, err)
		}
		if missing, err := store.MissingSketches(ctx, "", sketch.Version, n); err != nil || len(missing) != 0 {
			t.Errorf("pass %d: %d documents still without a sketch, %v", pass, len(missing), err)
		}
		checkSketchPredictions(t, store, head, docs)
	}
}

// checkSketchPredictions checks that the task's predictions of docs are
// what head predicts from each document's embedding and sketch.
func checkSketchPredictions(t *testing.T, store *inmem.Store, head *mlp.Model, docs []tinyhead.Document) {
	t.Helper()
	ctx := context.Background()
	n := len(docs)
	ids := make([]int64, n)
	byID := map[int64]tinyhead.Document{}
	for i, d := range docs {
		got, err := store.GetDocument(ctx, d.Source, d.Item)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = got.ID
		byID[got.ID] = d
	}
	preds, err := store.PredictionsOf(ctx, "task", ids)
	if err != nil || len(preds) != n {
		t.Fatalf("%d predictions, %v", len(preds), err)
	}
	want := make([]float32, 3)
	differs := 0
	for id, p := range preds {
		d := byID[id]
		v := sketch.Of(d.Text)
		var sk mlp.Sparse
		sk.Append(v.Index, v.Value)
		head.Predict(d.Embeddings[embModel], sk, 1, want)
		if p.Label != head.Labels[mlp.Argmax(want)] {
			t.Errorf("document %d: %s, the head with its sketch says %s", id, p.Label, head.Labels[mlp.Argmax(want)])
		}
		head.Predict(d.Embeddings[embModel], mlp.Sparse{Start: []int{0, 0}}, 1, want)
		if p.Label != head.Labels[mlp.Argmax(want)] {
			differs++
		}
	}
	if differs == 0 {
		t.Error("test data: the sketches change no prediction, so the test cannot tell whether scoring reads them")
	}
}
