package sketch

import (
	"context"
	"fmt"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// backfillBatch is how many texts the backfill sketches per round.
const backfillBatch = 512

// Backfill computes and stores the sketches of the task's labelled
// documents (of every document when task is "") that have none of the
// current Version, from their stored texts, a batch at a time, and
// returns how many texts it sketched. It is idempotent and safe to run
// beside itself or an ingest: each round stores what it computed, and the
// next asks again for what is missing. Training a task with sketch
// features runs it first, and batch scoring with such a head on every
// document.
func Backfill(ctx context.Context, store tinyhead.SketchStore, task string) (int, error) {
	done := 0
	var last map[string][]byte // the previous round's
	for {
		texts, err := store.MissingSketches(ctx, task, Version, backfillBatch)
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
			enc[h] = Encode(nil, Of(text))
		}
		if err := store.PutSketches(ctx, Version, enc); err != nil {
			return done, fmt.Errorf("backfill the sketches of task %s: %w", task, err)
		}
		done += len(texts)
		last = enc
	}
}
