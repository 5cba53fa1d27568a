package mlp

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"unsafe"
)

// History is the training curve, one entry per optimiser step.
type History struct {
	// Loss is the mean cross-entropy of the step's batch, before the update.
	Loss []float64 `json:"loss"`
	// LR is the learning rate the step used.
	LR []float64 `json:"lr"`
}

// Train trains a head for dim-dimensional inputs and the given number of
// classes on the batches src serves; zero fields of cfg take the recipe's
// defaults. It stops with ctx.Err() when ctx is done.
//
// Training runs in float32 on AVX2 kernels (kernel_amd64.s; gemmAcc32
// says how they keep results machine-independent), where a step of the
// default recipe is two 8-MFLOP products, the optimiser's update and a
// 512-KB gather of the batch's rows (timings: BENCHMARKS.md, "Trainer").
// float32 matches PyTorch's float64 reference to 2e-5
// (TestTorchReference). The batch is cut into
// fixed shards whose gradients are summed in a fixed order, and every
// product adds its terms in a fixed order without fused multiply-adds, so
// the weights are the same bit for bit whatever the number of cores
// (TestTrainDeterministic) and whether or not the CPU has AVX2
// (TestTrainSameWithoutAVX2).
func Train(ctx context.Context, cfg Config, dim, classes int, src Batches) (*Model, History, error) {
	return train(ctx, cfg, dim, classes, src, runtime.GOMAXPROCS(0), gemmAcc32)
}

// gemmFunc is C += A·B as gemmAcc32 computes it, in precision T.
type gemmFunc[T float32 | float64] = func(m, n, k int, a []T, rsA, csA int, b []T, ldb int, c []T, ldc int)

// train is Train in precision T with at most workers goroutines, its
// products computed by gemm. (Only float32 is trained in production; the
// tests train in float64 too, against PyTorch's float64 reference.)
func train[T float32 | float64](ctx context.Context, cfg Config, dim, classes int, src Batches, workers int, gemm gemmFunc[T]) (*Model, History, error) {
	cfg = cfg.WithDefaults(classes)
	if err := cfg.Validate(); err != nil {
		return nil, History{}, fmt.Errorf("mlp: %w", err)
	}
	if dim < 1 || classes < 2 {
		return nil, History{}, fmt.Errorf("mlp: cannot train %d-d inputs into %d classes", dim, classes)
	}
	if cfg.ClassWeights != nil && len(cfg.ClassWeights) != classes {
		return nil, History{}, fmt.Errorf("mlp: %d class weights for %d classes", len(cfg.ClassWeights), classes)
	}
	tr := newTrainer(cfg, dim, classes, workers, gemm)
	defer tr.stop()
	// Rows already in memory are copied by the shards that use them, in
	// parallel and into a cache that is about to read them.
	mem, _ := src.(*MemoryBatches)
	if mem != nil && (mem.dim != dim || mem.size == 0) {
		return nil, History{}, fmt.Errorf("mlp: %d rows of %d values cannot train %d-d inputs", len(mem.y), mem.dim, dim)
	}
	if err := tr.useSketch(cfg, mem); err != nil {
		return nil, History{}, err
	}
	// The exact sketch fit runs beside the steps; a training that returns
	// early stops it.
	exactCtx, stopExact := context.WithCancel(ctx)
	defer stopExact()
	exact := tr.startExact(exactCtx, cfg, mem)
	hist := History{Loss: make([]float64, 0, cfg.Steps), LR: make([]float64, 0, cfg.Steps)}
	for t := range cfg.Steps {
		if err := ctx.Err(); err != nil {
			return nil, hist, err
		}
		var n int
		if mem != nil {
			tr.gather, tr.src = mem.next(), mem.x
			n = len(tr.gather)
		} else {
			var err error
			if n, err = src.Next(ctx, tr.x, tr.y); err != nil {
				return nil, hist, fmt.Errorf("mlp: batch of step %d: %w", t, err)
			}
		}
		if n < 1 || n > cfg.BatchSize {
			return nil, hist, fmt.Errorf("mlp: batch of step %d has %d rows, want 1 to %d", t, n, cfg.BatchSize)
		}
		if mem != nil {
			for i, r := range tr.gather {
				tr.y[i] = mem.y[r]
			}
		}
		for _, y := range tr.y[:n] {
			if y < 0 || int(y) >= classes {
				return nil, hist, fmt.Errorf("mlp: label %d in the batch of step %d is not one of %d classes", y, t, classes)
			}
		}
		lr := cfg.rate(t)
		if tr.sk != nil {
			tr.sk.rate = T(lr * cfg.SketchLearningRate / cfg.LearningRate)
		}
		loss := tr.step(n, lr)
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return nil, hist, &DivergedError{Step: t, Loss: loss, LearningRate: cfg.LearningRate}
		}
		hist.Loss = append(hist.Loss, loss)
		hist.LR = append(hist.LR, lr)
	}
	if exact != nil {
		tr.blendExact(cfg.SketchExactShare, <-exact)
	}
	return tr.model(), hist, nil
}

