package mlp

import (
	"context"
	"math"
	"math/rand/v2"
)

// Why an exact fit beside SGD: on SpamAssassin's spam/ham task the SGD
// sketch layer settles at 98.5 macro-F1 whatever its rate, steps or
// weighting, while logistic regression fitted to convergence on the very
// same weighted entries reaches 98.8–99.1 (bench/sketch_logreg.py), and
// the head that blends the two (share 0.7 of the exact fit) beats
// TF-IDF + logistic regression on every seed, where SGD's head alone
// did not. BENCHMARKS.md, "Lexical sketch features", has the figures.

// exactSketchPasses bounds the exact fit's passes over the rows; it
// stops earlier when no dual gradient is over exactSketchTol (liblinear's
// default for this solver). On SpamAssassin's spam/ham rows the fit is
// not there after 100 passes (0.8 s) but the head's validation figures
// are the same from 20 passes on (10: one mail fewer right on one seed of
// three), and a pass costs about 8 ms on 4,900 mails.
const (
	exactSketchPasses = 20
	exactSketchTol    = 0.1
)

// exactSketch fits a binary sketch layer alone, towards convergence: L2
// logistic regression, ½‖w‖² + ½b² + Σᵢ Cᵢ log(1 + exp(−yᵢ(w·xᵢ + b))),
// over each training row's weighted entries (those the SGD layer trains
// on), with a bias b that is regularised like a weight of a constant
// entry 1 (as liblinear's is). yᵢ is +1 for class 0 and −1 for class 1,
// so w·x + b is the logit of class 0 minus that of class 1. Cᵢ is c
// times the row's class weight (weights nil: 1).
//
// The solver is liblinear's dual coordinate descent for logistic
// regression (Yu, Huang and Lin, "Dual coordinate descent methods for
// logistic regression and maximum entropy models", 2011): each pass (at
// most passes) visits the rows in an order drawn from seed and solves each
// row's one-dimensional dual problem by Newton's method. It runs on one
// core, in float64, so its result does not depend on the number of cores.
// It stops early, with what it has, when ctx is done.
func (sk *sketchLayer[T]) exactSketch(ctx context.Context, y []int32, weights []float64, c float64, seed uint64, passes int) (w []float64, b float64) {
	n := len(y)
	w = make([]float64, sk.buckets)
	sign := make([]float64, n)    // yᵢ
	upper := make([]float64, n)   // Cᵢ
	alpha := make([]float64, 2*n) // αᵢ and Cᵢ − αᵢ, kept apart for precision
	xx := make([]float64, n)      // ‖xᵢ‖² + 1 (the bias entry)
	for i, yi := range y {
		sign[i] = 1
		if yi == 1 {
			sign[i] = -1
		}
		upper[i] = c
		if weights != nil {
			upper[i] *= weights[yi]
		}
		lo, hi := sk.data.Start[i], sk.end[i]
		sq := 1.0
		for _, v := range sk.value[lo:hi] {
			sq += float64(v) * float64(v)
		}
		xx[i] = sq
		alpha[2*i] = min(0.001*upper[i], 1e-8)
		alpha[2*i+1] = upper[i] - alpha[2*i]
		sk.addRow(w, i, sign[i]*alpha[2*i])
		b += sign[i] * alpha[2*i]
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	rng := rand.New(rand.NewPCG(seed, 0xe7ac7))
	innerEps := 1e-2
	const innerEpsMin, maxNewton = 1e-8, 100
	for range passes {
		if ctx.Err() != nil {
			break // the training is abandoned: its result is never read
		}
		rng.Shuffle(n, func(a, b int) { order[a], order[b] = order[b], order[a] })
		newton, gmax := 0, 0.0
		for _, i := range order {
			ci, yi := upper[i], sign[i]
			a, m := xx[i], yi*(sk.dotRow(w, i)+b)
			// Minimise g(z) = z log z + (C−z) log(C−z) + ½a(z−α)² + s·m(z−α)
			// over the one of αᵢ, C−αᵢ that the step moves away from 0.
			i1, i2, s := 2*i, 2*i+1, 1.0
			if 0.5*a*(alpha[i2]-alpha[i1])+m < 0 {
				i1, i2, s = 2*i+1, 2*i, -1
			}
			old := alpha[i1]
			z := old
			if ci-z < 0.5*ci {
				z *= 0.1
			}
			gp := a*(z-old) + s*m + math.Log(z/(ci-z))
			gmax = max(gmax, math.Abs(gp))
			steps := 0
			for ; steps < maxNewton && math.Abs(gp) >= innerEps; steps++ {
				next := z - gp/(a+ci/(ci-z)/z)
				if next <= 0 {
					z *= 0.1
				} else {
					z = next
				}
				gp = a*(z-old) + s*m + math.Log(z/(ci-z))
			}
			newton += steps
			if steps > 0 {
				alpha[i1], alpha[i2] = z, ci-z
				d := s * (z - old) * yi
				sk.addRow(w, i, d)
				b += d
			}
		}
		if gmax < exactSketchTol {
			break
		}
		if newton <= n/10 {
			innerEps = max(innerEpsMin, 0.1*innerEps)
		}
	}
	return w, b
}

// dotRow is w·xᵢ over training row i's trained entries.
func (sk *sketchLayer[T]) dotRow(w []float64, i int) float64 {
	var s float64
	lo, hi := sk.data.Start[i], sk.end[i]
	for e, idx := range sk.data.Index[lo:hi] {
		s += w[idx&sk.mask] * float64(sk.value[lo+e])
	}
	return s
}

// addRow adds d·xᵢ to w.
func (sk *sketchLayer[T]) addRow(w []float64, i int, d float64) {
	lo, hi := sk.data.Start[i], sk.end[i]
	for e, idx := range sk.data.Index[lo:hi] {
		w[idx&sk.mask] += d * float64(sk.value[lo+e])
	}
}

// startExact starts the exact sketch fit of a binary head on its own
// goroutine, beside SGD's training: it reads only the rows' entries, which
// training does not change, and SGD's steps leave part of the two cores
// idle while they wait for each other. It returns nil when the head has
// no exact fit (see Config.SketchExactShare; a sketch layer has its rows
// in memory, mem).
func (tr *trainer[T]) startExact(ctx context.Context, cfg Config, mem *MemoryBatches) <-chan exactFit {
	if tr.sk == nil || tr.classes != 2 || !(cfg.SketchExactShare > 0) {
		return nil
	}
	done := make(chan exactFit, 1)
	go func() {
		w, b := tr.sk.exactSketch(ctx, mem.y, cfg.ClassWeights, cfg.SketchExactC, cfg.Seed, exactSketchPasses)
		done <- exactFit{w, b}
	}()
	return done
}

// exactFit is exactSketch's result: weights a bucket and the bias.
type exactFit struct {
	w []float64
	b float64
}

// blendExact makes the trained binary head answer (1 − share) × its own
// logits + share × those of the exact sketch fit (see
// Config.SketchExactShare): the MLP's output layer and bias and the
// sketch layer's weights are scaled by 1 − share, and the exact fit's
// weights and bias, halved into the (u, −u) the binary layer stands for,
// are added. The head stays the same shape, so its export is unchanged.
func (tr *trainer[T]) blendExact(share float64, fit exactFit) {
	keep := T(1 - share)
	for i := range tr.w2t {
		tr.w2t[i] *= keep
	}
	tr.b2[0] = keep*tr.b2[0] + T(share*fit.b/2)
	tr.b2[1] = keep*tr.b2[1] - T(share*fit.b/2)
	for k, u := range tr.sk.ws {
		tr.sk.ws[k] = keep*u + T(share*fit.w[k]/2)
	}
}
