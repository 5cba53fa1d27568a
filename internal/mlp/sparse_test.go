package mlp

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// lexicalData is a task only words can solve: the embeddings are noise,
// and each row's sketch holds 20 random common words plus one keyword of
// its class (1 of 4).
func lexicalData(n int, seed uint64) (x []float32, sk Sparse, y []int32) {
	const dim, classes = 32, 4
	rng := rand.New(rand.NewPCG(seed, 7))
	x = make([]float32, n*dim)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y = make([]int32, n)
	for i := range n {
		y[i] = int32(rng.IntN(classes))
		idx := []uint32{1_000_000 + uint32(y[i])*7919} // the keyword
		for range 20 {
			idx = append(idx, uint32(rng.IntN(5000))*104729)
		}
		slices.Sort(idx)
		idx = slices.Compact(idx)
		val := make([]float32, len(idx))
		for k := range val {
			val[k] = 0.2
		}
		sk.Append(idx, val)
	}
	return x, sk, y
}

// TestTrainSketchFeatures: on a task only the words can solve, a head with
// the sketch (alone or with the embedding) learns it and the embedding's
// MLP alone cannot; a trainer that ignored the sketch would fail this.
func TestTrainSketchFeatures(t *testing.T) {
	const dim, classes = 32, 4
	x, sk, y := lexicalData(3000, 1)
	valX, valSk, valY := lexicalData(1000, 2)
	for _, tt := range []struct {
		features Features
		min, max float64
	}{
		{FeatureEmbedding, 0, 0.4},
		{FeatureSketch, 0.95, 1},
		{FeatureBoth, 0.95, 1},
	} {
		t.Run(string(tt.features), func(t *testing.T) {
			cfg := Config{Features: tt.features, Steps: 300, SketchBuckets: 1 << 12, Seed: 1}
			src := NewMemoryBatches(x, y, dim, 256, 1).WithSketch(sk)
			m, _, err := train(context.Background(), cfg, dim, classes, src, 2, gemmAcc32)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			if m.Features != tt.features {
				t.Errorf("model features %q, want %q", m.Features, tt.features)
			}
			acc := Evaluate(m, valX, valSk, valY).Accuracy
			if acc < tt.min || acc > tt.max {
				t.Errorf("validation accuracy %.3f, want [%.2f, %.2f]; %v", acc, tt.min, tt.max, Evaluate(m, valX, valSk, valY).Confusion)
			}
			if tt.features == FeatureSketch {
				for _, w := range slices.Concat(m.W1, m.B1, m.W2) {
					if w != 0 {
						t.Fatal("a sketch-only head has a non-zero MLP weight: the embedding would add to its logits")
					}
				}
			}
		})
	}
}

// TestTrainSketchDeterministic: the sketch layer's gradient is summed in
// batch order, so the weights are the same on any number of workers.
func TestTrainSketchDeterministic(t *testing.T) {
	const dim, classes = 32, 4
	x, sk, y := lexicalData(1500, 3)
	var ref *Model
	for _, workers := range []int{1, 2, 5} {
		cfg := Config{Features: FeatureBoth, Steps: 30, SketchBuckets: 1 << 10, Seed: 2}
		m, _, err := train(context.Background(), cfg, dim, classes, NewMemoryBatches(x, y, dim, 256, 2).WithSketch(sk), workers, gemmAcc32)
		if err != nil {
			t.Fatal(err)
		}
		if ref == nil {
			ref = m
			continue
		}
		if !sameWeights(m, ref) || !slices.Equal(m.WS, ref.WS) {
			t.Errorf("%d workers: weights differ from 1 worker's", workers)
		}
	}
}