// rate is the learning rate of step t (from 0): transformers' linear
// schedule without warm-up, LambdaLR with (Steps−t)/Steps, stepped after
// each optimiser step.
func (c Config) rate(t int) float64 {
	return c.LearningRate * (float64(c.Steps-t) / float64(c.Steps))
}

// Shards: the batch is cut into shards of shardRows rows, each with its own
// activations and gradient, so that cores can share a step without locks.
// A shard's gradient depends only on its rows and the shards are summed in
// order: the cut depends on the batch size alone, never on the core count.
const (
	minShardRows = 64 // also gonum's block size: the float64 tests' products stay on its serial path
	maxShards    = 8  // bounds the cost of summing shard gradients
)

// trainer holds everything a step touches, allocated once.
type trainer[T float32 | float64] struct {
	dim, hidden, classes int
	relu                 bool
	mlp                  bool // the embedding's MLP is trained (features not "sketch")
	gemm                 gemmFunc[T]
	sk                   *sketchLayer[T] // nil without one

	// params is W1ᵀ | B1 | W2ᵀ | B2, the layout of the shard gradients:
	// the weights are kept transposed (input-major) so that the products
	// that read or write them run on the kernels' contiguous rows.
	params           []T
	w1t, b1, w2t, b2 []T
	w2               []T // W2 (classes×hidden), refreshed before each gradient
	opt              *adamW[T]
	coef             adamCoef[T]
	// first is the first parameter the optimiser updates: 0, or B2's for
	// a sketch-only head, whose MLP weights and gradients stay 0 (and so
	// would Adam's update of them).
	first int

	x       []float32 // the batch as src fills it
	xt      []T       // the batch in precision T (x itself for float32)
	convert bool      // whether xt is a copy
	y       []int32
	classW  []float64 // weight of each class; nil: unweighted
	invW    float64   // 1 / the batch's total weight, when weighted
	gather  []int32   // with a MemoryBatches: the batch's rows of src
	src     []float32

	shardRows int
	shards    []shard[T]
	grads     [][]T // the shards' gradients, for the optimiser

	// One step's parallel work: rows in the batch, the phase (shards or
	// optimiser chunks), its items and the workers sharing them.
	n       int
	phase   int
	items   int
	active  int
	start   []chan struct{} // one per helper
	done    sync.WaitGroup
	helpers int
}

// shard is one shard's scratch space and gradient.
type shard[T float32 | float64] struct {
	hid, act, logit, dact []T
	grad                  []T
	gw1t, gb1, gw2t, gb2  []T
	loss                  float64
}

