//go:build !noasm

package mlp

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestAdamKern checks the AVX2 optimiser step against the portable loop
// bit for bit, with and without AMSGrad.
func TestAdamKern(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2 here")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 1000
	fill := func(scale float64, abs bool) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * scale)
			if abs && v[i] < 0 {
				v[i] = -v[i]
			}
		}
		return v
	}
	a := newAdamW[float32](Config{LearningRate: 0.01, WeightDecay: 0.1}.WithDefaults(2), n)
	for _, ams := range []bool{true, false} {
		for step := range 5 {
			k := a.next(0.01 / float64(step+1))
			g := fill(0.1, false)
			p, m, v, vmax := fill(1, false), fill(0.01, false), fill(1e-4, true), fill(1e-4, true)
			p2, m2, v2, vmax2 := slices.Clone(p), slices.Clone(m), slices.Clone(v), slices.Clone(vmax)
			if !ams {
				vmax, vmax2 = v, v2
			}
			v8 := n &^ 7
			adamKern(v8, &p[0], &m[0], &v[0], &vmax[0], &g[0], &k, ams)
			adamGo(k, g[:v8], p2, m2, v2, vmax2, ams)
			for _, pair := range [][2][]float32{{p, p2}, {m, m2}, {v, v2}, {vmax, vmax2}} {
				if !slices.Equal(pair[0][:v8], pair[1][:v8]) {
					t.Fatalf("amsgrad %v step %d: kernel and loop differ", ams, step)
				}
			}
		}
	}
}

// TestTrainSameWithoutAVX2: the portable loops train the same weights, bit
// for bit, as the AVX2 kernels.
func TestTrainSameWithoutAVX2(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2 here")
	}
	x, y := smallData(2000, 2, 1)
	for _, cfg := range []Config{{Steps: 30, Seed: 1}, {Steps: 30, Hidden: 21, Activation: None, NoAMSGrad: true}} {
		kernel := trainOn(t, cfg, x, y, 64, 4, nil, 2)
		useAVX2 = false
		portable := trainOn(t, cfg, x, y, 64, 4, nil, 2)
		useAVX2 = true
		if !sameWeights(kernel, portable) {
			t.Errorf("%+v: the AVX2 kernels and the portable loops train different weights", cfg)
		}
	}
}
