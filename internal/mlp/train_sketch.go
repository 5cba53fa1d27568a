package mlp

import (
	"fmt"
	"unsafe"
)

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
	// Row r's entries, reordered: those of the lower half of the buckets
	// are data's [Start[r], mid[r]), those of the upper half [mid[r],
	// end[r]), and the words seen in one training text only come last
	// (not trained on).
	mid, end []int
	// value holds the entries' values as the layer reads them: data's,
	// or a weighted copy (idf, one weight per bucket; nil: none).
	value []float32
	idf   []float32
	// ws holds the weights, bucket-major: classes a bucket, or for a
	// binary task one, u, standing for (u, −u). SGD keeps a binary
	// layer's two columns opposite (the two classes' logit gradients are
	// opposite), so one is stored: half the reads and writes of the
	// layer's scattered rows, which are most of its time.
	ws   []T
	rate T // the current step's learning rate
}

// width is how many weights ws holds a bucket.
func (sk *sketchLayer[T]) width() int {
	if sk.classes == 2 {
		return 1
	}
	return sk.classes
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
	sk := &sketchLayer[T]{
		buckets: b, classes: c, mask: uint32(b - 1), data: mem.sketch,
		mid: make([]int, mem.sketch.Rows()), end: make([]int, mem.sketch.Rows()),
	}
	sk.ws = make([]T, b*sk.width())
	sk.splitRows(seenOnce(mem.sketch))
	sk.value = sk.data.Value
	if cfg.SketchWeighting == SketchWeightingIDF {
		sk.idf = sketchIDF(sk.data, b)
		sk.value = weighted(sk.data, sk.mask, sk.idf)
	}
	tr.sk = sk
	return nil
}

// dfBits sizes seenOnce's table: 2^22 slots, far more than a training
// set has distinct words and bigrams, so that few share one.
const dfBits = 22

// seenOnce reports, for the entries of s, whether their hash occurs in
// only one row (by the hash's low dfBits bits: a hash that shares its
// slot with another may be counted twice and kept). Such a word cannot
// generalise, and a text's unique words (ids, dates) would let the layer
// learn the training rows by heart and starve the MLP (TF-IDF baselines
// drop them too: min_df 2). The table holds two bits a slot, seen and
// seen again, interleaved by 64-slot word (1 MiB: it stays in a core's
// cache, where a byte a slot did not).
func seenOnce(s Sparse) func(idx uint32) bool {
	const mask = 1<<dfBits - 1
	seen := make([]uint64, 2<<dfBits/64) // words 2k and 2k+1: seen, seen again
	for _, i := range s.Index {
		i &= mask
		w, bit := 2*(i/64), uint64(1)<<(i%64)
		seen[w+1] |= seen[w] & bit
		seen[w] |= bit
	}
	return func(idx uint32) bool {
		i := idx & mask
		return seen[2*(i/64)+1]&(1<<(i%64)) == 0
	}
}

// splitRows orders each row's entries by the part of the update that
// writes their weights (sketchParts, by half of the buckets), keeping their
// order within a part, so that each part's loop reads only its entries;
// the entries that once reports come last, and are left out of training.
func (sk *sketchLayer[T]) splitRows(once func(uint32) bool) {
	var upIdx, skipIdx []uint32
	var upVal, skipVal []float32
	d, half := sk.data, uint32(sk.buckets/2)
	for r := range sk.mid {
		lo, hi := d.Start[r], d.Start[r+1]
		upIdx, upVal, skipIdx, skipVal = upIdx[:0], upVal[:0], skipIdx[:0], skipVal[:0]
		k := lo
		for e := lo; e < hi; e++ {
			i, v := d.Index[e], d.Value[e]
			switch {
			case once(i):
				skipIdx, skipVal = append(skipIdx, i), append(skipVal, v)
			case i&sk.mask < half:
				d.Index[k], d.Value[k] = i, v
				k++
			default:
				upIdx, upVal = append(upIdx, i), append(upVal, v)
			}
		}
		sk.mid[r] = k
		k += copy(d.Index[k:], upIdx)
		copy(d.Value[sk.mid[r]:], upVal)
		sk.end[r] = k
		copy(d.Index[k:hi], skipIdx)
		copy(d.Value[k:hi], skipVal)
	}
}

