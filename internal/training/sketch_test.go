package training_test

import (
	"testing"

	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/sketch"
	"github.com/tinyhead/tinyhead/internal/training"
)

// TestSketchBackfill: documents stored without sketches (as before
// sketches existed) get theirs from their stored texts when a task that
// reads them trains, once; a task trained on the embedding alone leaves
// them alone.
func TestSketchBackfill(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.addRows("topic", "a.csv", []string{"x", "y"}, 300, 1)
	e.addRows("other", "b.csv", []string{"x", "y"}, 100, 2)
	missing := func(task string) int {
		t.Helper()
		m, err := e.store.MissingSketches(ctx, task, sketch.Version, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return len(m)
	}
	if missing("topic") != 300 || missing("other") != 100 {
		t.Fatalf("test data: %d and %d documents without sketches, want all", missing("topic"), missing("other"))
	}

	out := e.train("other", training.Request{Config: mlp.Config{Features: mlp.FeatureEmbedding}})
	if missing("other") != 100 || e.manifest("other", out.Version).Sketch != "" {
		t.Errorf("an embedding-only training sketched %d texts, or its manifest names a sketch", 100-missing("other"))
	}

	out = e.train("topic", training.Request{})
	if out.Hyperparams.Features != mlp.DefaultFeatures || e.manifest("topic", out.Version).Sketch != sketch.Version {
		t.Errorf("default training: features %q, manifest sketch %q", out.Hyperparams.Features, e.manifest("topic", out.Version).Sketch)
	}
	if n := missing("topic"); n != 0 {
		t.Errorf("%d documents still without a sketch after training", n)
	}
	if missing("other") != 100 {
		t.Error("the backfill of one task sketched another task's documents")
	}
	if n, err := training.BackfillSketches(ctx, e.store, "topic"); n != 0 || err != nil {
		t.Errorf("a second backfill sketched %d texts, %v; want none", n, err)
	}
	n, err := training.BackfillSketches(ctx, e.store, "other")
	if n != 100 || err != nil || missing("other") != 0 {
		t.Errorf("backfill of other: %d texts, %v; %d left", n, err, missing("other"))
	}
}
