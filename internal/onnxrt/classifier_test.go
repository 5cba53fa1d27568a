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
// in the graph), and rows of different lengths (padding).
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
		for range i % 7 * 3 { // 0 to 18 entries
			idx = append(idx, rng.Uint32())
		}
		slices.Sort(idx)
		idx = slices.Compact(idx)
		sk.Append(idx, w(len(idx)))
	}
	for _, features := range []mlp.Features{mlp.FeatureBoth, mlp.FeatureSketch} {
		t.Run(string(features), func(t *testing.T) {
			m := &mlp.Model{Dim: dim, Hidden: hidden, Classes: classes, Activation: mlp.ReLU,
				W1: w(hidden * dim), B1: w(hidden), W2: w(classes * hidden), B2: w(classes),
				Buckets: buckets, WS: w(buckets * classes), Features: features}
			if features == mlp.FeatureSketch {
				m.Hidden, m.W1, m.B1, m.W2 = 1, make([]float32, dim), make([]float32, 1), make([]float32, classes)
			}
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
