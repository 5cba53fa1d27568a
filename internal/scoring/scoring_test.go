package scoring_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/inmem"
	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/registry"
	"github.com/tinyhead/tinyhead/internal/scoring"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

const embModel = "test-embeddings"

// randomHead is a head with random weights: dim inputs, labels' classes.
func randomHead(dim, hidden int, labels []string, seed uint64) *mlp.Model {
	rng := rand.New(rand.NewPCG(seed, 1))
	fill := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	c := len(labels)
	return &mlp.Model{Dim: dim, Hidden: hidden, Classes: c, Activation: mlp.ReLU,
		W1: fill(hidden * dim), B1: fill(hidden), W2: fill(c * hidden), B2: fill(c), Labels: labels}
}

// randomDocs returns n documents of source "s", items "0", "1", …, each
// with a random dim-d embedding of embModel, and the embeddings by item.
func randomDocs(rng *rand.Rand, n, dim int) ([]tinyhead.Document, map[string][]float32) {
	vecs := map[string][]float32{}
	docs := make([]tinyhead.Document, n)
	for i := range docs {
		v := make([]float32, dim)
		for k := range v {
			v[k] = float32(rng.NormFloat64())
		}
		item := strconv.Itoa(i)
		vecs[item] = v
		docs[i] = tinyhead.Document{Source: "s", Item: item, SourceVersion: "v", ContentHash: item, Text: "t" + item,
			Embeddings: map[string][]float32{embModel: v}}
	}
	return docs, vecs
}

// saveHead stores m as task/version in reg and makes it current.
func saveHead(tb testing.TB, reg *registry.Registry, task, version, model string, m *mlp.Model) {
	tb.Helper()
	saveHeadWith(tb, reg, task, version, model, m, nil)
}

// saveHeadWith is saveHead with a binary version's decision threshold.
func saveHeadWith(tb testing.TB, reg *registry.Registry, task, version, model string, m *mlp.Model, th *registry.Threshold) {
	tb.Helper()
	ctx := context.Background()
	man := &registry.Manifest{Task: task, Version: version, CreatedAt: time.Now().UTC(), Labels: m.Labels,
		EmbeddingModel: model, EmbeddingDim: m.Dim, Parameters: m.ParamCount(), Threshold: th}
	if err := reg.Save(ctx, man, m.ONNX().Marshal(), nil); err != nil {
		tb.Fatal(err)
	}
	etag, err := reg.CurrentETag(ctx, task)
	if err != nil {
		tb.Fatal(err)
	}
	if err := reg.Promote(ctx, task, version, "test", etag); err != nil {
		tb.Fatal(err)
	}
}

func newRegistry() *registry.Registry {
	return &registry.Registry{Blobs: inmem.NewBlobs("models"), Container: "models", Runtime: registry.GoRuntime,
		Log: slog.New(slog.DiscardHandler)}
}

// TestScoreTimeBoxed: a call that reaches its time box stops after a page,
// says how many documents remain, and the next call carries on; the
// predictions are the head's on each embedding.
func TestScoreTimeBoxed(t *testing.T) {
	const n, dim = 2500, 8
	store := inmem.NewStore()
	docs, vecs := randomDocs(rand.New(rand.NewPCG(7, 7)), n, dim)
	if err := store.PutDocuments(t.Context(), docs); err != nil {
		t.Fatal(err)
	}
	reg := newRegistry()
	head := randomHead(dim, 4, []string{"x", "y", "z"}, 1)
	saveHead(t, reg, "task", "v1", embModel, head)
	svc := &scoring.Service{Store: store, Models: reg, Reserve: 2 * time.Hour, Log: slog.New(slog.DiscardHandler)}

	// The deadline is an hour away but the reserve two: the time box is
	// already over, so one page is scored.
	ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
	defer cancel()
	res, err := svc.Score(ctx, "task", scoring.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Done || res.Scored != 1024 || res.Remaining != n-1024 {
		t.Fatalf("time-boxed call: %+v", res)
	}
	res, err = svc.Score(t.Context(), "task", scoring.Request{})
	if err != nil || !res.Done || res.Scored != n-1024 || res.Remaining != 0 {
		t.Fatalf("second call: %+v, %v", res, err)
	}

	ids := make([]int64, 0, n)
	byID := map[int64][]float32{}
	for i := range n {
		d, err := store.GetDocument(t.Context(), "s", strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
		byID[d.ID] = vecs[d.Item]
	}
	preds, err := store.PredictionsOf(t.Context(), "task", ids)
	if err != nil || len(preds) != n {
		t.Fatalf("%d predictions, %v", len(preds), err)
	}
	want := make([]float32, 3)
	for id, p := range preds {
		head.Predict(byID[id], mlp.Sparse{}, 1, want)
		best := mlp.Argmax(want)
		var probs map[string]float32
		if err := json.Unmarshal([]byte(p.Probabilities), &probs); err != nil {
			t.Fatal(err)
		}
		if p.Label != head.Labels[best] || p.Probability != float64(want[best]) || p.Version != "v1" {
			t.Fatalf("document %d: %+v, want %s %v", id, p, head.Labels[best], want)
		}
		for k, l := range head.Labels {
			if probs[l] != want[k] {
				t.Fatalf("document %d: P(%s) = %v, want %v (float32 exactly)", id, l, probs[l], want[k])
			}
		}
	}
}

// TestScoreErrors: no model, and embeddings of another size than the
// model's.
func TestScoreErrors(t *testing.T) {
	store := inmem.NewStore()
	reg := newRegistry()
	svc := &scoring.Service{Store: store, Models: reg, Log: slog.New(slog.DiscardHandler)}
	if _, err := svc.Score(t.Context(), "task", scoring.Request{}); tinyhead.KindOf(err) != tinyhead.ErrNotFound {
		t.Errorf("no model: %v", err)
	}
	if _, err := svc.Score(t.Context(), "bad/name", scoring.Request{}); tinyhead.KindOf(err) != tinyhead.ErrInvalid {
		t.Errorf("bad task name: %v", err)
	}
	saveHead(t, reg, "task", "v1", embModel, randomHead(4, 2, []string{"a", "b"}, 1))
	err := store.PutDocuments(t.Context(), []tinyhead.Document{{Source: "s", Item: "1", SourceVersion: "v", ContentHash: "h",
		Text: "t", Embeddings: map[string][]float32{embModel: {1, 2, 3}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Score(t.Context(), "task", scoring.Request{}); err == nil {
		t.Errorf("3-d embedding for a 4-d model: %v", err)
	}
	if _, err := svc.Suggest(t.Context(), "task", 0); tinyhead.KindOf(err) != tinyhead.ErrInvalid {
		t.Errorf("n = 0: %v", err)
	}
}
