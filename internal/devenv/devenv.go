// Package devenv locates what scripts/setup.sh installs for development —
// Azurite, the ONNX Runtime library, the converted model, the data set — in
// the cache directory: $TINYHEAD_CACHE, else .cache at the repository root.
// scripts/env.sh names the same paths for the shell. Tests (through
// internal/testenv) and the local run use it; a deployment never does.
package devenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// CacheEnv names the setting that overrides the cache directory.
const CacheEnv = "TINYHEAD_CACHE"

// RepoRoot returns the first directory at or above the working directory
// that holds a go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find the repository root: no go.mod at or above the working directory")
		}
		dir = parent
	}
}

// CacheDir returns $TINYHEAD_CACHE, read with getenv, else <repo>/.cache.
// (The caller passes os.Getenv: this package reads no environment of its
// own, so that what the handler reads stays in view; see
// internal/deploy's settings tests.)
func CacheDir(getenv func(string) string) (string, error) {
	if dir := getenv(CacheEnv); dir != "" {
		return dir, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", fmt.Errorf("find the cache directory (set %s): %w", CacheEnv, err)
	}
	return filepath.Join(root, ".cache"), nil
}

// Path returns the setting env when it is set, else rel (slash-separated)
// under CacheDir. It does not check that the path exists.
func Path(getenv func(string) string, env, rel string) (string, error) {
	if p := getenv(env); p != "" {
		return p, nil
	}
	dir, err := CacheDir(getenv)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, filepath.FromSlash(rel)), nil
}
