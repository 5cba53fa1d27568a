package dataset

import (
	"context"

	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/sketch"
)

// SketchSource reads the documents' stored sketches.
type SketchSource = sketch.Reader

// sketches are the rows' sketches in the order of the rows: the training
// rows' ids (noted while loading in memory; the held-out rows' ids are
// kept in both modes), then the sketches LoadSketches read.
type sketches struct {
	memTrainIDs            []int64
	trainSk, valSk, testSk mlp.Sparse
	loaded                 bool
}

// HasSketches reports whether LoadSketches has read the rows' sketches.
func (ds *Dataset) HasSketches() bool { return ds.loaded }

// LoadSketches reads the sketches (of the current sketch.Version) of the
// rows: training batches then carry them (in memory mode: from SQL,
// training reads the embedding only), and held-out chunks hand them to
// the models they score. Every row must have one (a backfill fills those
// stored before sketches existed).
func (ds *Dataset) LoadSketches(ctx context.Context, src SketchSource) error {
	if ds.loaded {
		return nil
	}
	var err error
	if !ds.fromSQL {
		if ds.trainSk, err = readSketches(ctx, src, ds.memTrainIDs); err != nil {
			return err
		}
	}
	if ds.valSk, err = readSketches(ctx, src, ds.valIDs); err != nil {
		return err
	}
	if ds.testSk, err = readSketches(ctx, src, ds.testIDs); err != nil {
		return err
	}
	ds.loaded = true
	return nil
}

// heldOutSketches returns the sketches of n held-out rows from first
// (none before LoadSketches).
func (ds *Dataset) heldOutSketches(side Side, first, n int) mlp.Sparse {
	if side == Test {
		return ds.testSk.Slice(first, first+n)
	}
	return ds.valSk.Slice(first, first+n)
}

func readSketches(ctx context.Context, src SketchSource, ids []int64) (mlp.Sparse, error) {
	out := mlp.Sparse{Start: []int{0}} // no rows yet
	err := sketch.ReadByID(ctx, src, ids, &out)
	return out, err
}
