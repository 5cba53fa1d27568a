// Command package builds tinyhead's deployment package (see package
// deploy): the linux/amd64 handler, ONNX Runtime, the embedding model,
// host.json and one folder per function, staged in <out>/package and
// zipped into <out>/tinyhead.zip. scripts/package.sh runs it after
// scripts/setup.sh:
//
//	go run ./internal/deploy/cmd/package -sysroot DIR [-out dist] [-ort $TINYHEAD_ORT_LIB] [-model $TINYHEAD_MODEL_DIR]
//
// DIR is the Debian 11 root the handler is linked against
// (`scripts/package.sh --sysroot` makes it and prints its path).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/tinyhead/tinyhead/internal/deploy"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "package:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("package", flag.ContinueOnError)
	root := fs.String("root", ".", "repository root")
	out := fs.String("out", "dist", "output directory (receives package/ and tinyhead.zip)")
	ort := fs.String("ort", os.Getenv("TINYHEAD_ORT_LIB"), "ONNX Runtime shared library for linux/amd64 (default $TINYHEAD_ORT_LIB)")
	model := fs.String("model", os.Getenv("TINYHEAD_MODEL_DIR"), "embedding model directory (default $TINYHEAD_MODEL_DIR)")
	extra := fs.String("model-extra", os.Getenv("TINYHEAD_EXTRA_MODEL_DIRS"), "more embedding model directories, comma-separated (default $TINYHEAD_EXTRA_MODEL_DIRS)")
	sysroot := fs.String("sysroot", os.Getenv("TINYHEAD_SYSROOT"), "Debian 11 root to link the handler against (default $TINYHEAD_SYSROOT)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *ort == "" || *model == "" {
		return fmt.Errorf("-ort and -model are required (source scripts/env.sh after scripts/setup.sh to set them)")
	}
	if *sysroot == "" {
		return fmt.Errorf("-sysroot is required (scripts/package.sh passes the one it makes)")
	}
	fmt.Fprintf(os.Stderr, "package: building the handler for linux/amd64 (cgo, against %s)\n", *sysroot)
	var extraDirs []string
	for _, d := range strings.Split(*extra, ",") {
		if d = strings.TrimSpace(d); d != "" {
			extraDirs = append(extraDirs, d)
		}
	}
	res, err := deploy.Build(ctx, deploy.Options{Root: *root, ORTLib: *ort, ModelDir: *model, ExtraModelDirs: extraDirs,
		Sysroot: *sysroot, OutDir: *out, Stderr: os.Stderr})
	if err != nil {
		return err
	}
	for _, f := range res.Files {
		st, err := os.Stat(filepath.Join(res.StageDir, filepath.FromSlash(f)))
		if err != nil {
			return err
		}
		fmt.Printf("  %s %10d  %s\n", st.Mode().Perm(), st.Size(), f)
	}
	zst, err := os.Stat(res.Zip)
	if err != nil {
		return err
	}
	fmt.Printf("handler: %v %v, needs glibc >= %s (ONNX Runtime: glibc >= %s; the limit is %s)\n",
		res.Binary.Machine, res.Binary.Type, res.Binary.GlibcFloor, res.ORTLib.GlibcFloor, deploy.MaxGlibc)
	fmt.Printf("staged %s\nwrote  %s (%.1f MiB)\n", res.StageDir, res.Zip, float64(zst.Size())/(1<<20))
	if len(extraDirs) > 0 {
		fmt.Printf("set the app setting TINYHEAD_EXTRA_MODEL_DIRS=%s (the extra models' folders in the package)\n", deploy.ExtraModelSetting(extraDirs))
	}
	return nil
}
