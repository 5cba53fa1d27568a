package deploy

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/tinyhead/tinyhead/internal/onnxembed"
)

// Paths inside the package (slash-separated, relative to its root).
const (
	HostFile   = "host.json"
	Executable = "handler"               // host.json customHandler.description.defaultExecutablePath
	ORTLibPath = "lib/libonnxruntime.so" // the handler's default TINYHEAD_ORT_LIB
	ModelPath  = "model"                 // the handler's default TINYHEAD_MODEL_DIR
	// ExtraModelsPath holds the extra embedding models, each in a folder
	// named like its source directory: TINYHEAD_EXTRA_MODEL_DIRS names
	// them (ExtraModelSetting).
	ExtraModelsPath = "models"
)

// Target platform of the package: Azure Functions on Linux (Flex
// Consumption runs x86-64 Linux workers).
const (
	TargetOS   = "linux"
	TargetArch = "amd64"
)

// MaxGlibc is the newest glibc the package may need. A cgo build needs
// the glibc symbol versions of the C library it is linked against (on
// Debian 12 the handler needs GLIBC_2.34). Which image Flex Consumption
// runs custom handlers on is not documented, and the Azure Functions 4.x
// host images have been Debian 11 (bullseye, glibc 2.31); a handler that
// needs more than the image has does not start (the host logs "version
// `GLIBC_x.y' not found"). So the handler is linked against a Debian 11
// sysroot (Options.Sysroot, which scripts/package.sh makes), and Build
// refuses a handler or an ONNX Runtime library that needs more than 2.31.
const MaxGlibc = "2.31"

// Default names under the output directory.
const (
	StageDirName = "package"      // the staged tree
	ZipName      = "tinyhead.zip" // the same tree, zipped
)

// Sources are the inputs of a package.
type Sources struct {
	Root     string // repository root: host.json and functions/
	Binary   string // the handler built for TargetOS/TargetArch
	ORTLib   string // the ONNX Runtime shared library (a symlink is followed)
	ModelDir string // the converted embedding model (model.json and the files it names)
	// ExtraModelDirs are more embedding models, each packaged under
	// ExtraModelsPath/<its directory's name>.
	ExtraModelDirs []string
}

// Options configure Build.
type Options struct {
	Root     string // repository root (go.mod, handler/, host.json, functions/)
	ORTLib   string // $TINYHEAD_ORT_LIB as scripts/env.sh sets it
	ModelDir string // $TINYHEAD_MODEL_DIR as scripts/env.sh sets it
	// ExtraModelDirs are the extra models to carry ($TINYHEAD_EXTRA_MODEL_DIRS).
	ExtraModelDirs []string
	// Sysroot is a Debian 11 root (its libc6, libc6-dev and
	// linux-libc-dev unpacked) that the handler is compiled and linked
	// against; `scripts/package.sh --sysroot` makes it and prints its path.
	Sysroot string
	OutDir  string // receives StageDirName/ and ZipName; created if missing
	// Stderr receives the go build output; nil discards it (it is part
	// of the error on failure either way).
	Stderr io.Writer
}

// Result describes a built package.
type Result struct {
	StageDir string   // the staged tree
	Zip      string   // the zip of the same tree
	Files    []string // the files in the package, slash-separated, sorted
	Binary   ELFInfo  // the handler
	ORTLib   ELFInfo  // the ONNX Runtime library
}

