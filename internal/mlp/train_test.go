package mlp

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/tinyhead/tinyhead/internal/mlp/mlptest"
)

// opaque hides a MemoryBatches' type, so that Train takes the path of any
// other Batches (src.Next filling the batch buffer).
type opaque struct{ Batches }

// smallData is a quick synthetic problem: 64-d, 4 classes.
func smallData(n int, noise float64, seed uint64) (x []float32, y []int32) {
	return mlptest.Spec{N: n, Dim: 64, Classes: 4, Noise: noise, Seed: seed}.Generate()
}

func trainOn(t *testing.T, cfg Config, x []float32, y []int32, dim, classes int, src func() Batches, workers int) *Model {
	t.Helper()
	if src == nil {
		src = func() Batches { return NewMemoryBatches(x, y, dim, cfg.WithDefaults(classes).BatchSize, cfg.Seed) }
	}
	m, hist, err := train(context.Background(), cfg, dim, classes, src(), workers, gemmAcc32)
	if err != nil {
		t.Fatal(err)
	}
	if steps := cfg.WithDefaults(classes).Steps; len(hist.Loss) != steps || len(hist.LR) != steps {
		t.Fatalf("history of %d losses and %d rates, want %d", len(hist.Loss), len(hist.LR), steps)
	}
	return m
}

func sameWeights(a, b *Model) bool {
	return slices.Equal(a.W1, b.W1) && slices.Equal(a.B1, b.B1) && slices.Equal(a.W2, b.W2) && slices.Equal(a.B2, b.B2)
}

func TestTrainDeterministic(t *testing.T) {
	x, y := smallData(2000, 2, 1)
	cfg := Config{Steps: 40, Seed: 3}
	memory := func() Batches { return NewMemoryBatches(x, y, 64, 256, 3) }
	ref := trainOn(t, cfg, x, y, 64, 4, memory, 1)
	tests := []struct {
		name    string
		cfg     Config
		src     func() Batches
		workers int
		same    bool
	}{
		{"same seed", cfg, memory, 1, true},
		{"same seed, 2 workers", cfg, memory, 2, true},
		{"same seed, 5 workers", cfg, memory, 5, true},
		{"same seed, batches through Next", cfg, func() Batches { return opaque{memory()} }, 2, true},
		{"other seed", Config{Steps: 40, Seed: 4}, memory, 1, false},
		{"other batch order", cfg, func() Batches { return NewMemoryBatches(x, y, 64, 256, 4) }, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := trainOn(t, tt.cfg, x, y, 64, 4, tt.src, tt.workers)
			if got := sameWeights(m, ref); got != tt.same {
				t.Errorf("bit-identical weights: %v, want %v", got, tt.same)
			}
		})
	}
}

func TestTrainLearns(t *testing.T) {
	const dim, classes = 128, 6
	x, y := mlptest.Spec{N: 12000, Dim: dim, Classes: classes, Noise: 2, Seed: 2}.Generate()
	trainX, trainY := x[:10000*dim], y[:10000]
	valX, valY := x[10000*dim:], y[10000:]
	for _, act := range []Activation{ReLU, None} {
		t.Run(string(act), func(t *testing.T) {
			cfg := Config{Activation: act} // the default recipe
			m, hist, err := Train(context.Background(), cfg, dim, classes, NewMemoryBatches(trainX, trainY, dim, 256, 0))
			if err != nil {
				t.Fatal(err)
			}
			if first, last := hist.Loss[0], hist.Loss[len(hist.Loss)-1]; !(last < 0.75*first) {
				t.Errorf("loss went from %.3f to %.3f, want it down by a quarter", first, last)
			}
			acc := Evaluate(m, valX, Sparse{}, valY).Accuracy
			if acc < 0.95 {
				t.Errorf("validation accuracy %.4f, want ≥ 0.95", acc)
			}
			t.Logf("validation accuracy %.4f", acc)
		})
	}
}

