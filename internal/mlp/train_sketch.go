package mlp

import "fmt"

// sketchLayer is the trainer's linear layer over the texts' sketches: WS
// (buckets×classes, starting at 0), trained by plain SGD on the rows a
// batch touches. A batch touches a small share of the rows, so only
// those move. SGD, not the MLP's Adam: Adam's per-weight normalisation
// gives a word seen in three training texts steps as large as a word
// seen in three thousand, and the layer memorises rare words (on a
// synthetic keyword task, TestTrainSketchFeatures, Adam reached 75% at
// every learning rate tried and SGD 100%); fastText trains its linear
// layer with SGD for the same reason.
type sketchLayer[T float32 | float64] struct {
	buckets, classes int
	mask             uint32 // buckets − 1: buckets is a power of two
	data             Sparse // the training rows' sketches
	ws               []T

	grad    []T     // the batch's gradient, on the touched rows only
	touched []int32 // the rows the batch touched, in order of first touch
	seen    []bool
}

// useSketch sets up the sketch layer if cfg's features use one; its rows'
// sketches come with the memory batches.
func (tr *trainer[T]) useSketch(cfg Config, mem *MemoryBatches) error {
	if !cfg.Features.uses(FeatureSketch) {
		return nil
	}
	if err := cfg.ValidateSize(tr.classes); err != nil {
		return fmt.Errorf("mlp: %w", err)
	}
	if mem == nil || mem.sketch.Rows() != len(mem.y) {
		return fmt.Errorf("mlp: features %q need the rows' sketches in memory (MemoryBatches.WithSketch)", cfg.Features)
	}
	b, c := cfg.SketchBuckets, tr.classes
	tr.sk = &sketchLayer[T]{
		buckets: b, classes: c, mask: uint32(b - 1), data: mem.sketch,
		ws: make([]T, b*c), grad: make([]T, b*c), seen: make([]bool, b),
	}
	return nil
}

// forward adds the sketch layer's logits of the given training rows to
// logit (one row of classes per row).
func (sk *sketchLayer[T]) forward(logit []T, rows []int32) {
	c := sk.classes
	for i, r := range rows {
		p := logit[i*c : (i+1)*c]
		lo, hi := sk.data.Start[r], sk.data.Start[r+1]
		for e, idx := range sk.data.Index[lo:hi] {
			w := sk.ws[int(idx&sk.mask)*c:][:c]
			v := T(sk.data.Value[lo+e])
			for k := range p {
				p[k] += T(v * w[k])
			}
		}
	}
}

// step takes the sketch layer's step at learning rate lr for the batch of
// n rows whose loss gradients (dlogit) the shards left in their logit
// buffers. The gradient is summed row by row in batch order, so the
// weights do not depend on the number of cores.
func (sk *sketchLayer[T]) step(tr *trainer[T], n int, lr float64) {
	if sk == nil {
		return
	}
	c := sk.classes
	for i, r := range tr.gather[:n] {
		s := &tr.shards[i/tr.shardRows]
		row := i % tr.shardRows
		dlogit := s.logit[row*c : (row+1)*c]
		lo, hi := sk.data.Start[r], sk.data.Start[r+1]
		for e, idx := range sk.data.Index[lo:hi] {
			b := int32(idx & sk.mask)
			if !sk.seen[b] {
				sk.seen[b] = true
				sk.touched = append(sk.touched, b)
			}
			g := sk.grad[int(b)*c:][:c]
			v := T(sk.data.Value[lo+e])
			for k, d := range dlogit {
				g[k] += T(v * d)
			}
		}
	}
	rate := T(lr)
	for _, b := range sk.touched {
		lo, hi := int(b)*c, int(b+1)*c
		w := sk.ws[lo:hi]
		for j, g := range sk.grad[lo:hi] {
			w[j] -= T(rate * g)
		}
		clear(sk.grad[lo:hi])
		sk.seen[b] = false
	}
	sk.touched = sk.touched[:0]
}