func newTrainer[T float32 | float64](cfg Config, dim, classes, workers int, gemm gemmFunc[T]) *trainer[T] {
	h, c, b := cfg.Hidden, classes, cfg.BatchSize
	np := paramCount(dim, h, c)
	tr := &trainer[T]{
		dim: dim, hidden: h, classes: c, relu: cfg.Activation != None, gemm: gemm,
		mlp:    cfg.Features.uses(FeatureEmbedding),
		params: make([]T, np),
		w2:     make([]T, c*h),
		opt:    newAdamW[T](cfg, np),
		x:      make([]float32, b*dim),
		y:      make([]int32, b),
		classW: cfg.ClassWeights,
	}
	tr.w1t, tr.b1, tr.w2t, tr.b2 = split(tr.params, dim, h, c)
	if xt, ok := any(tr.x).([]T); ok {
		tr.xt = xt
	} else {
		tr.xt, tr.convert = make([]T, b*dim), true
	}

	// PyTorch's Linear init, kaiming_uniform_(a=√5): weights and biases
	// are U(−1/√fan_in, 1/√fan_in).
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x696e6974)) // "init"
	uniform := func(p []T, fanIn int) {
		bound := 1 / math.Sqrt(float64(fanIn))
		for i := range p {
			p[i] = T((2*rng.Float64() - 1) * bound)
		}
	}
	w1 := make([]T, h*dim) // drawn in PyTorch's order, stored transposed
	uniform(w1, dim)
	transpose(tr.w1t, w1, h, dim)
	uniform(tr.b1, dim)
	uniform(tr.w2, h)
	transpose(tr.w2t, tr.w2, c, h)
	uniform(tr.b2, h)
	if !tr.mlp {
		// A sketch-only head: the MLP's part of the logits stays 0.
		clear(tr.w1t)
		clear(tr.b1)
		clear(tr.w2t)
		tr.first = np - c
	}

	tr.shardRows = max(minShardRows, (b+maxShards-1)/maxShards)
	ns := (b + tr.shardRows - 1) / tr.shardRows
	tr.shards = make([]shard[T], ns)
	tr.grads = make([][]T, ns)
	rows := min(tr.shardRows, b)
	for i := range tr.shards {
		s := &tr.shards[i]
		s.hid = make([]T, rows*h)
		s.act = s.hid
		if tr.relu {
			s.act = make([]T, rows*h)
		}
		s.logit = make([]T, rows*c)
		s.dact = make([]T, rows*h)
		s.grad = make([]T, np)
		s.gw1t, s.gb1, s.gw2t, s.gb2 = split(s.grad, dim, h, c)
		tr.grads[i] = s.grad
	}

	// Helpers are started once; each phase of a step wakes them with one
	// send each.
	tr.helpers = min(workers, max(ns, tr.chunks())) - 1
	if tr.helpers > 0 {
		tr.start = make([]chan struct{}, tr.helpers)
		for id := range tr.helpers {
			start := make(chan struct{})
			tr.start[id] = start
			go func() {
				for range start {
					tr.work(id + 1)
					tr.done.Done()
				}
			}()
		}
	}
	return tr
}

// split cuts a parameter vector into W1, B1, W2 and B2.
func split[T any](p []T, dim, h, c int) (w1, b1, w2, b2 []T) {
	w1, p = p[:h*dim:h*dim], p[h*dim:]
	b1, p = p[:h:h], p[h:]
	w2, p = p[:c*h:c*h], p[c*h:]
	return w1, b1, w2, p[:c:c]
}

func (tr *trainer[T]) stop() {
	for _, start := range tr.start {
		close(start)
	}
}

// step takes one optimiser step on the batch's n rows and returns its mean
// loss (the sketch layer's too, at the rate set in it). Both phases, the
// gradient over the batch's shards and the update, are shared by the
// workers: the update's items are the sketch layer's parts (its SGD step
// needs the whole batch's gradient, as Adam's does, so it runs beside
// Adam rather than in a phase of its own: one wait fewer a step) and the
// optimiser's chunks of the parameters.
func (tr *trainer[T]) step(n int, lr float64) float64 {
	loss, _ := tr.gradient(n)
	tr.coef = tr.opt.next(lr)
	tr.run(phaseUpdate, tr.sketchParts()+tr.chunks())
	return loss
}

// The phases of a step.
const (
	phaseGradient = iota
	phaseUpdate
)

// updateChunk is the number of parameters in one chunk of the optimiser's
// update. The update is element-wise, so the cut changes nothing but who
// computes what.
const updateChunk = 2048

func (tr *trainer[T]) chunks() int {
	return (len(tr.params) - tr.first + updateChunk - 1) / updateChunk
}

// gradient computes the batch's mean loss and its gradient, as partial
// gradients to be summed in order.
func (tr *trainer[T]) gradient(n int) (float64, [][]T) {
	tr.n = n
	if tr.classW != nil {
		var total float64
		for _, y := range tr.y[:n] {
			total += tr.classW[y]
		}
		tr.invW = 1 / total
	}
	transpose(tr.w2, tr.w2t, tr.hidden, tr.classes)
	used := (n + tr.shardRows - 1) / tr.shardRows
	if tr.mlp {
		tr.run(phaseGradient, used)
	} else {
		// A sketch-only head's shards only add logits and take the
		// softmax: less work than waking a helper.
		for i := range used {
			tr.shard(i)
		}
	}
	var loss float64
	for i := range used {
		loss += tr.shards[i].loss
	}
	if tr.classW != nil {
		return loss * tr.invW, tr.grads[:used]
	}
	return loss / float64(n), tr.grads[:used]
}

