// Package testenv finds, for tests and benchmarks, the real components that
// scripts/setup.sh installs into the repository's .cache directory: the ONNX
// Runtime library, the converted embedding model and the SpamAssassin data.
// A missing component fails the test with the command that installs it:
// tests never skip a real component.
package testenv

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tinyhead/tinyhead/internal/onnxembed"
)

// RepoRoot is the directory holding go.mod, found from the working
// directory upwards ("" if none).
func RepoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// path returns $env, or the default under the repository's .cache.
func path(tb testing.TB, env, underCache string) string {
	tb.Helper()
	p := os.Getenv(env)
	if p == "" {
		cache := os.Getenv("TINYHEAD_CACHE")
		if cache == "" {
			cache = filepath.Join(RepoRoot(), ".cache")
		}
		p = filepath.Join(cache, underCache)
	}
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("%s not found (%v): run scripts/setup.sh first, or set %s", p, err, env)
	}
	return p
}

// ORTLib is the ONNX Runtime shared library.
func ORTLib(tb testing.TB) string {
	return path(tb, "TINYHEAD_ORT_LIB", "onnxruntime/libonnxruntime.so")
}

// ModelDir is the converted default embedding model.
func ModelDir(tb testing.TB) string {
	return path(tb, "TINYHEAD_MODEL_DIR", "model/use-lite")
}

// SpamDir is the SpamAssassin data set (easy-ham-1, …, spam-2).
func SpamDir(tb testing.TB) string {
	return path(tb, "TINYHEAD_SPAM_DIR", "data/spam-assassin")
}

// ModelSrcDir is the TF.js source of the default model.
func ModelSrcDir(tb testing.TB) string {
	return path(tb, "TINYHEAD_MODEL_SRC_DIR", "model/use-lite-src")
}

// InitRuntime loads ONNX Runtime for the test process.
func InitRuntime(tb testing.TB) {
	tb.Helper()
	if err := onnxembed.InitRuntime(ORTLib(tb)); err != nil {
		tb.Fatal(err)
	}
}

var (
	embOnce sync.Once
	emb     *onnxembed.Embedder
	embErr  error
)

// Embedder is the default model, opened once per test binary (opening it
// takes a second) and shared by the tests in it; it is safe for concurrent use.
func Embedder(tb testing.TB) *onnxembed.Embedder {
	tb.Helper()
	InitRuntime(tb)
	dir := ModelDir(tb)
	embOnce.Do(func() {
		emb, embErr = onnxembed.Open(onnxembed.Config{Dir: dir, Threads: 2})
	})
	if embErr != nil {
		tb.Fatal(embErr)
	}
	return emb
}
