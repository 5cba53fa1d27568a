package training

import (
	"context"
	"fmt"

	"github.com/tinyhead/tinyhead/internal/dataset"
	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/sketch"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// loadSketches gives ds its rows' sketches, computing first those of the
// task's documents stored without one (ingested before sketches existed,
// or under another featurizer version).
func (s *Service) loadSketches(ctx context.Context, task string, ds *dataset.Dataset) error {
	if ds.HasSketches() {
		return nil
	}
	n, err := BackfillSketches(ctx, s.Store, task)
	if err != nil {
		return err
	}
	if n > 0 {
		s.log().Info("sketched stored texts", "task", task, "texts", n, "version", sketch.Version)
	}
	if err := ds.LoadSketches(ctx, s.Store); err != nil {
		return fmt.Errorf("load the sketches of task %s: %w", task, err)
	}
	return nil
}

// BackfillSketches is sketch.Backfill: training a task whose features
// read sketches runs it on the task's documents first.
func BackfillSketches(ctx context.Context, store tinyhead.SketchStore, task string) (int, error) {
	return sketch.Backfill(ctx, store, task)
}

// sketchVersion is the sketch version a model reads, "" if none.
func sketchVersion(m *mlp.Model) string {
	if m.Buckets > 0 {
		return sketch.Version
	}
	return ""
}
