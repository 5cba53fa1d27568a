package mlp

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/mlp/mlptest"
)

// benchData is a 512-d, 10-class synthetic set split into training and
// validation rows.
type benchData struct {
	trainX, valX []float32
	trainY, valY []int32
	dim, classes int
}

func newBenchData(tb testing.TB, train, val int) benchData {
	tb.Helper()
	const dim, classes = 512, 10
	x, y := mlptest.Synthetic(train+val, dim, classes, 1)
	return benchData{trainX: x[:train*dim], trainY: y[:train], valX: x[train*dim:], valY: y[train:], dim: dim, classes: classes}
}

// runBench trains with the default recipe once per iteration and reports
// the validation accuracy of the last model.
func runBench[T float32 | float64](b *testing.B, d benchData, workers int) {
	runBenchConfig[T](b, d, Config{}, workers)
}

func runBenchConfig[T float32 | float64](b *testing.B, d benchData, cfg Config, workers int) {
	var m *Model
	b.ReportAllocs()
	for b.Loop() {
		src := NewMemoryBatches(d.trainX, d.trainY, d.dim, DefaultBatchSize, 1)
		var err error
		m, _, err = train(context.Background(), cfg, d.dim, d.classes, src, workers, gemmFor[T]())
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(Evaluate(m, d.valX, Sparse{}, d.valY).Accuracy, "val-accuracy")
}

// BenchmarkTrain100k is one training run of the default recipe (1000 steps
// of 256 rows) over 100,000 synthetic 512-d rows of 10 classes.
func BenchmarkTrain100k(b *testing.B) {
	d := newBenchData(b, 100_000, 10_000)
	b.ResetTimer()
	runBench[float32](b, d, runtime.GOMAXPROCS(0))
}

// BenchmarkTrain5k is the size of SpamAssassin's spam task: 4,900
// training rows of 512-d, two classes, the default recipe (hidden 16).
func BenchmarkTrain5k(b *testing.B) {
	x, y := mlptest.Synthetic(6000, 512, 2, 1)
	d := benchData{trainX: x[:4900*512], trainY: y[:4900], valX: x[4900*512:], valY: y[4900:], dim: 512, classes: 2}
	b.ResetTimer()
	runBench[float32](b, d, runtime.GOMAXPROCS(0))
}

// BenchmarkPrecision compares training in float32 and float64.
func BenchmarkPrecision(b *testing.B) {
	d := newBenchData(b, 20_000, 5_000)
	for _, w := range []int{1, 2} {
		b.Run(fmt.Sprintf("float32/workers=%d", w), func(b *testing.B) { runBench[float32](b, d, w) })
		b.Run(fmt.Sprintf("float64/workers=%d", w), func(b *testing.B) { runBench[float64](b, d, w) })
	}
}

// BenchmarkHidden prices the hidden layer's width (the default for 10
// classes is 8).
func BenchmarkHidden(b *testing.B) {
	d := newBenchData(b, 20_000, 5_000)
	for _, h := range []int{2, 8, 16, 32} {
		b.Run(fmt.Sprintf("hidden=%d", h), func(b *testing.B) {
			runBenchConfig[float32](b, d, Config{Hidden: h}, runtime.GOMAXPROCS(0))
		})
	}
}

func BenchmarkPredict(b *testing.B) {
	d := newBenchData(b, 1000, 1024)
	m, _, err := Train(context.Background(), Config{Steps: 10}, d.dim, d.classes,
		NewMemoryBatches(d.trainX, d.trainY, d.dim, DefaultBatchSize, 1))
	if err != nil {
		b.Fatal(err)
	}
	probs := make([]float32, 1024*d.classes)
	for _, n := range []int{1, 1024} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.Predict(d.valX, Sparse{}, n, probs)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
		})
	}
}