// Build compiles the handler for TargetOS/TargetArch and writes the
// package: the staged tree OutDir/package and OutDir/tinyhead.zip. Both are
// replaced if they exist.
func Build(ctx context.Context, o Options) (Result, error) {
	if o.Root == "" || o.ORTLib == "" || o.ModelDir == "" || o.OutDir == "" {
		return Result{}, errors.New("package: root, ONNX Runtime library, model directory and output directory are all required")
	}
	if o.Sysroot == "" {
		return Result{}, errors.New("package: no sysroot: the handler is linked against Debian 11's glibc (see deploy.MaxGlibc); " +
			"`scripts/package.sh --sysroot` makes one and prints its path")
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return Result{}, fmt.Errorf("package: %w", err)
	}
	tmp, err := os.MkdirTemp(o.OutDir, ".build-")
	if err != nil {
		return Result{}, fmt.Errorf("package: %w", err)
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, Executable)
	if err := BuildHandler(ctx, o.Root, o.Sysroot, bin, o.Stderr); err != nil {
		return Result{}, err
	}
	res := Result{StageDir: filepath.Join(o.OutDir, StageDirName), Zip: filepath.Join(o.OutDir, ZipName)}
	if res.Binary, err = InspectELF(bin); err != nil {
		return Result{}, fmt.Errorf("package: the built handler: %w", err)
	}
	if err := res.Binary.CheckTarget(elf64Exec); err != nil {
		return Result{}, fmt.Errorf("package: the built handler: %w", err)
	}
	if CompareVersions(res.Binary.GlibcFloor, MaxGlibc) > 0 {
		return Result{}, fmt.Errorf("package: the built handler needs glibc %s, newer than %s (see deploy.MaxGlibc): is %s a Debian 11 sysroot?",
			res.Binary.GlibcFloor, MaxGlibc, o.Sysroot)
	}
	if res.ORTLib, err = InspectELF(o.ORTLib); err != nil {
		return Result{}, fmt.Errorf("package: ONNX Runtime library: %w", err)
	}
	if err := res.ORTLib.CheckTarget(elf64Shared); err != nil {
		return Result{}, fmt.Errorf("package: ONNX Runtime library %s: %w", o.ORTLib, err)
	}
	if CompareVersions(res.ORTLib.GlibcFloor, MaxGlibc) > 0 {
		return Result{}, fmt.Errorf("package: ONNX Runtime library %s needs glibc %s, newer than %s", o.ORTLib, res.ORTLib.GlibcFloor, MaxGlibc)
	}
	src := Sources{Root: o.Root, Binary: bin, ORTLib: o.ORTLib, ModelDir: o.ModelDir, ExtraModelDirs: o.ExtraModelDirs}
	if res.Files, err = Stage(src, res.StageDir); err != nil {
		return Result{}, err
	}
	if err := WriteZip(res.StageDir, res.Zip); err != nil {
		return Result{}, err
	}
	return res, nil
}

// BuildHandler runs `go build` for ./handler in root with CGO_ENABLED=1,
// GOOS=linux and GOARCH=amd64, compiling and linking its C parts against
// sysroot, and writes the executable to out. Symbols are stripped (-s -w: a
// smaller package; Go's stack traces do not need them). Anywhere but on
// linux/amd64 this is a cgo cross-compilation and needs CC set to a C
// compiler for x86-64 Linux.
func BuildHandler(ctx context.Context, root, sysroot, out string, stderr io.Writer) error {
	native := runtime.GOOS == TargetOS && runtime.GOARCH == TargetArch
	if !native && os.Getenv("CC") == "" {
		return fmt.Errorf("build the handler: cgo cross-compilation from %s/%s to %s/%s needs CC set to a C compiler "+
			"for x86-64 Linux (for example CC=\"zig cc -target x86_64-linux-gnu\"), or run on linux/amd64 (WSL, a dev container)",
			runtime.GOOS, runtime.GOARCH, TargetOS, TargetArch)
	}
	flags, err := SysrootFlags(sysroot)
	if err != nil {
		return fmt.Errorf("build the handler: %w", err)
	}
	cflags := os.Getenv("CGO_CFLAGS")
	if cflags == "" {
		cflags = "-O2 -g" // cgo's default, which setting CGO_CFLAGS replaces
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "-ldflags=-s -w", "./handler")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOOS="+TargetOS, "GOARCH="+TargetArch,
		"CGO_CFLAGS="+strings.TrimSpace(cflags+" "+flags),
		"CGO_LDFLAGS="+strings.TrimSpace(os.Getenv("CGO_LDFLAGS")+" "+flags))
	var output bytes.Buffer
	if stderr != nil {
		cmd.Stdout, cmd.Stderr = io.MultiWriter(&output, stderr), io.MultiWriter(&output, stderr)
	} else {
		cmd.Stdout, cmd.Stderr = &output, &output
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build the handler (CGO_ENABLED=1 GOOS=%s GOARCH=%s, against %s: go build ./handler): %w\n%s",
			TargetOS, TargetArch, sysroot, err, output.String())
	}
	return nil
}

