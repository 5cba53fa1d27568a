package mlp

import "math"

// Sketch weightings: how the trainer scales the sketch's entries.
const (
	// SketchWeightingIDF multiplies each entry by its bucket's inverse
	// document frequency over the training rows (see sketchIDF).
	SketchWeightingIDF = "idf"
	// SketchWeightingNone trains on the stored values (sublinear TF, L2).
	SketchWeightingNone = "none"
)

// sketchIDF is the inverse document frequency of each of buckets buckets
// over the rows of s (an entry with index i is in bucket i mod buckets):
// scikit-learn's smooth IDF, ln((1+n)/(1+df)) + 1, n rows, df of them with
// an entry in the bucket. The weights are then divided by one constant,
// the root mean square of the rows' weighted L2 norms (every stored row
// has norm 1 or 0), so that the rows the SGD layer sees keep about the
// scale its learning rate was chosen for.
//
// The weighting is linear, so a model needs no new input or graph node:
// a bucket's weight is folded into its row of WS (foldIDF), and Predict,
// Classify and the ONNX graph read the stored sketch as before.
func sketchIDF(s Sparse, buckets int) []float32 {
	n := s.Rows()
	mask := uint32(buckets - 1)
	df := make([]int32, buckets)
	last := make([]int32, buckets) // the last row (+1) that counted a bucket
	for r := range n {
		for _, i := range s.Index[s.Start[r]:s.Start[r+1]] {
			if b := i & mask; last[b] != int32(r+1) {
				last[b] = int32(r + 1)
				df[b]++
			}
		}
	}
	idf := make([]float64, buckets)
	for b, d := range df {
		idf[b] = math.Log(float64(1+n)/float64(1+d)) + 1
	}
	var sq float64
	for e, i := range s.Index {
		w := float64(s.Value[e]) * idf[i&mask]
		sq += w * w
	}
	scale := 1.0
	if sq > 0 {
		scale = 1 / math.Sqrt(sq/float64(n))
	}
	out := make([]float32, buckets)
	for b, v := range idf {
		out[b] = float32(v * scale)
	}
	return out
}

// weighted returns s's values, each multiplied by its bucket's weight.
func weighted(s Sparse, mask uint32, w []float32) []float32 {
	out := make([]float32, len(s.Value))
	for e, i := range s.Index {
		out[e] = s.Value[e] * w[i&mask]
	}
	return out
}

// foldIDF multiplies row b of ws (buckets×classes) by w[b]: a sketch
// entry of value v then adds v·w[b]·ws[b], what the trainer's weighted
// entry added.
func foldIDF(ws []float32, classes int, w []float32) {
	for b, f := range w {
		row := ws[b*classes : (b+1)*classes]
		for k := range row {
			row[k] *= f
		}
	}
}
