package onnxrt_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/onnxembed/embedtest"
	"github.com/tinyhead/tinyhead/internal/onnxrt"
)

// TestClassifierSketchParity: a head with a sketch layer, exported and run
// by ONNX Runtime with both inputs, gives Predict's probabilities (the Go
// forward pass that training, batch scoring and the Go runtime share), and
// so does the graph read back in Go (mlp.FromONNX). The rows cover empty
// sketches, indices past the bucket count (folded) and past 2^31 (int64
// in the graph), and rows of different lengths (padding). The last head
// is trained with the default recipe, IDF weighting of the sketch's
// buckets included (folded into its weights at export).
func TestClassifierSketchParity(t *testing.T) {
	embedtest.InitRuntime(t)
	const dim, hidden, classes, buckets, rows = 16, 8, 3, 64, 50
	rng := rand.New(rand.NewPCG(1, 2))
	w := func(n int) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(rng.NormFloat64())
		}
		return out
	}
	x := w(rows * dim)
	var sk mlp.Sparse
	for i := range rows {
		var idx []uint32
		for range i % 7 * 3 { // 0 to 18 entries, of a vocabulary of 40 hashes over the uint32 range
			idx = append(idx, uint32(rng.IntN(40))*2654435761)
		}
		slices.Sort(idx)
		idx = slices.Compact(idx)
		sk.Append(idx, w(len(idx)))
	}
	random := func(features mlp.Features) func(*testing.T) *mlp.Model {
		return func(*testing.T) *mlp.Model {
			m := &mlp.Model{Dim: dim, Hidden: hidden, Classes: classes, Activation: mlp.ReLU,
				W1: w(hidden * dim), B1: w(hidden), W2: w(classes * hidden), B2: w(classes),
				Buckets: buckets, WS: w(buckets * classes), Features: features}
			if features == mlp.FeatureSketch {
				m.Hidden, m.W1, m.B1, m.W2 = 1, make([]float32, dim), make([]float32, 1), make([]float32, classes)
			}
			return m
		}
	}
	trained := func(t *testing.T) *mlp.Model {
		y := make([]int32, rows)
		for i := range y {
			y[i] = int32(rng.IntN(classes))
		}
		// Training reorders its rows' entries: it gets a copy.
		cp := mlp.Sparse{Start: slices.Clone(sk.Start), Index: slices.Clone(sk.Index), Value: slices.Clone(sk.Value)}
		cfg := mlp.Config{Features: mlp.FeatureBoth, SketchBuckets: buckets, Steps: 50}
		if cfg.WithDefaults(classes).SketchWeighting != mlp.SketchWeightingIDF {
			t.Fatal("the default recipe no longer weights the sketch by IDF: name it here")
		}
		m, _, err := mlp.Train(t.Context(), cfg, dim, classes, mlp.NewMemoryBatches(x, y, dim, 16, 1).WithSketch(cp))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(m.WS, func(v float32) bool { return v != 0 }) {
			t.Fatal("the sketch layer learned nothing")
		}
		return m
	}
	for _, tt := range []struct {
		name  string
		model func(*testing.T) *mlp.Model
	}{
		{"both", random(mlp.FeatureBoth)},
		{"sketch", random(mlp.FeatureSketch)},
		{"trained with idf", trained},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.model(t)
			want := make([]float32, rows*classes)
			m.Predict(x, sk, rows, want)

			b := m.ONNX().Marshal()
			c, err := onnxrt.NewClassifier(b, dim, classes)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got, err := c.Predict(x, sk, rows)
			if err != nil {
				t.Fatal(err)
			}
			back, err := mlp.FromONNX(b)
			if err != nil {
				t.Fatal(err)
			}
			goBack := make([]float32, rows*classes)
			back.Predict(x, sk, rows, goBack)
			var worst float64
			for i := range want {
				worst = max(worst, math.Abs(float64(got[i]-want[i])))
				if goBack[i] != want[i] {
					t.Fatalf("the graph read back in Go predicts %g, Predict %g", goBack[i], want[i])
				}
			}
			t.Logf("largest difference %g", worst)
			if worst > 1e-5 {
				t.Errorf("ONNX Runtime and Predict differ by up to %g", worst)
			}
			if _, err := c.Predict(x, mlp.Sparse{}, rows); err == nil {
				t.Error("Predict without the sketches of a sketch head: no error")
			}
		})
	}
}