func TestTrainSketchErrors(t *testing.T) {
	x, _, y := lexicalData(300, 1)
	for _, tt := range []struct {
		name string
		cfg  Config
		src  Batches
		want string
	}{
		{"no sketches", Config{Features: FeatureBoth, Steps: 2}, NewMemoryBatches(x, y, 32, 64, 1), "need the rows' sketches"},
		{"not in memory", Config{Features: FeatureSketch, Steps: 2}, opaque{NewMemoryBatches(x, y, 32, 64, 1)}, "need the rows' sketches"},
		{"buckets not a power of two", Config{Features: FeatureBoth, SketchBuckets: 1000, Steps: 2}, NewMemoryBatches(x, y, 32, 64, 1), "power of two"},
		{"unknown sketch weighting", Config{Features: FeatureBoth, SketchWeighting: "bm25", Steps: 2}, NewMemoryBatches(x, y, 32, 64, 1), "sketch_weighting"},
		{"too many weights", Config{Features: FeatureBoth, SketchBuckets: MaxSketchBuckets, Steps: 2}, NewMemoryBatches(x, y, 32, 64, 1), "sketch_buckets × classes"},
		{"unknown features", Config{Features: "words", Steps: 2}, NewMemoryBatches(x, y, 32, 64, 1), "features must be"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Train(context.Background(), tt.cfg, 32, 4, tt.src)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
}

// sketchModel is a head with random weights in both parts.
func sketchModel(dim, hidden, classes, buckets int, seed uint64) *Model {
	rng := rand.New(rand.NewPCG(seed, 1))
	w := func(n int) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(rng.NormFloat64())
		}
		return out
	}
	return &Model{Dim: dim, Hidden: hidden, Classes: classes, Activation: ReLU,
		W1: w(hidden * dim), B1: w(hidden), W2: w(classes * hidden), B2: w(classes),
		Buckets: buckets, WS: w(buckets * classes), Features: FeatureBoth, Labels: []string{"a", "b", "c"}}
}

// TestPredictSketch: a sketch entry adds value × its folded row of WS;
// padding (value 0) adds nothing.
func TestPredictSketch(t *testing.T) {
	m := sketchModel(4, 3, 3, 8, 1)
	x := []float32{0.5, -1, 2, 0}
	var with, without, padded Sparse
	with.Append([]uint32{3, 8 + 5}, []float32{0.6, 0.8})
	without.Append(nil, nil)
	padded.Append([]uint32{0, 3, 8 + 5}, []float32{0, 0.6, 0.8})
	p0, p1, p2 := make([]float32, 3), make([]float32, 3), make([]float32, 3)
	m.Predict(x, without, 1, p0)
	m.Predict(x, with, 1, p1)
	m.Predict(x, padded, 1, p2)
	if !slices.Equal(p1, p2) {
		t.Errorf("padding changed the probabilities: %v vs %v", p1, p2)
	}
	// Recompute from logits: log p1 − log p0 is the sketch's logits up to a constant.
	mlpOnly := *m
	mlpOnly.Buckets, mlpOnly.WS, mlpOnly.Features = 0, nil, FeatureEmbedding
	logits := make([]float32, 3)
	mlpOnly.Predict(x, Sparse{}, 1, logits)
	if !slices.Equal(logits, p0) {
		t.Errorf("an empty sketch changed the probabilities: %v vs %v", p0, logits)
	}
	want := make([]float32, 3)
	for k := range want {
		want[k] = 0.6*m.WS[3*3+k] + 0.8*m.WS[5*3+k]
	}
	ratio := func(p []float32, a, b int) float64 { return float64(p[a]) / float64(p[b]) }
	for _, k := range []int{1, 2} {
		got := ratio(p1, k, 0) / ratio(p0, k, 0)
		exp := float64(expf(want[k] - want[0]))
		if got/exp < 0.9999 || got/exp > 1.0001 {
			t.Errorf("class %d: probability ratio moved by %g, want %g", k, got, exp)
		}
	}
}

func TestFromONNXSketchRoundTrip(t *testing.T) {
	m := sketchModel(6, 4, 3, 16, 2)
	for _, features := range []Features{FeatureBoth, FeatureSketch} {
		m.Features = features
		got, err := FromONNX(m.ONNX().Marshal())
		if err != nil {
			t.Fatal(err)
		}
		if got.Buckets != m.Buckets || !slices.Equal(got.WS, m.WS) || !sameWeights(got, m) || got.Features != features {
			t.Errorf("%s: read back %d buckets, features %q; weights equal: %v", features, got.Buckets, got.Features, slices.Equal(got.WS, m.WS))
		}
	}
}

func expf(v float32) float64 { return math.Exp(float64(v)) }