// SysrootLibDirs are the directories of a Debian x86-64 root that hold its
// C library, start files and linker scripts.
var SysrootLibDirs = []string{"usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu"}

// SysrootFlags returns the C compiler flags that build against the Debian
// root at dir: --sysroot (headers, and the paths inside libc.so's linker
// script), and -B for each of SysrootLibDirs. -B matters: a native gcc
// searches its own library directories — the build machine's
// /usr/lib/x86_64-linux-gnu — before the sysroot's, so without it crt1.o,
// libc.so and libpthread.so would come from the build machine and the
// binary would need the build machine's glibc. A -B directory is searched
// first for start files and, as an -L, for libraries. dir must exist and
// hold libc.so.
func SysrootFlags(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("sysroot %s: %w", dir, err)
	}
	if strings.ContainsAny(abs, " \t\n'\"\\") {
		return "", fmt.Errorf("sysroot %q: the path may not contain spaces or quotes (CGO_CFLAGS splits on them)", abs)
	}
	if _, err := os.Stat(filepath.Join(abs, SysrootLibDirs[0], "libc.so")); err != nil {
		return "", fmt.Errorf("sysroot %s has no C library (%w): `scripts/package.sh --sysroot` makes one", abs, err)
	}
	flags := []string{"--sysroot=" + abs}
	for _, d := range SysrootLibDirs {
		flags = append(flags, "-B"+filepath.Join(abs, d)+"/")
	}
	return strings.Join(flags, " "), nil
}

// stagedFile is one file of the package and where it comes from.
type stagedFile struct {
	dst  string // slash-separated path in the package
	src  string
	mode fs.FileMode
}

// plan lists the package's files: host.json, the executable, the ONNX
// Runtime library, the model's files, and every function.json.
func plan(src Sources) ([]stagedFile, error) {
	files := []stagedFile{
		{HostFile, filepath.Join(src.Root, HostFile), 0o644},
		{Executable, src.Binary, 0o755},
		{ORTLibPath, src.ORTLib, 0o755},
	}
	mf, err := modelFiles(src.ModelDir, ModelPath)
	if err != nil {
		return nil, err
	}
	files = append(files, mf...)
	for _, dir := range src.ExtraModelDirs {
		mf, err := modelFiles(dir, ExtraModelPath(dir))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if strings.HasPrefix(f.dst, ExtraModelPath(dir)+"/") {
				return nil, fmt.Errorf("package: two extra models in directories named %q", filepath.Base(dir))
			}
		}
		files = append(files, mf...)
	}
	fns, err := LoadFunctions(src.Root)
	if err != nil {
		return nil, err
	}
	// Function folders share the package root with the package's own
	// entries, so a function may not be named like one of them.
	reserved := map[string]bool{}
	for _, f := range files {
		reserved[strings.SplitN(f.dst, "/", 2)[0]] = true
	}
	for _, fn := range fns {
		if reserved[fn.Name] {
			return nil, fmt.Errorf("package: function %q collides with the package's own %q", fn.Name, fn.Name)
		}
		files = append(files, stagedFile{fn.Name + "/function.json", fn.Path, 0o644})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].dst < files[j].dst })
	return files, nil
}

// ExtraModelPath is where the package holds the extra model of dir.
func ExtraModelPath(dir string) string {
	return ExtraModelsPath + "/" + filepath.Base(filepath.Clean(dir))
}

