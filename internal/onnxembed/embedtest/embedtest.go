// Package embedtest gives tests and benchmarks the real default embedding
// model, loaded once per test binary.
package embedtest

import (
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
