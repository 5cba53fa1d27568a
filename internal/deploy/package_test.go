package deploy_test

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinyhead/tinyhead/internal/azurite/azuritetest"
	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/config"
	"github.com/tinyhead/tinyhead/internal/deploy"
	"github.com/tinyhead/tinyhead/internal/handlertest"
	"github.com/tinyhead/tinyhead/internal/sqlstore"
	"github.com/tinyhead/tinyhead/internal/testenv"
)

// ortGlibcFloor is the newest glibc symbol version that the ONNX Runtime
// release scripts/setup.sh installs (1.24.3) needs; the README states it.
// A new release that changes it fails TestPackage until both are updated.
const ortGlibcFloor = "2.27"

// TestPackage builds the deployment package exactly as scripts/package.sh
// does (deploy.Build: go build with cgo for linux/amd64 against the Debian
// 11 sysroot, then the staged tree and the zip), then checks the zip: its
// layout and file modes, that its files are the sources', that the handler
// is an x86-64 Linux executable needing glibc 2.31 at most, that every
// symbol version the handler and ONNX Runtime need is defined by Debian
// 11's libraries, and — the real test — that the handler unpacked from it,
// started the way the Functions host starts it with no path settings at
// all, loads the packaged ONNX Runtime and model and ingests a blob from a
// blob-trigger invocation.
func TestPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the handler binary")
	}
	root := repoRoot(t)
	ortLib, modelDir := testenv.ORTLib(t), testenv.ModelDir(t)
	// A second embedding model travels too (TINYHEAD_EXTRA_MODEL_DIRS).
	extraDir := testenv.ModelCopy(t, extraModel, 0)
	extra := deploy.ExtraModelPath(extraDir)
	sysroot := debian11Sysroot(t)
	ctx := context.Background()
	res, err := deploy.Build(ctx, deploy.Options{Root: root, ORTLib: ortLib, ModelDir: modelDir, ExtraModelDirs: []string{extraDir},
		Sysroot: sysroot, OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}

	fns, err := deploy.LoadFunctions(root)
	if err != nil {
		t.Fatal(err)
	}
	// What the zip must hold: path → source file (nil for directories)
	// and mode.
	type want struct {
		src  string
		mode fs.FileMode
	}
	wantEntries := map[string]want{
		"host.json":             {filepath.Join(root, "host.json"), 0o644},
		"handler":               {"", 0o755}, // built: checked as ELF below
		"lib/":                  {"", fs.ModeDir | 0o755},
		"lib/libonnxruntime.so": {ortLib, 0o755},
		"model/":                {"", fs.ModeDir | 0o755},
		"model/model.json":      {filepath.Join(modelDir, "model.json"), 0o644},
		"model/model.onnx":      {filepath.Join(modelDir, "model.onnx"), 0o644},
		"model/vocab.json":      {filepath.Join(modelDir, "vocab.json"), 0o644},
		"models/":               {"", fs.ModeDir | 0o755},
		extra + "/":             {"", fs.ModeDir | 0o755},
		extra + "/model.json":   {filepath.Join(extraDir, "model.json"), 0o644},
		extra + "/model.onnx":   {filepath.Join(modelDir, "model.onnx"), 0o644},
		extra + "/vocab.json":   {filepath.Join(modelDir, "vocab.json"), 0o644},
	}
	for _, fn := range fns {
		wantEntries[fn.Name+"/"] = want{"", fs.ModeDir | 0o755}
		wantEntries[fn.Name+"/function.json"] = want{fn.Path, 0o644}
	}

	zr, err := zip.OpenReader(res.Zip)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()

	t.Run("layout", func(t *testing.T) {
		var got, wantNames []string
		for _, f := range zr.File {
			got = append(got, f.Name)
		}
		for name := range wantEntries {
			wantNames = append(wantNames, name)
		}
		slices.Sort(wantNames)
		if !slices.Equal(got, wantNames) {
			t.Fatalf("zip entries\n  %v\nwant (sorted)\n  %v", got, wantNames)
		}
		for _, f := range zr.File {
			if w := wantEntries[f.Name]; f.Mode() != w.mode {
				t.Errorf("%s: mode %v, want %v", f.Name, f.Mode(), w.mode)
			}
		}
		// The staged tree (what azd deploys) has the same files.
		var staged []string
		for _, name := range wantNames {
			if !strings.HasSuffix(name, "/") {
				staged = append(staged, name)
			}
		}
		if !slices.Equal(res.Files, staged) {
			t.Errorf("staged files %v, want %v", res.Files, staged)
		}
	})

	t.Run("contents", func(t *testing.T) {
		for _, f := range zr.File {
			w := wantEntries[f.Name]
			if w.src == "" {
				continue
			}
			if got, want := zipSum(t, f), fileSum(t, w.src); got != want {
				t.Errorf("%s differs from %s", f.Name, w.src)
			}
			staged := filepath.Join(res.StageDir, filepath.FromSlash(f.Name))
			if got, want := fileSum(t, staged), fileSum(t, w.src); got != want {
				t.Errorf("staged %s differs from %s", f.Name, w.src)
			}
		}
	})

	dir := t.TempDir()
	unzip(t, zr, dir)

	t.Run("handler is an x86-64 Linux executable", func(t *testing.T) {
		f, err := elf.Open(filepath.Join(dir, deploy.Executable))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || (f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX) {
			t.Errorf("ELF %v %v %v, want ELFCLASS64 EM_X86_64 (System V or Linux ABI)", f.Class, f.Machine, f.OSABI)
		}
		info, err := deploy.InspectELF(filepath.Join(dir, deploy.Executable))
		if err != nil {
			t.Fatal(err)
		}
		if info.Interpreter != "/lib64/ld-linux-x86-64.so.2" {
			t.Errorf("interpreter %q: not a glibc x86-64 executable", info.Interpreter)
		}
		if info.GlibcFloor == "" || deploy.CompareVersions(info.GlibcFloor, deploy.MaxGlibc) > 0 {
			t.Errorf("the handler needs glibc %q; want at most deploy.MaxGlibc %s", info.GlibcFloor, deploy.MaxGlibc)
		}
		t.Logf("handler: %v %v, needs glibc >= %s, loads %v", info.Machine, info.Type, info.GlibcFloor, info.Needed)
		lib, err := deploy.InspectELF(filepath.Join(dir, filepath.FromSlash(deploy.ORTLibPath)))
		if err != nil {
			t.Fatal(err)
		}
		if lib.Machine != elf.EM_X86_64 || lib.Type != elf.ET_DYN {
			t.Errorf("%s: %v %v, want an x86-64 shared library", deploy.ORTLibPath, lib.Machine, lib.Type)
		}
		if lib.GlibcFloor != ortGlibcFloor || deploy.CompareVersions(lib.GlibcFloor, deploy.MaxGlibc) > 0 {
			t.Errorf("%s needs glibc %s; want %s (ortGlibcFloor, stated in the README), at most deploy.MaxGlibc %s",
				deploy.ORTLibPath, lib.GlibcFloor, ortGlibcFloor, deploy.MaxGlibc)
		}
		t.Logf("%s: needs glibc >= %s, loads %v", deploy.ORTLibPath, lib.GlibcFloor, lib.Needed)
	})

	t.Run("Debian 11 defines every symbol version the package needs", func(t *testing.T) {
		for _, name := range []string{deploy.Executable, deploy.ORTLibPath} {
			info, err := deploy.InspectELF(filepath.Join(dir, filepath.FromSlash(name)))
			if err != nil {
				t.Fatal(err)
			}
			for _, lib := range info.Needed {
				if _, err := sysrootLib(sysroot, lib); err != nil {
					t.Errorf("%s loads %s: %v", name, lib, err)
				}
			}
			for lib, versions := range info.VersionNeeds {
				defined, err := definedVersions(sysroot, lib)
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				for _, v := range versions {
					if !defined[v] {
						t.Errorf("%s needs %s from %s, which Debian 11's %s does not define", name, v, lib, lib)
					}
				}
			}
		}
	})

	t.Run("the handler's default paths are the package's", func(t *testing.T) {
		cfg, err := config.Load(func(string) string { return "" }, dir)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.ORTLib != filepath.Join(dir, filepath.FromSlash(deploy.ORTLibPath)) {
			t.Errorf("default %s is %s; the package has the library at %s", config.ORTLib, cfg.ORTLib, deploy.ORTLibPath)
		}
		if cfg.ModelDir != filepath.Join(dir, deploy.ModelPath) {
			t.Errorf("default %s is %s; the package has the model at %s", config.ModelDir, cfg.ModelDir, deploy.ModelPath)
		}
	})

	t.Run("the packaged handler ingests a blob", func(t *testing.T) {
		startPackagedHandler(t, dir, deploy.ExtraModelSetting([]string{extraDir}))
	})
}

