package training

import (
	"context"
	"fmt"

	"github.com/tinyhead/tinyhead/internal/dataset"
	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/sketch"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// backfillBatch is how many texts the backfill sketches per round.
const backfillBatch = 512

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

// BackfillSketches computes and stores the sketches of the task's
// labelled documents that have none of the current sketch.Version, from
// their stored texts, a batch at a time, and returns how many texts it
// sketched. It is idempotent and safe to run beside itself or an ingest:
// each round stores what it computed, and the next asks again for what is
// missing. Training a task with sketch features runs it first.
func BackfillSketches(ctx context.Context, store tinyhead.SketchStore, task string) (int, error) {
	done := 0
	var last map[string][]byte // the previous round's
	for {
		texts, err := store.MissingSketches(ctx, task, sketch.Version, backfillBatch)
		if err != nil {
			return done, err
		}
		if len(texts) == 0 {
			return done, nil
		}
		enc := make(map[string][]byte, len(texts))
		for h, text := range texts {
			if _, ok := last[h]; ok {
				// Never loop forever on a store that does not keep them.
				return done, fmt.Errorf("backfill the sketches of task %s: text %s is still missing its sketch after it was stored", task, h)
			}
			enc[h] = sketch.Encode(nil, sketch.Of(text))
		}
		if err := store.PutSketches(ctx, sketch.Version, enc); err != nil {
			return done, fmt.Errorf("backfill the sketches of task %s: %w", task, err)
		}
		done += len(texts)
		last = enc
	}
}

// sketchVersion is the sketch version a model reads, "" if none.
func sketchVersion(m *mlp.Model) string {
	if m.Buckets > 0 {
		return sketch.Version
	}
	return ""
}
