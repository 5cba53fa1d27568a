package dataset

import (
	"context"
	"fmt"

	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/sketch"
)

// SketchSource reads the documents' stored sketches; sqlstore.Store and
// inmem.Store implement it.
type SketchSource interface {
	SketchesByID(ctx context.Context, version string, ids []int64) (map[int64][]byte, error)
}

// sketches are the rows' sketches in the order of the rows (in memory
// mode): the ids noted while loading, then the sketches LoadSketches read.
type sketches struct {
	memTrainIDs, memValIDs []int64
	trainSk, valSk         mlp.Sparse
	loaded                 bool
	sqlSketches            SketchSource // SQL mode: where validation chunks read theirs
}

// noteID records the id of a row loaded in memory, on its side.
func (s *sketches) noteID(id int64, inVal bool) {
	if inVal {
		s.memValIDs = append(s.memValIDs, id)
	} else {
		s.memTrainIDs = append(s.memTrainIDs, id)
	}
}

// HasSketches reports whether LoadSketches has read the rows' sketches.
func (ds *Dataset) HasSketches() bool { return ds.loaded }

// LoadSketches reads the sketches (of the current sketch.Version) of the
// rows loaded in memory: training batches then carry them, and validation
// chunks hand them to the models they score. Every row must have one (a
// backfill fills those stored before sketches existed). A dataset loaded
// from SQL reads them with each validation chunk instead, and its training
// batches carry none.
func (ds *Dataset) LoadSketches(ctx context.Context, src SketchSource) error {
	if ds.loaded {
		return nil
	}
	if ds.fromSQL {
		ds.sqlSketches, ds.loaded = src, true
		return nil
	}
	var err error
	if ds.trainSk, err = readSketches(ctx, src, ds.memTrainIDs); err != nil {
		return err
	}
	if ds.valSk, err = readSketches(ctx, src, ds.memValIDs); err != nil {
		return err
	}
	ds.loaded = true
	return nil
}

// sketchChunk is how many documents' sketches are read per query.
const sketchChunk = 1024

func readSketches(ctx context.Context, src SketchSource, ids []int64) (mlp.Sparse, error) {
	out := mlp.Sparse{Start: []int{0}} // no rows yet
	for first := 0; first < len(ids); first += sketchChunk {
		chunk := ids[first:min(first+sketchChunk, len(ids))]
		got, err := src.SketchesByID(ctx, sketch.Version, chunk)
		if err != nil {
			return out, err
		}
		for _, id := range chunk {
			b, ok := got[id]
			if !ok {
				return out, fmt.Errorf("document %d has no %s sketch (deleted since loading, or not backfilled)", id, sketch.Version)
			}
			v, err := sketch.Decode(b)
			if err != nil {
				return out, fmt.Errorf("document %d: %w", id, err)
			}
			out.Append(v.Index, v.Value)
		}
	}
	return out, nil
}