// run does items 0…items−1 of a phase, with as many helpers as there is
// work for, and returns when all are done. Worker w of k takes items w,
// w+k, w+2k, …: the same shards and chunks every step, so that each
// shard's rows, activations and gradient, and each chunk's optimiser
// state, stay in one core's cache. (The result does not depend on who
// computes what.)
func (tr *trainer[T]) run(phase, items int) {
	tr.phase, tr.items = phase, items
	wake := min(tr.helpers, items-1)
	tr.active = wake + 1
	tr.done.Add(wake)
	for _, start := range tr.start[:wake] {
		start <- struct{}{}
	}
	tr.work(0)
	tr.done.Wait()
}

// work does worker w's items of the current phase.
func (tr *trainer[T]) work(w int) {
	for i := w; i < tr.items; i += tr.active {
		switch {
		case tr.phase == phaseGradient:
			tr.shard(i)
		case i < tr.sketchParts():
			tr.sk.step(tr, i)
		default:
			lo := tr.first + (i-tr.sketchParts())*updateChunk
			hi := min(lo+updateChunk, len(tr.params))
			used := (tr.n + tr.shardRows - 1) / tr.shardRows
			tr.opt.update(tr.coef, tr.params, tr.grads[:used], lo, hi)
		}
	}
}

// shard runs forward and backward over shard s's rows, leaving the
// gradient of the batch's mean loss restricted to those rows in its grad.
func (tr *trainer[T]) shard(s int) {
	d, h, c, n := tr.dim, tr.hidden, tr.classes, tr.n
	sh := &tr.shards[s]
	r0 := s * tr.shardRows
	nr := min(r0+tr.shardRows, n) - r0
	x := tr.xt[r0*d : (r0+nr)*d]
	y := tr.y[r0 : r0+nr]
	switch {
	case !tr.mlp:
		// A sketch-only head reads no embedding.
	case tr.gather != nil:
		rows := tr.gather[r0 : r0+nr]
		for i, r := range rows {
			if j := i + prefetchRows; j < nr {
				tr.prefetchRow(rows[j])
			}
			row := tr.src[int(r)*d : (int(r)+1)*d]
			if tr.convert {
				convert(x[i*d:(i+1)*d], row)
			} else {
				copy(tr.x[(r0+i)*d:(r0+i+1)*d], row)
			}
		}
	case tr.convert:
		convert(x, tr.x[r0*d:(r0+nr)*d])
	}

	// Forward: hid = x·W1ᵀ + b1, act = relu(hid), logit = act·W2ᵀ + b2
	// (+ the sketch layer's logits).
	hid := sh.hid[:nr*h]
	act := hid
	logit := sh.logit[:nr*c]
	for i := range nr {
		copy(logit[i*c:(i+1)*c], tr.b2)
	}
	if tr.mlp {
		for i := range nr {
			copy(hid[i*h:(i+1)*h], tr.b1)
		}
		tr.gemm(nr, h, d, x, d, 1, tr.w1t, h, hid, h)
		if tr.relu {
			act = sh.act[:nr*h]
			for i, v := range hid {
				act[i] = max(v, 0)
			}
		}
		tr.gemm(nr, c, h, act, h, 1, tr.w2t, c, logit, c)
	}
	if tr.sk != nil {
		tr.sk.forward(logit, tr.gather[r0:r0+nr])
	}

	// Loss and its gradient: softmax minus one-hot, over the whole batch's
	// n, or with class weights each row's share w_y/Σw of the batch's.
	var loss float64
	invN := 1 / float64(n)
	for i := range nr {
		row := logit[i*c : (i+1)*c]
		top := row[0]
		for _, v := range row[1:] {
			top = max(top, v)
		}
		zy := float64(row[y[i]] - top)
		var sum float64
		for k, v := range row {
			e := math.Exp(float64(v - top))
			row[k] = T(e)
			sum += e
		}
		share := invN
		if tr.classW != nil {
			w := tr.classW[y[i]]
			share = w * tr.invW
			loss += w * (math.Log(sum) - zy) // scaled by invW in gradient
		} else {
			loss += math.Log(sum) - zy
		}
		scale := share / sum
		for k, v := range row {
			row[k] = T(float64(v) * scale)
		}
		row[y[i]] -= T(share)
	}
	sh.loss = loss

	// Backward: gW2ᵀ = actᵀ·dlogit, dact = dlogit·W2 (masked by the ReLU),
	// gW1ᵀ = xᵀ·dact; the bias gradients are column sums. (The sketch
	// layer's gradient is taken after the shards: sketchLayer.step.)
	dlogit := logit
	colSums(sh.gb2, dlogit)
	if !tr.mlp {
		return
	}
	clear(sh.gw2t)
	tr.gemm(h, c, nr, act, 1, h, dlogit, c, sh.gw2t, c)
	dact := sh.dact[:nr*h]
	clear(dact)
	tr.gemm(nr, h, c, dlogit, c, 1, tr.w2, h, dact, h)
	if tr.relu {
		for i, v := range hid {
			if v <= 0 {
				dact[i] = 0 // PyTorch's threshold_backward: no gradient at 0 either
			}
		}
	}
	clear(sh.gw1t)
	tr.gemm(d, h, nr, x, 1, d, dact, h, sh.gw1t, h)
	colSums(sh.gb1, dact)
}

