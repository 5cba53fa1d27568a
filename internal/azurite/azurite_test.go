package azurite

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStartTempDirRemoved(t *testing.T) {
	s, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := s.Dir()
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("data directory: %v", err)
	}
	s.Stop()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temporary data directory %s still exists after Stop (%v)", dir, err)
	}
}

func TestStartPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	// Something (not Azurite) holds the port: Azurite must fail to start
	// rather than report the other listener as ready. The listener never
	// answers HTTP, so the start runs into its timeout or Azurite's exit.
	_, err = Start(t.Context(), Options{Port: port, Dir: t.TempDir(), StartTimeout: 5 * time.Second})
	if err == nil {
		t.Fatal("Start on a taken port succeeded")
	}
	t.Log(err)
}

func TestFindBinary(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "azurite-blob")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cacheDir := t.TempDir()
	cached := filepath.Join(cacheDir, filepath.FromSlash(binRel))
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cached, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		env     map[string]string
		want    string
		wantErr string
	}{
		{"explicit", map[string]string{"TINYHEAD_AZURITE_BIN": exe}, exe, ""},
		{"explicit wins over cache", map[string]string{"TINYHEAD_AZURITE_BIN": exe, "TINYHEAD_CACHE": cacheDir}, exe, ""},
		{"explicit missing", map[string]string{"TINYHEAD_AZURITE_BIN": filepath.Join(dir, "nope")}, "", "TINYHEAD_AZURITE_BIN"},
		{"explicit not executable", map[string]string{"TINYHEAD_AZURITE_BIN": plain}, "", "not an executable"},
		{"cache", map[string]string{"TINYHEAD_CACHE": cacheDir}, cached, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FindBinary(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("FindBinary() error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("FindBinary() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestFindBinaryRepo(t *testing.T) {
	// Without settings, the executable is looked for in <repo>/.cache, the
	// repository being the first directory with a go.mod above the working
	// directory.
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, ".cache", filepath.FromSlash(binRel))
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(root, "internal", "pkg")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	noEnv := func(string) string { return "" }

	if _, err := FindBinary(noEnv); err == nil || !strings.Contains(err.Error(), "scripts/setup.sh") {
		t.Errorf("FindBinary() with nothing installed: error = %v, want one that says to run scripts/setup.sh", err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := FindBinary(noEnv)
	if err != nil {
		t.Fatal(err)
	}
	// t.TempDir may sit behind a symbolic link (macOS /var).
	if !sameFile(got, bin) {
		t.Errorf("FindBinary() = %q, want %q", got, bin)
	}
}

func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}
