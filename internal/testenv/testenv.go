// Package testenv finds, for tests and benchmarks, the real components that
// scripts/setup.sh installs into the cache directory (see internal/devenv):
// the ONNX Runtime library, the converted embedding model and the
// SpamAssassin data.
//
// A missing component fails the test with the command that installs it
// when TINYHEAD_TEST_REQUIRE_SERVICES is set — scripts/test.sh, and so CI,
// sets it, so there nothing is ever skipped. Without it (a plain `go test`
// on a machine that never ran set-up) the tests that need the component
// skip with that message, and the logic tests, which run on the in-memory
// fakes of internal/inmem, still run.
package testenv

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/tinyhead/tinyhead/internal/devenv"
)

// RepoRoot is the directory holding go.mod, found from the working
// directory upwards ("" if none).
func RepoRoot() string {
	root, _ := devenv.RepoRoot()
	return root
}

// path returns $env, or underCache in the cache directory, failing the
// test when it does not exist.
func path(tb testing.TB, env, underCache string) string {
	tb.Helper()
	p, err := devenv.Path(os.Getenv, env, underCache)
	if err != nil {
		Missing(tb, "%v: run scripts/setup.sh first, or set %s", err, env)
	}
	if _, err := os.Stat(p); err != nil {
		Missing(tb, "%s not found (%v): run scripts/setup.sh first, or set %s", p, err, env)
	}
	return p
}

// RequireServices is the variable that makes a missing component fail a
// test instead of skipping it.
const RequireServices = "TINYHEAD_TEST_REQUIRE_SERVICES"

// Missing reports a real component the test needs and does not have: a
// failure when RequireServices is set, else a skip with the reason.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv(RequireServices) != "" {
		tb.Fatalf(format, args...)
	}
	tb.Skipf("skipped, a real component is missing: "+format+" (scripts/test.sh installs it and runs this test)", args...)
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

// Vocab is the default model's tokenizer vocabulary (TINYHEAD_VOCAB, or
// the converted model's copy).
func Vocab(tb testing.TB) string {
	tb.Helper()
	if os.Getenv("TINYHEAD_VOCAB") != "" {
		return path(tb, "TINYHEAD_VOCAB", "")
	}
	return filepath.Join(ModelDir(tb), "vocab.json")
}

// ModelCopy makes a second real embedding model for tests of several
// models side by side: the default model's files (linked, not copied)
// under a model.json that names id and reads at most maxTokens tokens (0
// keeps the default model's). It returns the directory.
func ModelCopy(tb testing.TB, id string, maxTokens int) string {
	tb.Helper()
	src := ModelDir(tb)
	raw, err := os.ReadFile(filepath.Join(src, "model.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var info map[string]any
	if err := json.Unmarshal(raw, &info); err != nil {
		tb.Fatal(err)
	}
	info["id"] = id
	if maxTokens > 0 {
		info["max_tokens"] = maxTokens
	}
	dir := tb.TempDir()
	for _, key := range []string{"model", "vocab"} {
		name := fmt.Sprint(info[key])
		if err := os.Symlink(filepath.Join(src, name), filepath.Join(dir, name)); err != nil {
			tb.Fatal(err)
		}
	}
	if raw, err = json.Marshal(info); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.json"), raw, 0o644); err != nil {
		tb.Fatal(err)
	}
	return dir
}