// TestTrainSketchGolden pins the weights of short sketch trainings (both
// features, 2 and 4 classes, sketch alone, class weights, the exact
// sketch fit blended in or not) to the bit, on 1
// and 2 workers, so that a change to the sketch layer's arithmetic (its
// order of additions) is a deliberate one: on amd64, the AVX2 kernels and
// the portable loops (go test -tags noasm) must both give these.
func TestTrainSketchGolden(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the hashes are amd64's (math.Exp and math.Log are assembly there)")
	}
	x, sk, y := lexicalData(1500, 3)
	y2 := make([]int32, len(y))
	for i, v := range y {
		y2[i] = v % 2
	}
	for _, tt := range []struct {
		name    string
		classes int
		y       []int32
		cfg     Config
		want    string
	}{
		// Rates and weightings are explicit: the recipe's defaults may change.
		{"both/4", 4, y, Config{Features: FeatureBoth, Steps: 40, SketchBuckets: 1 << 10, SketchLearningRate: 50, SketchWeighting: SketchWeightingNone, Seed: 2}, "d115881478bf286c6fa06db210ba450c36a18da9ab89b1fe4821fb443a06db5b"},
		{"both/2", 2, y2, Config{Features: FeatureBoth, Steps: 40, SketchBuckets: 1 << 12, SketchLearningRate: 50, SketchWeighting: SketchWeightingNone, SketchExactShare: -1, Seed: 1}, "465fe447894cb1067c4fcbce50917f81f3b23d522f3707bde71b87bcd611fbed"},
		{"sketch/4", 4, y, Config{Features: FeatureSketch, Steps: 40, SketchBuckets: 1 << 10, SketchLearningRate: 50, SketchWeighting: SketchWeightingNone, Seed: 4}, "189c8eb87697cd3ee0658ba15c95882321da37968bc3bd088f3e66d73a8ab18e"},
		{"both/2/weighted/idf", 2, y2, Config{Features: FeatureBoth, Steps: 40, SketchBuckets: 1 << 12, SketchLearningRate: 600, SketchWeighting: SketchWeightingIDF, SketchExactShare: -1, Seed: 5, ClassWeights: []float64{0.7, 1.9}}, "3c51ff853f7fa002cbea8340467ea1a31f277125080d009b468005ff59ca69fa"},
		// The exact sketch fit blended in (binary tasks' default).
		{"both/2/exact", 2, y2, Config{Features: FeatureBoth, Steps: 40, SketchBuckets: 1 << 12, SketchLearningRate: 600, SketchWeighting: SketchWeightingIDF, SketchExactShare: 0.7, SketchExactC: 1000, Seed: 1}, "d4c9767486366a77589001bc80ca175c249f2ac0fda830ca6fa9bb13941859f6"},
		{"sketch/2/exact/weighted", 2, y2, Config{Features: FeatureSketch, Steps: 40, SketchBuckets: 1 << 10, SketchLearningRate: 50, SketchWeighting: SketchWeightingNone, SketchExactShare: 0.5, SketchExactC: 10, Seed: 3, ClassWeights: []float64{1.4, 0.6}}, "84a98df98d244ab5c0d18db4cfa9b6899b1020c08ec011fa69ccb008448e1eb7"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, workers := range []int{1, 2} {
				src := NewMemoryBatches(x, tt.y, 32, 256, tt.cfg.Seed).WithSketch(cloneSparse(sk))
				m, _, err := train(context.Background(), tt.cfg, 32, tt.classes, src, workers, gemmAcc32)
				if err != nil {
					t.Fatal(err)
				}
				h := sha256.New()
				for _, p := range [][]float32{m.W1, m.B1, m.W2, m.B2, m.WS} {
					for _, v := range p {
						binary.Write(h, binary.LittleEndian, math.Float32bits(v))
					}
				}
				if got := hex.EncodeToString(h.Sum(nil)); got != tt.want {
					t.Errorf("%d workers: weights hash to %s, want %s", workers, got, tt.want)
				}
			}
		})
	}
}

// cloneSparse copies s: training reorders the entries of its rows.
func cloneSparse(s Sparse) Sparse {
	return Sparse{Start: slices.Clone(s.Start), Index: slices.Clone(s.Index), Value: slices.Clone(s.Value)}
}
