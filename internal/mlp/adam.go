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

// adamCoef holds one step's scalars.
type adamCoef[T float32 | float64] struct {
	decay, b1, b2, c1, c2, stepSize, sqrtBC2, eps T
}

// step updates p with the gradient that is the sum, in order, of the
// slices of grads (the batch shards' partial gradients): summing here
// saves a pass over the parameters.
func (a *adamW[T]) step(p []T, grads [][]T, lr float64) {
	a.update(a.next(lr), p, grads, 0, len(p))
}

// next advances the step count and returns the step's scalars for update.
func (a *adamW[T]) next(lr float64) adamCoef[T] {
	a.t++
	bc1 := 1 - math.Pow(a.beta1, float64(a.t))
	bc2 := 1 - math.Pow(a.beta2, float64(a.t))
	return adamCoef[T]{
		decay: T(1 - lr*a.wd),
		b1:    T(a.beta1), b2: T(a.beta2),
		c1: T(1 - a.beta1), c2: T(1 - a.beta2),
		stepSize: T(lr / bc1),
		sqrtBC2:  T(math.Sqrt(bc2)),
		eps:      T(a.eps),
	}
}

// update applies a step to the parameters p[lo:hi]. Each parameter's
// update depends on its own state alone, so ranges can be updated in
// parallel with the same result.
func (a *adamW[T]) update(k adamCoef[T], p []T, grads [][]T, lo, hi int) {
	m, v := a.m[:len(p)], a.v[:len(p)]
	vmax, ams := v, a.amsgrad // without AMSGrad, vmax is v
	if ams {
		vmax = a.vmax[:len(p)]
	}
	// Chunks: the shard sums are tight loops over a few cache lines, and
	// the update reads each sum from L1.
	var sum [512]T
	for lo < hi {
		end := min(lo+len(sum), hi)
		g := sum[:end-lo]
		copy(g, grads[0][lo:end])
		for _, gs := range grads[1:] {
			add(g, gs[lo:end])
		}
		if g32, ok := any(g).([]float32); ok && useAVX2 {
			// Eight at a time, the same arithmetic; the rest below.
			v8 := len(g) &^ 7
			if v8 > 0 {
				pf := any(p).([]float32)
				mf, vf, xf := any(m).([]float32), any(v).([]float32), any(vmax).([]float32)
				kf := any(&k).(*adamCoef[float32])
				adamKern(v8, &pf[lo], &mf[lo], &vf[lo], &xf[lo], &g32[0], kf, ams)
			}
			g, lo = g[v8:], lo+v8
			if len(g) == 0 {
				lo = end
				continue
			}
		}
		adamGo(k, g, p[lo:end], m[lo:end], v[lo:end], vmax[lo:end], ams)
		lo = end
	}
}

// adamGo is update's portable loop over the summed gradient g.
func adamGo[T float32 | float64](k adamCoef[T], g, p, m, v, vmax []T, ams bool) {
	p, m, v, vmax = p[:len(g)], m[:len(g)], v[:len(g)], vmax[:len(g)]
	for i, gi := range g {
		// T(…) rounds each product, so no platform fuses a multiply-add
		// here: the update is the same everywhere, and the same as
		// adamKern's.
		pi := p[i] * k.decay
		mi := T(k.b1*m[i]) + T(k.c1*gi)
		vi := T(k.b2*v[i]) + T(T(k.c2*gi)*gi)
		xi := vi
		if ams && vmax[i] > vi {
			xi = vmax[i]
		}
		m[i], v[i], vmax[i] = mi, vi, xi
		denom := T(math.Sqrt(float64(xi)))/k.sqrtBC2 + k.eps
		p[i] = pi - T(k.stepSize*mi)/denom
	}
}

// add is dst[i] += src[i].
func add[T float32 | float64](dst, src []T) {
	src = src[:len(dst)]
	if d32, ok := any(dst).([]float32); ok && useAVX2 && len(dst) >= 8 {
		v8 := len(dst) &^ 7
		addTo(v8, &d32[0], &any(src).([]float32)[0])
		dst, src = dst[v8:], src[v8:]
	}
	for i, v := range src {
		dst[i] += v
	}
}