// ExtraModelSetting is the TINYHEAD_EXTRA_MODEL_DIRS value that names the
// extra models of dirs inside the package.
func ExtraModelSetting(dirs []string) string {
	paths := make([]string, len(dirs))
	for i, d := range dirs {
		paths[i] = ExtraModelPath(d)
	}
	return strings.Join(paths, ",")
}

// modelFiles lists the files of the model in dir (model.json and those
// it names), staged under dst.
func modelFiles(dir, dst string) ([]stagedFile, error) {
	info, err := onnxembed.ReadInfo(dir)
	if err != nil {
		return nil, fmt.Errorf("package the model %s: %w", dir, err)
	}
	names := []string{"model.json", info.Model}
	if info.Vocab != "" {
		names = append(names, info.Vocab)
	}
	var files []stagedFile
	for _, name := range names {
		clean := path.Clean(filepath.ToSlash(name))
		if !fs.ValidPath(clean) || clean == "." {
			return nil, fmt.Errorf("package the model %s: %s names %q, which is not a path inside the model directory", dir, "model.json", name)
		}
		files = append(files, stagedFile{dst + "/" + clean, filepath.Join(dir, filepath.FromSlash(clean)), 0o644})
	}
	return files, nil
}

// Stage writes the package's tree into dir (removed first if it exists)
// and returns its files, slash-separated and sorted. Symlinks among the
// sources are followed: the package holds regular files only.
func Stage(src Sources, dir string) ([]string, error) {
	files, err := plan(src)
	if err != nil {
		return nil, err
	}
	// Only an earlier package (or nothing) is replaced.
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		if _, err := os.Stat(filepath.Join(dir, HostFile)); err != nil {
			return nil, fmt.Errorf("package: %s exists and is not a package (no %s); not replacing it", dir, HostFile)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("package: clear %s: %w", dir, err)
	}
	names := make([]string, 0, len(files))
	for _, f := range files {
		dst := filepath.Join(dir, filepath.FromSlash(f.dst))
		if err := copyFile(f.src, dst, f.mode); err != nil {
			return nil, fmt.Errorf("package %s: %w", f.dst, err)
		}
		names = append(names, f.dst)
	}
	return names, nil
}

// copyFile copies src (following symlinks) to dst with mode, creating
// dst's directory.
func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", src)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, mode) // OpenFile's mode is masked by the umask
}

// WriteZip writes the tree under dir into zipPath: a directory entry for
// every folder, then the files, in lexical order, with their Unix modes
// (the executable stays executable) and deflated. Only regular files and
// directories may be in the tree.
func WriteZip(dir, zipPath string) (err error) {
	var entries []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return fmt.Errorf("%s is neither a file nor a directory", p)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		entries = append(entries, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return fmt.Errorf("zip %s: %w", dir, err)
	}
	sort.Strings(entries)

	tmp := zipPath + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("zip: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	zw := zip.NewWriter(f)
	for _, name := range entries {
		p := filepath.Join(dir, filepath.FromSlash(name))
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("zip: %w", err)
		}
		h, err := zip.FileInfoHeader(st)
		if err != nil {
			return fmt.Errorf("zip %s: %w", name, err)
		}
		h.Name = name
		if st.IsDir() {
			h.Name += "/"
			h.Method = zip.Store
			if _, err := zw.CreateHeader(h); err != nil {
				return fmt.Errorf("zip %s: %w", name, err)
			}
			continue
		}
		h.Method = zip.Deflate
		w, err := zw.CreateHeader(h)
		if err != nil {
			return fmt.Errorf("zip %s: %w", name, err)
		}
		in, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("zip: %w", err)
		}
		_, err = io.Copy(w, in)
		in.Close()
		if err != nil {
			return fmt.Errorf("zip %s: %w", name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("zip: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("zip: %w", err)
	}
	if err := os.Rename(tmp, zipPath); err != nil {
		return fmt.Errorf("zip: %w", err)
	}
	return nil
}
