package mlp

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// primalLR is the objective exactSketch minimises, at (w, b), over the
// layer's training rows.
func primalLR(sk *sketchLayer[float32], y []int32, upper []float64, w []float64, b float64) float64 {
	p := 0.5 * b * b
	for _, v := range w {
		p += 0.5 * v * v
	}
	for i, yi := range y {
		s := 1.0
		if yi == 1 {
			s = -1
		}
		m := s * (sk.dotRow(w, i) + b)
		p += upper[i] * math.Log1p(math.Exp(-m))
	}
	return p
}

// TestExactSketch: the fit is a minimum of the regularised logistic loss
// (no small step along any weight, or the bias, lowers it), weighs rows
// by class weight, and beats both the zero model and what SGD's steps
// reach. A solver that stopped early, lost the bias or ignored the
// weights would fail.
func TestExactSketch(t *testing.T) {
	x, sk, y := lexicalData(400, 9)
	_ = x
	for i, v := range y { // a quarter positives: the bias matters
		y[i] = min(v, 1)
	}
	for _, tt := range []struct {
		name    string
		c       float64
		weights []float64
	}{
		{"C 1", 1, nil},
		{"C 100 weighted", 100, []float64{2, 0.5}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			layer := &sketchLayer[float32]{buckets: 1 << 8, classes: 2, mask: 1<<8 - 1, data: cloneSparse(sk),
				mid: make([]int, len(y)), end: make([]int, len(y))}
			layer.ws = make([]float32, layer.buckets)
			layer.splitRows(func(uint32) bool { return false })
			layer.value = layer.data.Value
			w, b := layer.exactSketch(t.Context(), y, tt.weights, tt.c, 1, 1000)
			upper := make([]float64, len(y))
			for i, yi := range y {
				upper[i] = tt.c
				if tt.weights != nil {
					upper[i] *= tt.weights[yi]
				}
			}
			best := primalLR(layer, y, upper, w, b)
			if zero := primalLR(layer, y, upper, make([]float64, len(w)), 0); best >= zero {
				t.Fatalf("objective %g, not below the zero model's %g", best, zero)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			for r := range 300 {
				k, step := rng.IntN(len(w)), 0.02*(rng.Float64()-0.5)
				if r < 20 { // the bias (index len(w)), more often than at random
					k = len(w)
				}
				w2, b2 := append([]float64(nil), w...), b
				if k == len(w) {
					b2 += step
				} else {
					w2[k] += step
				}
				if p := primalLR(layer, y, upper, w2, b2); p < best-1e-5*math.Abs(best) {
					t.Fatalf("a step of %g along weight %d lowers the objective from %g to %g: not a minimum", step, k, best, p)
				}
			}
		})
	}
}

// TestExactSketchBlend: the default head of a binary sketch task blends
// in the exact fit (its weights differ from SGD's alone), a negative share
// turns it off, and tasks of more classes are left as SGD trained them.
func TestExactSketchBlend(t *testing.T) {
	x, sk, y := lexicalData(600, 5)
	y2 := make([]int32, len(y))
	for i, v := range y {
		y2[i] = v % 2
	}
	trainWith := func(share float64, classes int, labels []int32) *Model {
		t.Helper()
		cfg := Config{Features: FeatureBoth, Steps: 30, SketchBuckets: 1 << 10, SketchExactShare: share, Seed: 1}
		src := NewMemoryBatches(x, labels, 32, 256, 1).WithSketch(cloneSparse(sk))
		m, _, err := train(t.Context(), cfg, 32, classes, src, 1, gemmAcc32)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if got := (Config{Features: FeatureBoth}).WithDefaults(2).SketchExactShare; got != DefaultSketchExactShare {
		t.Errorf("binary default share %g, want %g", got, DefaultSketchExactShare)
	}
	if got := (Config{Features: FeatureBoth}).WithDefaults(4).SketchExactShare; got != 0 {
		t.Errorf("4-class default share %g, want 0 (none)", got)
	}
	blended, sgd := trainWith(0, 2, y2), trainWith(-1, 2, y2)
	if slices.Equal(blended.WS, sgd.WS) || slices.Equal(blended.W2, sgd.W2) {
		t.Error("the default binary head equals SGD's alone: the exact fit was not blended in")
	}
	if !slices.Equal(blended.W1, sgd.W1) {
		t.Error("blending changed the first layer, which it must leave as trained")
	}
}

func TestValidateExactSketch(t *testing.T) {
	base := func() Config { return Config{Features: FeatureBoth}.WithDefaults(2) }
	for _, tt := range []struct {
		name   string
		mutate func(*Config)
		ok     bool
	}{
		{"default", func(*Config) {}, true},
		{"off", func(c *Config) { c.SketchExactShare, c.SketchExactC = -1, 0 }, true},
		{"exact alone", func(c *Config) { c.SketchExactShare = 1 }, true},
		{"share over 1", func(c *Config) { c.SketchExactShare = 1.5 }, false},
		{"NaN share", func(c *Config) { c.SketchExactShare = math.NaN() }, false},
		{"C 0", func(c *Config) { c.SketchExactC = -2 }, false},
		{"C too large", func(c *Config) { c.SketchExactC = 2 * MaxSketchExactC }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.mutate(&c)
			if err := c.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate(share %g, C %g) = %v, want ok %v", c.SketchExactShare, c.SketchExactC, err, tt.ok)
			}
		})
	}
}