// startPackagedHandler starts <dir>/handler as the Functions host does —
// settings in the environment, the port in FUNCTIONS_CUSTOMHANDLER_PORT —
// with storage on Azurite and SQLite in a temporary directory, and no
// TINYHEAD_MODEL_DIR or TINYHEAD_ORT_LIB (scripts/env.sh exports both: they
// are removed), from another working directory: the library and the model
// can only come from the package, found next to the executable. Then it
// sends the blob-trigger invocation the host sends and checks the rows.
func startPackagedHandler(t *testing.T, dir, extraModels string) {
	az := azuritetest.Start(t)
	ctx := context.Background()
	blobs, err := blobstore.NewFromConnectionString(az.ConnectionString())
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "tinyhead.db")
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "TINYHEAD_") || strings.HasPrefix(name, "AzureWebJobs") || strings.HasPrefix(name, "FUNCTIONS_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		config.StorageConnection+"="+az.ConnectionString(),
		config.SQLDSN+"="+db,
		config.ExtraModelDirs+"="+extraModels,
		config.IngestModels+"=all",
	)
	h := handlertest.Start(t, filepath.Join(dir, deploy.Executable), t.TempDir(), env)
	h.Ready(t)

	content := []byte("id,text,topic\n1,The dog is running in the park,pets\n2,I love pizza,food\n")
	status, out := h.EmbedBlob(t, blobs, "deploy/greetings.csv", content, "text/csv")
	if status != http.StatusOK || !strings.Contains(out, "2 rows stored") {
		t.Fatalf("EmbedBlob: %d %s\n%s", status, out, h.Logs())
	}

	store, err := sqlstore.Open(ctx, sqlstore.DriverSQLite, db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	doc, err := store.GetDocument(ctx, "incoming/deploy/greetings.csv", "2")
	if err != nil {
		t.Fatal(err)
	}
	if doc.Labels["topic"] != "food" || len(doc.Embeddings["use-lite-en@0.2.0"]) != 512 || len(doc.Embeddings[extraModel]) != 512 {
		t.Errorf("stored document: labels %v, vectors %d-d and %d-d; want topic=food, 512-d of both packaged models",
			doc.Labels, len(doc.Embeddings["use-lite-en@0.2.0"]), len(doc.Embeddings[extraModel]))
	}
	if !strings.Contains(h.Logs(), "use-lite-en") {
		t.Errorf("the handler's log does not name the packaged model:\n%s", h.Logs())
	}
}

