package mlp

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSketchIDF: each bucket's weight is the smooth IDF of the rows with
// an entry in it (a row counts once per bucket, whichever indices fold
// into it), all divided by the root mean square of the weighted rows'
// norms.
func TestSketchIDF(t *testing.T) {
	idf := func(n, df int) float64 { return math.Log(float64(1+n)/float64(1+df)) + 1 }
	for _, tt := range []struct {
		name    string
		rows    [][]uint32 // each entry has value 1
		buckets int
		df      []int // per bucket
	}{
		{"one row per word", [][]uint32{{0}, {1}, {2}, {3}}, 4, []int{1, 1, 1, 1}},
		{"a word in every row", [][]uint32{{1, 2}, {1}, {1, 3}}, 4, []int{0, 3, 1, 1}},
		{"indices folded into one bucket count once", [][]uint32{{1, 5, 9}, {2}}, 4, []int{0, 1, 1, 0}},
		{"an empty row counts in n", [][]uint32{{0}, {}}, 2, []int{1, 0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var s Sparse
			for _, r := range tt.rows {
				val := make([]float32, len(r))
				for k := range val {
					val[k] = 1
				}
				s.Append(r, val)
			}
			n := len(tt.rows)
			var sq float64
			for _, r := range tt.rows {
				for _, i := range r {
					w := idf(n, tt.df[int(i)%tt.buckets])
					sq += w * w
				}
			}
			scale := 1 / math.Sqrt(sq/float64(n))
			got := sketchIDF(s, tt.buckets)
			if len(got) != tt.buckets {
				t.Fatalf("%d weights for %d buckets", len(got), tt.buckets)
			}
			for b, df := range tt.df {
				if want := idf(n, df) * scale; math.Abs(float64(got[b])-want) > 1e-6*want {
					t.Errorf("bucket %d (df %d): weight %g, want %g", b, df, got[b], want)
				}
			}
		})
	}
}

// TestSketchIDFFolded: a head trained with IDF weighting reads the stored
// sketches as before: Predict with the exported weights (the IDF folded
// in) gives what the trainer's layer computes from the weighted entries,
// to float32 rounding. Classify, batch scoring and the ONNX graph run
// Predict's arithmetic, so they see the model training evaluated.
func TestSketchIDFFolded(t *testing.T) {
	const dim, classes, buckets = 32, 4, 1 << 8
	// Every row twice: the trainer leaves out words seen in one training
	// row, which Predict reads.
	x1, sk1, y1 := lexicalData(200, 5)
	x, y := slices.Concat(x1, x1), slices.Concat(y1, y1)
	var sk, raw Sparse
	for range 2 {
		for r := range sk1.Rows() {
			lo, hi := sk1.Start[r], sk1.Start[r+1]
			sk.Append(sk1.Index[lo:hi], sk1.Value[lo:hi])
			raw.Append(sk1.Index[lo:hi], sk1.Value[lo:hi])
		}
	}
	cfg := Config{Features: FeatureSketch, Steps: 1, SketchBuckets: buckets, SketchWeighting: SketchWeightingIDF}.WithDefaults(classes)
	tr := newTrainer(cfg, dim, classes, 1, gemmAcc32)
	defer tr.stop()
	if err := tr.useSketch(cfg, NewMemoryBatches(x, y, dim, 256, 1).WithSketch(sk)); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range tr.sk.ws {
		tr.sk.ws[i] = float32(rng.NormFloat64())
	}
	m := &Model{Dim: dim, Hidden: 1, Classes: classes, Activation: ReLU, W1: make([]float32, dim), B1: make([]float32, 1),
		W2: make([]float32, classes), B2: make([]float32, classes), Features: FeatureSketch, Buckets: buckets, WS: tr.sk.weights()}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	n := raw.Rows()
	rows := make([]int32, n)
	for i := range rows {
		rows[i] = int32(i)
	}
	want := make([]float32, n*classes)
	tr.sk.forward(want, rows)
	got := make([]float32, n*classes)
	m.Predict(x, raw, n, got)
	for i := range n {
		softmax(want[i*classes : (i+1)*classes])
	}
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-5 {
			t.Fatalf("row %d class %d: Predict %g, the trainer %g", i/classes, i%classes, got[i], want[i])
		}
	}
	// The weighting was applied: without it the layer computes something else.
	plain := tr.sk.weights()
	foldIDF(plain, classes, invert(tr.sk.idf))
	m.WS = plain
	m.Predict(x, raw, n, got)
	var moved float64
	for i := range got {
		moved = max(moved, math.Abs(float64(got[i]-want[i])))
	}
	if moved < 1e-3 {
		t.Errorf("IDF weighting changed no probability by more than %g", moved)
	}
}

func invert(w []float32) []float32 {
	out := make([]float32, len(w))
	for i, v := range w {
		out[i] = 1 / v
	}
	return out
}

// TestTrainSketchIDF: training with IDF weighting still learns the
// keyword task, and on every core count the same weights.
func TestTrainSketchIDF(t *testing.T) {
	const dim, classes = 32, 4
	x, sk, y := lexicalData(3000, 1)
	valX, valSk, valY := lexicalData(1000, 2)
	var ref *Model
	for _, workers := range []int{1, 2} {
		cfg := Config{Features: FeatureBoth, Steps: 300, SketchBuckets: 1 << 12, SketchWeighting: SketchWeightingIDF, Seed: 1}
		m, _, err := train(context.Background(), cfg, dim, classes, NewMemoryBatches(x, y, dim, 256, 1).WithSketch(sk), workers, gemmAcc32)
		if err != nil {
			t.Fatal(err)
		}
		if acc := Evaluate(m, valX, valSk, valY).Accuracy; acc < 0.95 {
			t.Errorf("%d workers: validation accuracy %.3f, want ≥ 0.95", workers, acc)
		}
		if ref != nil && (!sameWeights(m, ref) || !slices.Equal(m.WS, ref.WS)) {
			t.Errorf("%d workers: weights differ from 1 worker's", workers)
		}
		ref = m
	}
}