// prefetchRow asks for training row r's embedding (the rows of a batch
// are scattered over the training matrix: see sketchLayer.prefetch).
func (tr *trainer[T]) prefetchRow(r int32) {
	prefetch(unsafe.Pointer(unsafe.SliceData(tr.src[int(r)*tr.dim:])), min((tr.dim*4+63)/64, prefetchLines))
}

// transpose sets dst (cols×rows) to the transpose of src (rows×cols).
func transpose[T any](dst, src []T, rows, cols int) {
	for i := range rows {
		for j, v := range src[i*cols : (i+1)*cols] {
			dst[j*rows+i] = v
		}
	}
}

// torchParams returns the parameters in PyTorch's order and layout:
// W1 (hidden×dim), B1, W2 (classes×hidden), B2.
func (tr *trainer[T]) torchParams() []float64 {
	w1, w2 := tr.weights()
	out := make([]float64, 0, len(tr.params))
	for _, p := range [][]T{w1, tr.b1, w2, tr.b2} {
		for _, v := range p {
			out = append(out, float64(v))
		}
	}
	return out
}

// weights returns W1 and W2 in PyTorch's layout.
func (tr *trainer[T]) weights() (w1, w2 []T) {
	d, h, c := tr.dim, tr.hidden, tr.classes
	w1, w2 = make([]T, h*d), make([]T, c*h)
	transpose(w1, tr.w1t, d, h)
	transpose(w2, tr.w2t, h, c)
	return w1, w2
}

// setTorchParams sets the parameters from PyTorch's order and layout.
func (tr *trainer[T]) setTorchParams(p []float64) {
	d, h, c := tr.dim, tr.hidden, tr.classes
	tp := make([]T, len(p))
	for i, v := range p {
		tp[i] = T(v)
	}
	w1, b1, w2, b2 := split(tp, d, h, c)
	transpose(tr.w1t, w1, h, d)
	copy(tr.b1, b1)
	transpose(tr.w2t, w2, c, h)
	copy(tr.b2, b2)
}

func convert[T float32 | float64](dst []T, src []float32) {
	for i, v := range src {
		dst[i] = T(v)
	}
}

// colSums sets sums to the column sums of the row-major matrix m.
func colSums[T float32 | float64](sums, m []T) {
	clear(sums)
	for i := 0; i < len(m); i += len(sums) {
		for j, v := range m[i : i+len(sums)] {
			sums[j] += v
		}
	}
}

// model returns the trained weights as a float32 Model.
func (tr *trainer[T]) model() *Model {
	w1, w2 := tr.weights()
	m := &Model{
		Dim: tr.dim, Hidden: tr.hidden, Classes: tr.classes, Activation: ReLU,
		W1: toFloat32(w1), B1: toFloat32(tr.b1), W2: toFloat32(w2), B2: toFloat32(tr.b2),
	}
	if !tr.relu {
		m.Activation = None
	}
	m.Features = FeatureEmbedding
	if tr.sk != nil {
		m.Features, m.Buckets, m.WS = FeatureBoth, tr.sk.buckets, tr.sk.weights()
		if !tr.mlp {
			// Only the output bias of the MLP was trained: keep the
			// smallest zero MLP that carries it.
			m.Features, m.Hidden = FeatureSketch, 1
			m.W1, m.B1, m.W2 = make([]float32, tr.dim), make([]float32, 1), make([]float32, tr.classes)
		}
	}
	return m
}

func toFloat32[T float32 | float64](p []T) []float32 {
	out := make([]float32, len(p))
	for i, v := range p {
		out[i] = float32(v)
	}
	return out
}
