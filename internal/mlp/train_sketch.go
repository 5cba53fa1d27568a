package mlp

import (
	"fmt"
	"slices"
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
	// Row r's entries, reordered: those of even buckets are data's
	// [Start[r], mid[r]), those of odd buckets [mid[r], end[r]), and the
	// words seen in one training text only come last (not trained on).
	mid, end []int
	ws       []T
	rate     T // the current step's learning rate

	// The batches are drawn a step ahead: the update phase of a step
	// computes, part by part, the sketch logits of the next step's batch
	// (ahead; nil after the last step), so that each part's weights are
	// read and written by one worker only, with no wait between its
	// update and its reads. batch holds the rows of two steps' batches
	// (MemoryBatches reshuffles its order in place); logits[p] the
	// logits of part p's entries, batch row by batch row; copies[p] those
	// entries, for the update.
	batch  [2][]int32
	ahead  []int32
	logits [sketchParts][]T
	copies [sketchParts]batchPart
}

// batchPart is one part's entries of a batch's rows, copied in batch
// order by forward for the update of the step after: the update reads
// them in one sequential pass, from the core that copied them, rather
// than again from rows scattered over the training set (memory, not
// arithmetic, is most of the layer's time).
type batchPart struct {
	start []int     // batch row i's entries are [start[i], start[i+1])
	off   []uint32  // an entry's weights' offset in WS: bucket × classes
	value []float32 // its value
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
		ws: make([]T, b*c), mid: make([]int, mem.sketch.Rows()), end: make([]int, mem.sketch.Rows()),
		batch: [2][]int32{make([]int32, 0, mem.size), make([]int32, 0, mem.size)},
	}
	sk.splitRows(seenOnce(mem.sketch))
	for p := range sk.logits {
		sk.logits[p] = make([]T, mem.size*c)
		sk.copies[p] = sk.newBatchPart(p, mem.size)
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
// writes their weights (sketchParts, by bucket parity), keeping their
// order within a part, so that each part's loop reads only its entries;
// the entries that once reports come last, and are left out of training.
func (sk *sketchLayer[T]) splitRows(once func(uint32) bool) {
	var oddIdx, skipIdx []uint32
	var oddVal, skipVal []float32
	d := sk.data
	for r := range sk.mid {
		lo, hi := d.Start[r], d.Start[r+1]
		oddIdx, oddVal, skipIdx, skipVal = oddIdx[:0], oddVal[:0], skipIdx[:0], skipVal[:0]
		k := lo
		for e := lo; e < hi; e++ {
			i, v := d.Index[e], d.Value[e]
			switch {
			case once(i):
				skipIdx, skipVal = append(skipIdx, i), append(skipVal, v)
			case i&sk.mask&1 == 0:
				d.Index[k], d.Value[k] = i, v
				k++
			default:
				oddIdx, oddVal = append(oddIdx, i), append(oddVal, v)
			}
		}
		sk.mid[r] = k
		k += copy(d.Index[k:], oddIdx)
		copy(d.Value[sk.mid[r]:], oddVal)
		sk.end[r] = k
		copy(d.Index[k:hi], skipIdx)
		copy(d.Value[k:hi], skipVal)
	}
}

// newBatchPart allocates a batchPart for part p of batches of size rows:
// room for the entries of the size rows that have the most, so that
// training allocates nothing after it starts.
func (sk *sketchLayer[T]) newBatchPart(p, size int) batchPart {
	lens := make([]int, len(sk.mid))
	for r := range lens {
		if p == 0 {
			lens[r] = sk.mid[r] - sk.data.Start[r]
		} else {
			lens[r] = sk.end[r] - sk.mid[r]
		}
	}
	slices.Sort(lens)
	var most int
	for _, n := range lens[len(lens)-size:] {
		most += n
	}
	return batchPart{start: make([]int, size+1), off: make([]uint32, 0, most), value: make([]float32, 0, most)}
}

// draw returns the batch of step t of steps from mem. With a sketch
// layer, it also draws step t+1's, whose sketch logits the update phase
// of step t computes, and at step 0 computes step 0's.
func (tr *trainer[T]) draw(mem *MemoryBatches, t, steps int) []int32 {
	sk := tr.sk
	if sk == nil {
		return mem.next()
	}
	if t == 0 {
		sk.ahead = append(sk.batch[1][:0], mem.next()...)
		for p := range sketchParts {
			sk.forward(p, sk.ahead)
		}
	}
	cur := sk.ahead
	sk.ahead = nil
	if t+1 < steps {
		sk.ahead = append(sk.batch[t%2][:0], mem.next()...)
	}
	return cur
}

// forward sets logits[part] to the logits of the given rows' entries of
// that part (row by row, the sum of value × weight over the entries, in
// their order) and copies those entries to copies[part].
func (sk *sketchLayer[T]) forward(part int, rows []int32) {
	c, mask, ws := sk.classes, sk.mask, sk.ws // locals: the loops below read no field
	start, mid, end := sk.data.Start, sk.mid, sk.end
	out, cp := sk.logits[part], &sk.copies[part]
	offs, vals := cp.off[:0], cp.value[:0]
	for i, r := range rows {
		lo, hi := start[r], mid[r]
		if part == 1 {
			lo, hi = hi, end[r]
		}
		index, value := sk.data.Index[lo:hi], sk.data.Value[lo:hi:hi]
		k := len(offs)
		cp.start[i] = k
		offs, vals = slices.Grow(offs, len(index))[:k+len(index)], slices.Grow(vals, len(index))[:k+len(index)]
		off, val := offs[k:], vals[k:] // filled below, as the entries are read
		val = val[:len(index)]
		p := out[i*c : (i+1)*c]
		if c == 2 {
			var p0, p1 T
			for e, idx := range index {
				o := (idx & mask) * 2
				off[e], val[e] = o, value[e]
				w := ws[o : o+2 : o+2]
				v := T(value[e])
				p0 += T(v * w[0])
				p1 += T(v * w[1])
			}
			p[0], p[1] = p0, p1
			continue
		}
		clear(p)
		for e, idx := range index {
			o := (idx & mask) * uint32(c)
			off[e], val[e] = o, value[e]
			w := ws[o:][:c]
			v := T(value[e])
			for k := range p {
				p[k] += T(v * w[k])
			}
		}
	}
	cp.start[len(rows)] = len(offs)
	cp.off, cp.value = offs, vals
}

// addLogits adds the sketch layer's logits of the batch rows r0…r0+n−1
// to logit (n rows of classes): each part's, in part order.
func (sk *sketchLayer[T]) addLogits(logit []T, r0, n int) {
	c := sk.classes
	for _, part := range sk.logits {
		for i, v := range part[r0*c : (r0+n)*c] {
			logit[i] += v
		}
	}
}

// sketchParts is how many parts the sketch layer's update is cut into,
// by bucket parity, for the workers to share.
const sketchParts = 2

// sketchParts is the number of the update phase's items that are the
// sketch layer's (0 without one).
func (tr *trainer[T]) sketchParts() int {
	if tr.sk == nil {
		return 0
	}
	return sketchParts
}

// step does part of the sketch layer's update: the weights of the even
// buckets (part 0) or the odd ones (part 1), from the batch's entries
// that forward copied. SGD's update is a sum of one term per row and
// entry, so each is subtracted from its weight as it is computed (no
// gradient buffer), row by row in batch order, each weight by one part:
// the weights do not depend on the number of cores.
func (sk *sketchLayer[T]) step(tr *trainer[T], part int) {
	c, ws, rate := sk.classes, sk.ws, sk.rate // locals: the stores below cannot change them
	cp := &sk.copies[part]
	var d [2]T
	for i := range tr.n {
		s := &tr.shards[i/tr.shardRows]
		row := i % tr.shardRows
		dlogit := s.logit[row*c : (row+1)*c]
		lo, hi := cp.start[i], cp.start[i+1]
		off, value := cp.off[lo:hi], cp.value[lo:hi:hi]
		if c == 2 {
			// The binary tasks' loop, unrolled: most tasks are binary.
			d[0], d[1] = rate*dlogit[0], rate*dlogit[1]
			for e, o := range off {
				w := ws[o : o+2 : o+2]
				v := T(value[e])
				w[0] -= T(v * d[0])
				w[1] -= T(v * d[1])
			}
			continue
		}
		for e, o := range off {
			w := ws[o:][:c]
			v := T(value[e])
			for k, dk := range dlogit {
				w[k] -= T(v * T(rate*dk))
			}
		}
	}
}