// BenchmarkAdam is one optimiser step of a 512→8→10 head with 4 shards.
func BenchmarkAdam(b *testing.B) {
	n := paramCount(512, 8, 10)
	a := newAdamW[float32](Config{}.WithDefaults(10), n)
	p := make([]float32, n)
	grads := make([][]float32, 4)
	for i := range grads {
		grads[i] = make([]float32, n)
		for j := range grads[i] {
			grads[i][j] = float32(j%7) * 1e-3
		}
	}
	for b.Loop() {
		a.step(p, grads, 1e-3)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/param")
}

// BenchmarkClassWeights compares, in one run, the default recipe on the
// spam-sized task (4,900 rows, two classes) without and with balanced
// class weights: the weighted loss costs one multiply per row.
//
//	go test -run XXX -bench ClassWeights -count 5 ./internal/mlp/
func BenchmarkClassWeights(b *testing.B) {
	x, y := mlptest.Synthetic(6000, 512, 2, 1)
	d := benchData{trainX: x[:4900*512], trainY: y[:4900], valX: x[4900*512:], valY: y[4900:], dim: 512, classes: 2}
	counts := make([]int, 2)
	for _, c := range d.trainY {
		counts[c]++
	}
	for _, cfg := range []Config{{}, {ClassWeight: ClassWeightBalanced, ClassWeights: BalancedWeights(counts)}} {
		name := "none"
		if cfg.ClassWeights != nil {
			name = "balanced"
		}
		b.Run(name, func(b *testing.B) {
			runBenchConfig[float32](b, d, cfg, runtime.GOMAXPROCS(0))
		})
	}
}

// sketchBenchData is the spam-sized task with sketches shaped like
// SpamAssassin's mails': 4,900 training and 1,100 validation rows of
// 512-d embeddings (two classes) and, per row, some 100–1,500 words drawn
// from a Zipf law over a 300,000-word vocabulary (a tenth from its class's
// own words), hashed, with sublinear TF and an L2 norm (about 420
// distinct words and bigrams a mail in the real data).
func sketchBenchData() (benchData, Sparse, Sparse) {
	const train, val, dim, vocab = 4900, 1100, 512, 300_000
	x, y := mlptest.Synthetic(train+val, dim, 2, 1)
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rng, 1.1, 1, vocab-1)
	var trainSk, valSk Sparse
	counts := map[uint32]float64{}
	for i := range train + val {
		clear(counts)
		tokens := 100 + int(rng.ExpFloat64()*400)
		for range min(tokens, 1500) {
			w := uint32(zipf.Uint64())
			if rng.IntN(10) == 0 {
				w = vocab + uint32(y[i])*vocab + w // a word of the row's class
			}
			counts[w*2654435761]++ // Knuth's multiplicative hash
		}
		idx := make([]uint32, 0, len(counts))
		for h := range counts {
			idx = append(idx, h)
		}
		slices.Sort(idx)
		val := make([]float32, len(idx))
		var norm float64
		for k, h := range idx {
			v := 1 + math.Log(counts[h])
			val[k], norm = float32(v), norm+v*v
		}
		for k := range val {
			val[k] /= float32(math.Sqrt(norm))
		}
		if i < train {
			trainSk.Append(idx, val)
		} else {
			valSk.Append(idx, val)
		}
	}
	return benchData{trainX: x[:train*dim], trainY: y[:train], valX: x[train*dim:], valY: y[train:], dim: dim, classes: 2}, trainSk, valSk
}

// BenchmarkTrainSketch5k is one training run of the default recipe with
// the sketch layer (2^16 buckets) on the spam-sized task of
// sketchBenchData, with the sketch alone and with both inputs.
//
//	go test -run XXX -bench TrainSketch5k -count 5 ./internal/mlp/
func BenchmarkTrainSketch5k(b *testing.B) {
	d, trainSk, valSk := sketchBenchData()
	for _, f := range []Features{FeatureSketch, FeatureBoth} {
		b.Run(string(f), func(b *testing.B) {
			var m *Model
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				src := NewMemoryBatches(d.trainX, d.trainY, d.dim, DefaultBatchSize, 1).WithSketch(trainSk)
				var err error
				if m, _, err = Train(context.Background(), Config{Features: f}, d.dim, d.classes, src); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric((cpuTime()-cpu).Seconds()/float64(b.N), "cpu-s/op")
			b.ReportMetric(Evaluate(m, d.valX, valSk, d.valY).Accuracy, "val-accuracy")
		})
	}
}

// cpuTime is the CPU time (user and system) the process has used: on a
// shared machine, less disturbed by other jobs than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAddSketch is the sketch layer of a two-class head over rows
// of 420 entries (a mail's sketch) folded into 2^16 buckets.
func BenchmarkAddSketch(b *testing.B) {
	const buckets, entries = 1 << 16, 420
	rng := rand.New(rand.NewPCG(1, 2))
	ws := make([]float32, buckets*2)
	for i := range ws {
		ws[i] = float32(rng.NormFloat64())
	}
	index, value := make([]uint32, entries*64), make([]float32, entries*64)
	for i := range index {
		index[i], value[i] = rng.Uint32(), float32(rng.Float64())
	}
	p := make([]float32, 2)
	for b.Loop() {
		for r := range 64 {
			addSketch(p, ws, buckets, index[r*entries:(r+1)*entries], value[r*entries:(r+1)*entries])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/row")
}
