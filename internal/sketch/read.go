package sketch

import (
	"context"
	"fmt"
)

// Reader reads the documents' stored sketches; sqlstore.Store and
// inmem.Store implement it (tinyhead.SketchStore includes it).
type Reader interface {
	SketchesByID(ctx context.Context, version string, ids []int64) (map[int64][]byte, error)
}

// readChunk is how many documents' sketches ReadByID asks for per query.
const readChunk = 1024

// ReadByID appends to dst the stored sketches (of the current Version) of
// the documents ids, in their order. Every document must have one (a
// Backfill fills those stored before sketches existed): a missing one is
// an error naming it.
func ReadByID(ctx context.Context, src Reader, ids []int64, dst *Batch) error {
	for first := 0; first < len(ids); first += readChunk {
		chunk := ids[first:min(first+readChunk, len(ids))]
		got, err := src.SketchesByID(ctx, Version, chunk)
		if err != nil {
			return err
		}
		for _, id := range chunk {
			enc, ok := got[id]
			if !ok {
				return fmt.Errorf("document %d has no %s sketch (stored since the backfill, or deleted since loading)", id, Version)
			}
			if err := dst.AppendEncoded(enc); err != nil {
				return fmt.Errorf("document %d: %w", id, err)
			}
		}
	}
	return nil
}
