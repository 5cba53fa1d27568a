package mlp

import "math"

// adamW is torch.optim.AdamW (PyTorch 1.13's single-tensor path) over one
// flat parameter vector:
//
//	p ← p·(1 − lr·wd)                       decoupled weight decay, first
//	m ← β1·m + (1−β1)·g
//	v ← β2·v + (1−β2)·g²
//	v̂ ← max(v̂, v)                            amsgrad only; v̂ starts at 0
//	p ← p − lr/(1−β1ᵗ) · m / (√v̂/√(1−β2ᵗ) + ε)   (v instead of v̂ without amsgrad)
//
// The state has the trainer's precision; the step's scalars are float64.
type adamW[T float32 | float64] struct {
	beta1, beta2, eps, wd float64
	amsgrad               bool
	t                     int // steps taken
	m, v, vmax            []T
}

func newAdamW[T float32 | float64](cfg Config, n int) *adamW[T] {
	a := &adamW[T]{
		beta1: cfg.Beta1, beta2: cfg.Beta2, eps: cfg.Epsilon, wd: max(cfg.WeightDecay, 0),
		amsgrad: !cfg.NoAMSGrad,
		m:       make([]T, n), v: make([]T, n),
	}
	if a.amsgrad {
		a.vmax = make([]T, n)
	}
	return a
}

// step updates p with the gradient that is the sum, in order, of the
// slices of grads (the batch shards' partial gradients): summing here
// saves a pass over the parameters.
func (a *adamW[T]) step(p []T, grads [][]T, lr float64) {
	a.t++
	bc1 := 1 - math.Pow(a.beta1, float64(a.t))
	bc2 := 1 - math.Pow(a.beta2, float64(a.t))
	var (
		decay    = T(1 - lr*a.wd)
		b1, b2   = T(a.beta1), T(a.beta2)
		c1, c2   = T(1 - a.beta1), T(1 - a.beta2)
		stepSize = T(lr / bc1)
		sqrtBC2  = T(math.Sqrt(bc2))
		eps      = T(a.eps)
	)
	m, v := a.m[:len(p)], a.v[:len(p)]
	vmax, ams := v, a.amsgrad // without AMSGrad, vmax is v
	if ams {
		vmax = a.vmax[:len(p)]
	}
	// Chunks: the shard sums are tight loops over a few cache lines, and
	// the update reads each sum from L1.
	var sum [512]T
	for lo := 0; lo < len(p); lo += len(sum) {
		hi := min(lo+len(sum), len(p))
		g := sum[:hi-lo]
		copy(g, grads[0][lo:hi])
		for _, gs := range grads[1:] {
			for k, v := range gs[lo:hi] {
				g[k] += v
			}
		}
		pc, mc, vc, xc := p[lo:hi], m[lo:hi], v[lo:hi], vmax[lo:hi]
		for k, gk := range g {
			pk := pc[k] * decay
			mk := b1*mc[k] + c1*gk
			vk := b2*vc[k] + c2*gk*gk
			xk := vk
			if ams && xc[k] > vk {
				xk = xc[k]
			}
			mc[k], vc[k], xc[k] = mk, vk, xk
			denom := T(math.Sqrt(float64(xk)))/sqrtBC2 + eps
			pc[k] = pk - stepSize*mk/denom
		}
	}
}
