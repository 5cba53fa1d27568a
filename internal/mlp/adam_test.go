package mlp

import (
	"math"
	"testing"
)

// TestAdamWSteps checks two AdamW steps against values worked out by hand
// from PyTorch's formulas (lr 0.01, weight decay 0.1, β 0.9/0.999, ε 1e-8).
//
// Step 1 (bias corrections 0.1 and 0.001): m = 0.1g, v = 0.001g², so
// √v/√0.001 = |g| and p₁ = 0.999p₀ − 0.01·g/(|g|+ε); a zero gradient only
// decays. Step 2 (corrections 0.19 and 0.001999) tells AMSGrad apart: for
// the first weight g₂ = 0.01 is small, v₂ = 0.00024985 < v₁ = 0.00025,
// and AMSGrad keeps v₁ in the denominator:
// p₂ = 0.999p₁ − (0.01/0.19)·0.046/(√0.00025/√0.001999 + ε).
func TestAdamWSteps(t *testing.T) {
	p0 := []float64{1, -2, 0.5}
	grads := [][]float64{{0.5, -1, 0}, {0.01, -1, 0.2}}
	tests := []struct {
		amsgrad bool
		want    [][]float64
	}{
		{true, [][]float64{
			{0.9890000002, -1.9880000001, 0.4995},
			{0.9811649416165712, -1.9760120001999, 0.4915591322903828},
		}},
		{false, [][]float64{
			{0.9890000002, -1.9880000001, 0.4995},
			{0.981162886874374, -1.9760120001999, 0.4915591322903828},
		}},
	}
	for _, tt := range tests {
		cfg := Config{LearningRate: 0.01, WeightDecay: 0.1, NoAMSGrad: !tt.amsgrad}.WithDefaults(2)
		opt := newAdamW[float64](cfg, len(p0))
		p := append([]float64(nil), p0...)
		for step, g := range grads {
			// The gradient arrives in two shards that the step sums.
			half := make([]float64, len(g))
			for i := range g {
				half[i] = g[i] / 2
			}
			opt.step(p, [][]float64{half, half}, cfg.LearningRate)
			for i, want := range tt.want[step] {
				if math.Abs(p[i]-want) > 1e-12 {
					t.Errorf("amsgrad %v, step %d, parameter %d: %.16g, want %.16g", tt.amsgrad, step+1, i, p[i], want)
				}
			}
		}
	}
}