// forward adds the sketch layer's logits of the given training rows to
// logit (one row of classes per row).
func (sk *sketchLayer[T]) forward(logit []T, rows []int32) {
	c, mask, ws := sk.classes, sk.mask, sk.ws // locals: the loops below read no field
	for i, r := range rows {
		if j := i + prefetchRows; j < len(rows) {
			sk.prefetch(sk.data.Start[rows[j]], sk.end[rows[j]])
		}
		p := logit[i*c : (i+1)*c]
		lo, hi := sk.data.Start[r], sk.end[r]
		index, value := sk.data.Index[lo:hi], sk.value[lo:hi:hi]
		if c == 2 {
			var z T // the row's u·x: +z to class 0's logit, −z to class 1's
			for e, idx := range index {
				z += T(T(value[e]) * ws[idx&mask])
			}
			p[0] += z
			p[1] -= z
			continue
		}
		for e, idx := range index {
			w := ws[int(idx&mask)*c:][:c]
			v := T(value[e])
			for k := range p {
				p[k] += T(v * w[k])
			}
		}
	}
}

// How far ahead the trainer's loops over a batch's rows ask for a row,
// and how many of its cache lines: the rows are scattered over the
// training set, and the first lines of each would be a wait on memory
// (the hardware prefetcher follows a row once it is being read). The
// first rows of a loop go without.
const (
	prefetchRows  = 4
	prefetchLines = 8
)

// prefetch asks for the first lines of the sketch entries [lo, hi).
func (sk *sketchLayer[T]) prefetch(lo, hi int) {
	n := min((hi-lo+15)/16, prefetchLines) // 16 entries a line
	prefetch(unsafe.Pointer(unsafe.SliceData(sk.data.Index[lo:])), n)
	prefetch(unsafe.Pointer(unsafe.SliceData(sk.value[lo:])), n)
}

// sketchParts is how many parts the sketch layer's update is cut into,
// by halves of the buckets, for the workers to share: each half of WS
// is a contiguous block, read and written by one core (split by bucket
// parity, both cores wrote the same cache lines).
const sketchParts = 2

// sketchParts is the number of the update phase's items that are the
// sketch layer's (0 without one).
func (tr *trainer[T]) sketchParts() int {
	if tr.sk == nil {
		return 0
	}
	return sketchParts
}

// step does part of the sketch layer's update: the weights of the lower
// half of the buckets (part 0) or the upper half (part 1). SGD's update is
// a sum of one term per row and entry, so each is subtracted from its
// weight as it is computed (no gradient buffer), row by row in batch
// order, each weight by one part: the weights do not depend on the number
// of cores.
func (sk *sketchLayer[T]) step(tr *trainer[T], part int) {
	c, mask, ws, rate := sk.classes, sk.mask, sk.ws, sk.rate // locals: the stores below cannot change them
	bounds := [...][]int{sk.data.Start, sk.mid, sk.end}
	first, last := bounds[part], bounds[part+1]
	rows := tr.gather[:tr.n]
	for i, r := range rows {
		if j := i + prefetchRows; j < len(rows) {
			sk.prefetch(first[rows[j]], last[rows[j]])
		}
		s := &tr.shards[i/tr.shardRows]
		row := i % tr.shardRows
		dlogit := s.logit[row*c : (row+1)*c]
		lo, hi := first[r], last[r]
		index, value := sk.data.Index[lo:hi], sk.value[lo:hi:hi]
		if c == 2 {
			// Most tasks are binary: u stands for (u, −u), so its step is
			// the mean of the two columns' steps, (g0 − g1)/2, which is
			// g0 when the gradients are exactly opposite.
			d := rate * (dlogit[0] - dlogit[1]) / 2
			for e, idx := range index {
				ws[idx&mask] -= T(T(value[e]) * d)
			}
			continue
		}
		for e, idx := range index {
			w := ws[int(idx&mask)*c:][:c]
			v := T(value[e])
			for k, dk := range dlogit {
				w[k] -= T(v * T(rate*dk))
			}
		}
	}
}

// weights returns the layer's weights as a model's WS, the entries'
// weighting folded in.
func (sk *sketchLayer[T]) weights() []float32 {
	ws := toFloat32(sk.ws)
	if sk.classes == 2 {
		both := make([]float32, 2*len(ws))
		for b, u := range ws {
			both[2*b], both[2*b+1] = u, -u
		}
		ws = both
	}
	if sk.idf != nil {
		foldIDF(ws, sk.classes, sk.idf)
	}
	return ws
}