func TestTrainSchedule(t *testing.T) {
	x, y := smallData(500, 2, 1)
	_, hist, err := Train(context.Background(), Config{Steps: 4, LearningRate: 0.1}, 64, 4, NewMemoryBatches(x, y, 64, 256, 0))
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{0.1, 0.075, 0.05, 0.025} // decays to 0 over Steps; step t uses lr·(1 − t/Steps)
	if !slices.EqualFunc(hist.LR, want, func(a, b float64) bool { return math.Abs(a-b) < 1e-15 }) {
		t.Errorf("learning rates %v, want %v", hist.LR, want)
	}
}

// TestGradient compares the analytic gradient of the batch's mean loss
// with central finite differences, in float64, over a batch of three shards.
func TestGradient(t *testing.T) {
	const dim, classes, rows = 6, 3, 150
	for _, act := range []Activation{ReLU, None} {
		t.Run(string(act), func(t *testing.T) {
			cfg := Config{Hidden: 4, Activation: act, BatchSize: rows}.WithDefaults(classes)
			tr := newTrainer(cfg, dim, classes, 2, dgemmAcc)
			defer tr.stop()
			if len(tr.shards) != 3 {
				t.Fatalf("%d shards, want 3", len(tr.shards))
			}
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range tr.x {
				tr.x[i] = float32(rng.NormFloat64())
			}
			for i := range tr.y {
				tr.y[i] = int32(rng.IntN(classes))
			}
			_, grads := tr.gradient(rows)
			analytic := make([]float64, len(tr.params))
			for _, g := range grads {
				for i, v := range g {
					analytic[i] += v
				}
			}
			const h = 1e-6
			for i := range tr.params {
				orig := tr.params[i]
				tr.params[i] = orig + h
				plus, _ := tr.gradient(rows)
				tr.params[i] = orig - h
				minus, _ := tr.gradient(rows)
				tr.params[i] = orig
				numeric := (plus - minus) / (2 * h)
				if math.Abs(numeric-analytic[i]) > 1e-7+1e-5*math.Abs(numeric) {
					t.Errorf("parameter %d: analytic %.9g, numeric %.9g", i, analytic[i], numeric)
				}
			}
		})
	}
}

func TestTrainCancel(t *testing.T) {
	x, y := smallData(1000, 2, 1)
	t.Run("before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, _, err := Train(ctx, Config{}, 64, 4, NewMemoryBatches(x, y, 64, 256, 0))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("during", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		src := &cancelAfter{Batches: NewMemoryBatches(x, y, 64, 256, 0), steps: 10, cancel: cancel}
		_, hist, err := Train(ctx, Config{}, 64, 4, src)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if len(hist.Loss) != 10 {
			t.Errorf("%d steps ran, want 10", len(hist.Loss))
		}
	})
}

// cancelAfter cancels training once it has served steps batches.
type cancelAfter struct {
	Batches
	steps  int
	cancel context.CancelFunc
}

func (c *cancelAfter) Next(ctx context.Context, x []float32, y []int32) (int, error) {
	c.steps--
	if c.steps == 0 {
		c.cancel()
	}
	return c.Batches.Next(ctx, x, y)
}

// batchFunc adapts a function to Batches.
type batchFunc func(x []float32, y []int32) (int, error)

func (f batchFunc) Next(_ context.Context, x []float32, y []int32) (int, error) { return f(x, y) }