// extraModel is the id of the second model the package carries.
const extraModel = "use-lite-en@0.2.0-copy"

// debian11Sysroot returns the Debian 11 root the handler is linked
// against: $TINYHEAD_SYSROOT, or the one `scripts/package.sh --sysroot`
// makes under the cache (once; it prints the path).
func debian11Sysroot(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("TINYHEAD_SYSROOT"); dir != "" {
		return dir
	}
	cmd := exec.Command("bash", filepath.Join(repoRoot(t), "scripts", "package.sh"), "--sysroot")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/package.sh --sysroot: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

// sysrootLib finds a shared library of the Debian root by its soname, where
// the dynamic loader looks on Debian.
func sysrootLib(sysroot, soname string) (string, error) {
	for _, d := range []string{"lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64"} {
		p := filepath.Join(sysroot, d, soname)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no %s in Debian 11 (the sysroot %s)", soname, sysroot)
}

// definedVersions returns the symbol versions the Debian root's library
// soname defines (its SHT_GNU_verdef section).
func definedVersions(sysroot, soname string) (map[string]bool, error) {
	p, err := sysrootLib(sysroot, soname)
	if err != nil {
		return nil, err
	}
	f, err := elf.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vs, err := f.DynamicVersions()
	if err != nil {
		return nil, fmt.Errorf("the versions %s defines: %w", p, err)
	}
	defined := map[string]bool{}
	for _, v := range vs {
		defined[v.Name] = true
	}
	return defined, nil
}

// TestMaxGlibcIsDebian11 checks deploy.MaxGlibc against the sysroot the
// handler is linked against: its libc6 package is glibc MaxGlibc, and its
// libc.so.6 defines no GLIBC_ version newer than that (glibc 2.31 added
// none on x86-64: its newest is GLIBC_2.30).
func TestMaxGlibcIsDebian11(t *testing.T) {
	if testing.Short() {
		t.Skip("makes the Debian 11 sysroot")
	}
	sysroot := debian11Sysroot(t)
	stamp, err := os.ReadFile(filepath.Join(sysroot, ".tinyhead-sysroot"))
	if err != nil {
		t.Fatal(err)
	}
	var release string
	for _, line := range strings.Split(string(stamp), "\n") {
		if v, ok := strings.CutPrefix(line, "libc6 "); ok {
			release, _, _ = strings.Cut(v, "-") // 2.31-13+deb11u14 → 2.31
		}
	}
	if release != deploy.MaxGlibc {
		t.Errorf("the sysroot's libc6 is glibc %q; deploy.MaxGlibc is %s", release, deploy.MaxGlibc)
	}
	defined, err := definedVersions(sysroot, "libc.so.6")
	if err != nil {
		t.Fatal(err)
	}
	for v := range defined {
		if n, ok := strings.CutPrefix(v, "GLIBC_"); ok && deploy.CompareVersions(n, deploy.MaxGlibc) > 0 {
			t.Errorf("the sysroot's libc.so.6 defines %s, newer than deploy.MaxGlibc %s", v, deploy.MaxGlibc)
		}
	}
}

func TestSysrootFlags(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "usr/lib/x86_64-linux-gnu"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "usr/lib/x86_64-linux-gnu/libc.so"), []byte("/* GNU ld script */"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dir     string
		want    string
		wantErr string
	}{
		{root, "--sysroot=" + root + " -B" + root + "/usr/lib/x86_64-linux-gnu/ -B" + root + "/lib/x86_64-linux-gnu/", ""},
		{t.TempDir(), "", "has no C library"},
		{filepath.Join(root, "with space"), "", "may not contain spaces"},
	}
	for _, tt := range tests {
		got, err := deploy.SysrootFlags(tt.dir)
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("SysrootFlags(%q) error %v, want one containing %q", tt.dir, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || got != tt.want):
			t.Errorf("SysrootFlags(%q) = %q, %v; want %q", tt.dir, got, err, tt.want)
		}
	}
}

func unzip(t *testing.T, zr *zip.ReadCloser, dir string) {
	t.Helper()
	for _, f := range zr.File {
		clean := path.Clean(f.Name)
		if !fs.ValidPath(clean) {
			t.Fatalf("zip entry %q escapes the directory", f.Name)
		}
		dst := filepath.Join(dir, filepath.FromSlash(clean))
		if f.FileInfo().IsDir() {
			if err := os.MkdirAll(dst, f.Mode().Perm()); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, f.Mode().Perm())
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(out, rc)
		rc.Close()
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func zipSum(t *testing.T, f *zip.File) [32]byte {
	t.Helper()
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

func fileSum(t *testing.T, p string) [32]byte {
	t.Helper()
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(raw)
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"2.34", "2.36", -1},
		{"2.36", "2.36", 0},
		{"2.3.2", "2.17", -1},
		{"2.17", "2.3.4", 1},
		{"", "2.2.5", -1},
		{"2.40", "2.4", 1},
	}
	for _, tt := range tests {
		if got := deploy.CompareVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
