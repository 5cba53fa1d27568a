// Package embedtest gives tests and benchmarks the real default embedding
// model, loaded once per test binary.
package embedtest

import (
	"math"
	"sync"
	"testing"

	"github.com/tinyhead/tinyhead/internal/onnxembed"
	"github.com/tinyhead/tinyhead/internal/onnxrt"
	"github.com/tinyhead/tinyhead/internal/testenv"
)

// InitRuntime loads ONNX Runtime for the test process.
func InitRuntime(tb testing.TB) {
	tb.Helper()
	if err := onnxrt.Init(testenv.ORTLib(tb)); err != nil {
		tb.Fatal(err)
	}
}

var (
	once sync.Once
	emb  *onnxembed.Embedder
	err  error
)

// Embedder is the default model with 2 intra-op threads, opened once per
// test binary (opening takes a second) and shared by its tests; it is safe
// for concurrent use.
func Embedder(tb testing.TB) *onnxembed.Embedder {
	tb.Helper()
	InitRuntime(tb)
	dir := testenv.ModelDir(tb)
	once.Do(func() {
		emb, err = onnxembed.Open(onnxembed.Config{Dir: dir, Threads: 2})
	})
	if err != nil {
		tb.Fatal(err)
	}
	return emb
}

// CheckReference embeds three sentences with e and checks their cosines
// against those the original TF.js Universal Sentence Encoder Lite gives
// (docs/design.md), to 3 decimals, and that the vectors are 512-d unit
// vectors.
func CheckReference(tb testing.TB, e *onnxembed.Embedder) {
	tb.Helper()
	texts := []string{"A dog runs in the park", "The dog is running in the park", "I love pizza"}
	vecs, err := e.Embed(tb.Context(), texts)
	if err != nil {
		tb.Fatal(err)
	}
	if len(vecs) != len(texts) {
		tb.Fatalf("%d vectors for %d texts", len(vecs), len(texts))
	}
	tests := []struct {
		a, b int
		want float64
	}{
		{0, 1, 0.8924},
		{0, 2, 0.1072},
		{1, 2, 0.0669},
	}
	for _, tt := range tests {
		got := Cosine(vecs[tt.a], vecs[tt.b])
		if math.Abs(got-tt.want) >= 0.0005 {
			tb.Errorf("cos(%q, %q) = %.4f, want %.4f", texts[tt.a], texts[tt.b], got, tt.want)
		}
	}
	for i, v := range vecs {
		if len(v) != 512 {
			tb.Fatalf("vector %d has %d dims", i, len(v))
		}
		if n := math.Sqrt(Dot(v, v)); math.Abs(n-1) > 1e-4 {
			tb.Errorf("vector %d norm %.5f, want unit", i, n)
		}
	}
}

// Dot is the dot product of a and b, in float64.
func Dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// Cosine is the cosine of the angle between a and b.
func Cosine(a, b []float32) float64 {
	return Dot(a, b) / math.Sqrt(Dot(a, a)*Dot(b, b))
}