func TestTrainErrors(t *testing.T) {
	x, y := smallData(100, 2, 1)
	bad := slices.Clone(y)
	bad[50] = 4
	errSource := errors.New("source failed")
	tests := []struct {
		name    string
		cfg     Config
		dim     int
		classes int
		src     Batches
		want    error
	}{
		{"one class", Config{}, 64, 1, NewMemoryBatches(x, y, 64, 256, 0), nil},
		{"bad config", Config{Activation: "tanh"}, 64, 4, NewMemoryBatches(x, y, 64, 256, 0), nil},
		{"dimension mismatch", Config{}, 32, 4, NewMemoryBatches(x, y, 64, 256, 0), nil},
		{"label out of range", Config{}, 64, 4, NewMemoryBatches(x, bad, 64, 256, 0), nil},
		{"label out of range through Next", Config{}, 64, 4, opaque{NewMemoryBatches(x, bad, 64, 256, 0)}, nil},
		{"empty batch", Config{}, 64, 4, batchFunc(func([]float32, []int32) (int, error) { return 0, nil }), nil},
		{"oversized batch", Config{BatchSize: 10}, 64, 4, NewMemoryBatches(x, y, 64, 20, 0), nil},
		{"source error", Config{}, 64, 4, batchFunc(func([]float32, []int32) (int, error) { return 0, errSource }), errSource},
		{"non-finite input", Config{}, 64, 4, batchFunc(func(x []float32, y []int32) (int, error) {
			x[0] = float32(math.Inf(1))
			return 1, nil
		}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _, err := Train(context.Background(), tt.cfg, tt.dim, tt.classes, tt.src)
			if err == nil || m != nil {
				t.Fatalf("Train = %v, %v; want an error", m, err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestTrainStepsAllocateNothing: the allocations of a run do not grow
// with its steps, whichever way batches arrive.
func TestTrainStepsAllocateNothing(t *testing.T) {
	x, y := smallData(2000, 2, 1)
	lx, lsk, ly := lexicalData(2000, 1)
	sketched := func() Batches { return NewMemoryBatches(lx, ly, 32, 256, 0).WithSketch(lsk) }
	for _, tt := range []struct {
		name     string
		src      func() Batches
		dim      int
		features Features
		workers  int
		slack    float64 // starting helper goroutines allocates a varying few times
	}{
		{"memory", func() Batches { return NewMemoryBatches(x, y, 64, 256, 0) }, 64, "", 1, 0},
		{"Next", func() Batches { return opaque{NewMemoryBatches(x, y, 64, 256, 0)} }, 64, "", 1, 0},
		// AllocsPerRun sets GOMAXPROCS to 1: ask for helpers anyway.
		{"memory, helpers", func() Batches { return NewMemoryBatches(x, y, 64, 256, 0) }, 64, "", 2, 3},
		{"sketch", sketched, 32, FeatureBoth, 2, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			allocs := func(steps int) float64 {
				return testing.AllocsPerRun(3, func() {
					cfg := Config{Steps: steps, Features: tt.features, SketchBuckets: 1 << 10}
					if _, _, err := train(context.Background(), cfg, tt.dim, 4, tt.src(), tt.workers, gemmAcc32); err != nil {
						t.Fatal(err)
					}
				})
			}
			short, long := allocs(10), allocs(300)
			if long > short+tt.slack {
				t.Errorf("%v allocations for 10 steps, %v for 300", short, long)
			}
		})
	}
}

// TestTrainGolden pins the weights and predictions of two short trainings
// to the bit: on amd64, the AVX2 kernels and the portable loops (go test
// -tags noasm, or a CPU without AVX2) must both give these.
func TestTrainGolden(t *testing.T) {
	x, y := smallData(2000, 2, 1)
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Steps: 30, Seed: 1}, "61a1f0523cfc2869c4f582ccfb6cc75a98aa9ffd30918fce1026b3e29f933c2b"},
		{Config{Steps: 30, Hidden: 21, Activation: None, NoAMSGrad: true}, "beeb3199729c786d2af67c634a5fcde51be66d2abd5485d3e721be2f3871e7c3"},
	}
	if runtime.GOARCH != "amd64" {
		t.Skip("the hashes are amd64's (math.Exp and math.Log are assembly there)")
	}
	for _, tt := range tests {
		m := trainOn(t, tt.cfg, x, y, 64, 4, nil, 2)
		probs := make([]float32, 100*m.Classes)
		m.Predict(x, Sparse{}, 100, probs)
		h := sha256.New()
		for _, p := range [][]float32{m.W1, m.B1, m.W2, m.B2, probs} {
			for _, v := range p {
				binary.Write(h, binary.LittleEndian, math.Float32bits(v))
			}
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != tt.want {
			t.Errorf("%+v: weights and predictions hash to %s, want %s", tt.cfg, got, tt.want)
		}
	}
}
