package devenv

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPath(t *testing.T) {
	// A repository with a go.mod, entered from a folder below it.
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(root, "internal", "pkg")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	// t.TempDir may sit behind a symbolic link (macOS /var).
	root, err := filepath.EvalSymlinks(root)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"setting", map[string]string{"X": "/opt/x", CacheEnv: "/c"}, "/opt/x"},
		{"cache setting", map[string]string{CacheEnv: "/c"}, filepath.FromSlash("/c/a/b")},
		{"repository", nil, filepath.Join(root, ".cache", "a", "b")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Path(func(k string) string { return tt.env[k] }, "X", "a/b")
			if err != nil {
				t.Fatal(err)
			}
			if resolved, err := filepath.EvalSymlinks(filepath.Dir(got)); err == nil {
				got = filepath.Join(resolved, filepath.Base(got))
			}
			if got != tt.want {
				t.Errorf("Path() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRepoRootOutsideRepository(t *testing.T) {
	t.Chdir(t.TempDir())
	if root, err := RepoRoot(); err == nil {
		// A go.mod above the temporary directory (unusual) is a repository.
		t.Skipf("found a go.mod above the temporary directory: %s", root)
	}
	if _, err := CacheDir(func(string) string { return "" }); err == nil {
		t.Error("CacheDir() outside a repository and without TINYHEAD_CACHE: no error")
	}
}
