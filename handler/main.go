// Command handler is tinyhead's Azure Functions custom handler.
//
//	handler                         serve the functions on FUNCTIONS_CUSTOMHANDLER_PORT (what the host runs)
//	handler local [flags]           serve them locally and play the host's part for blobs (see local.go)
//	handler upload [flags] PATH...  upload files into the incoming container (see upload.go)
//	handler -h                      list the commands; handler COMMAND -h lists a command's flags
//
// Set-up steps are commands of their own under cmd/ (cmd/convert-model
// converts the embedding model), so that the handler holds the product only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tinyhead/tinyhead/internal/app"
	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/catalog"
	"github.com/tinyhead/tinyhead/internal/config"
	"github.com/tinyhead/tinyhead/internal/docparse"
	"github.com/tinyhead/tinyhead/internal/embedmodel"
	"github.com/tinyhead/tinyhead/internal/ingest"
	"github.com/tinyhead/tinyhead/internal/onnxrt"
	"github.com/tinyhead/tinyhead/internal/reembed"
	"github.com/tinyhead/tinyhead/internal/registry"
	"github.com/tinyhead/tinyhead/internal/scoring"
	"github.com/tinyhead/tinyhead/internal/serving"
	"github.com/tinyhead/tinyhead/internal/sqlstore"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
	"github.com/tinyhead/tinyhead/internal/training"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "handler:", err)
		os.Exit(1)
	}
}

// command is one of the handler's commands.
type command struct {
	name, args, summary string
	// flags defines the command's flags and returns what runs it, with
	// the other arguments, once they are parsed.
	flags func(fs *flag.FlagSet) func(ctx context.Context, args []string) error
}

// commands lists the handler's commands, the default first.
func commands() []command {
	return []command{
		{name: "serve", summary: "serve the functions on FUNCTIONS_CUSTOMHANDLER_PORT, as the Functions host runs the handler (the default)",
			flags: serveFlags},
		{name: "local", args: "[flags]", summary: "run tinyhead on this machine: Azurite, the handler and a development host that ingests what lands in incoming/ and serves the HTTP API",
			flags: localFlags},
		{name: "upload", args: "[flags] FILE|DIR...", summary: "upload files, and directories with everything under them, into the incoming container (Azurite by default)",
			flags: uploadFlags},
	}
}

// run runs the command args name, "serve" without one. -h, --help and
// help print the commands; COMMAND -h a command's flags (both exit 0).
func run(ctx context.Context, args []string) error {
	return runWith(ctx, args, os.Stdout)
}

func runWith(ctx context.Context, args []string, stdout io.Writer) error {
	name := "serve"
	if len(args) > 0 {
		name = args[0]
		args = args[1:]
	}
	switch name {
	case "-h", "-help", "--help", "help":
		printUsage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		runCmd := c.flags(fs)
		fs.SetOutput(io.Discard) // errors are returned, help is printed below
		fs.Usage = func() {}
		rest, err := parseInterspersed(fs, args)
		if errors.Is(err, flag.ErrHelp) {
			commandUsage(stdout, c, fs)
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w (handler %s -h lists the flags)", name, err, name)
		}
		return runCmd(ctx, rest)
	}
	return fmt.Errorf("unknown command %q (want serve, local or upload; handler -h lists them)", name)
}

// parseInterspersed parses flags that may come before, between or after
// the other arguments ("handler upload a.csv --to reviews/"); "--" ends
// the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		// Parse stops at the first argument that is not a flag, or after
		// "--", which it drops: then everything left is an argument.
		left := fs.Args()
		if n := len(args) - len(left); len(left) == 0 || n > 0 && args[n-1] == "--" {
			return append(rest, left...), nil
		}
		rest = append(rest, left[0])
		args = left[1:]
	}
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: handler [COMMAND] [flags]\n\ntinyhead's Azure Functions custom handler.\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-28s %s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
	}
	fmt.Fprintf(w, "  %-28s %s\n", "help, -h, --help", "print this help")
	fmt.Fprintf(w, "\nRun handler COMMAND -h for a command's flags.\n")
}

func commandUsage(w io.Writer, c command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: handler %s\n\n%s.\n", strings.TrimSpace(c.name+" "+c.args), upperFirst(c.summary))
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		fmt.Fprintf(w, "\nNo flags: settings come from the environment (the app settings).\n")
		return
	}
	fmt.Fprintf(w, "\nFlags (-name or --name; they may follow the other arguments):\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// serveFlags: serve has no flags; its settings come from the environment.
func serveFlags(*flag.FlagSet) func(context.Context, []string) error { return serveCommand }

// serveCommand is what the Functions host runs: settings come from the
// environment, relative paths from the executable's directory (the root of
// the deployment package).
func serveCommand(ctx context.Context, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("serve takes no arguments, got %q", args)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cfg, err := config.Load(os.Getenv, filepath.Dir(exe))
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel)
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen on port %d: %w", cfg.Port, err)
	}
	// Listen first, open the services behind the gate (startup.go).
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	g := newGate()
	var svc *services
	go func() {
		var err error
		svc, err = openWithRetry(ctx, log, openPatience, openFirstDelay, openMaxDelay, func(ctx context.Context) (*services, error) {
			return openServices(ctx, cfg, os.Getenv, log)
		})
		if err != nil {
			g.open(nil, err)
			cancel(err) // stop serving: the host restarts the handler
			return
		}
		g.open(svc.App.Handler(), nil)
	}()
	err = serveListener(ctx, ln, g, log)
	<-g.ready
	if svc != nil {
		svc.Close()
	}
	if err == nil && g.err != nil && !errors.Is(g.err, context.Canceled) {
		err = g.err // the services could not be opened
	}
	return err
}

// services are the handler's long-lived dependencies, opened once per
// process: one database pool, one ONNX Runtime session per embedding
// model, one blob client.
type services struct {
	App       *app.App
	Blobs     *blobstore.Client
	Store     *sqlstore.Store
	Embedders []embedmodel.Embedder // the default first
}

func openServices(ctx context.Context, cfg config.Config, getenv func(string) string, log *slog.Logger) (*services, error) {
	blobs, err := blobstore.NewFromEnv(config.StorageConnection, getenv)
	if err != nil {
		return nil, err
	}
	store, err := sqlstore.OpenWith(ctx, cfg.SQLDriver, cfg.SQLDSN,
		sqlstore.Options{MaxOpenConns: cfg.SQLMaxOpenConns, ConnMaxIdle: cfg.SQLConnMaxIdle})
	if err != nil {
		return nil, unavailable{err}
	}
	if err := onnxrt.Init(cfg.ORTLib); err != nil {
		store.Close()
		return nil, err
	}
	svc := &services{Store: store, Blobs: blobs}
	all, ingestWith, err := openEmbedders(cfg, svc)
	if err != nil {
		svc.Close()
		return nil, err
	}
	log.Info("services ready", "sql", cfg.SQLDriver, "models", all.IDs(), "ingest_models", ingestWith.IDs(), "dim", all.Default().Dim())
	pipeline := &ingest.Pipeline{
		Blobs:     blobs,
		Store:     store,
		Embedders: ingestWith,
		Log:       log,
		BatchSize: cfg.IngestBatch,
		Parse:     docparse.Options{MaxTextBytes: cfg.MaxTextBytes},
	}
	// The models container is created here rather than by infra/, so a
	// fresh storage account works without set-up.
	if err := blobs.EnsureContainer(ctx, config.ModelsContainer); err != nil {
		svc.Close()
		return nil, unavailable{err}
	}
	models := &registry.Registry{Blobs: registry.ClientBlobs(blobs), Container: config.ModelsContainer, Runtime: registry.RuntimeOf(onnxrt.NewClassifier), Log: log}
	trainer := &training.Service{Store: store, Registry: models, Embedders: all, Log: log}
	server := &serving.Service{Models: models, Embedders: all, Log: log, MaxTextBytes: cfg.MaxTextBytes}
	// Batch scoring runs heads in Go: no ONNX Runtime session per version.
	goModels := &registry.Registry{Blobs: models.Blobs, Container: models.Container, Runtime: registry.GoRuntime, Log: log}
	svc.App = &app.App{
		Ingest:   pipeline,
		Removal:  &ingest.Remover{Blobs: blobs, Store: store, Log: log},
		Training: trainer,
		Serving:  server,
		Reembed:  &reembed.Service{Store: store, Embedders: all, Log: log, Lease: cfg.ReembedLease},
		Scoring:  &scoring.Service{Store: store, Models: goModels, Log: log},
		Catalog:  &catalog.Service{Registry: models, Training: trainer},
		Labels:   store,
		Ingests:  store,
		Log:      log,
	}
	return svc, nil
}

// openEmbedders opens the default model and the extra ones into svc, and
// returns them all (the default first) and those ingest embeds with.
func openEmbedders(cfg config.Config, svc *services) (all, ingestWith tinyhead.Embedders, err error) {
	for _, dir := range append([]string{cfg.ModelDir}, cfg.ExtraModelDirs...) {
		emb, err := embedmodel.Open(dir, embedmodel.Options{Threads: cfg.EmbedThreads, BatchSize: cfg.EmbedBatch, Window: cfg.EmbedWindow})
		if err != nil {
			return nil, nil, err
		}
		svc.Embedders = append(svc.Embedders, emb)
		if _, err := all.Lookup(emb.ModelID()); err == nil {
			return nil, nil, fmt.Errorf("embedding model %s (%s) is configured twice", emb.ModelID(), dir)
		}
		all = append(all, emb)
	}
	ingestWith = all[:1]
	if slices.Equal(cfg.IngestModels, []string{"all"}) {
		return all, all, nil
	}
	for _, id := range cfg.IngestModels {
		emb, err := all.Lookup(id)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", config.IngestModels, err)
		}
		if _, err := ingestWith.Lookup(id); err != nil {
			ingestWith = append(ingestWith, emb)
		}
	}
	return all, ingestWith, nil
}

func (s *services) Close() {
	for _, e := range s.Embedders {
		e.Close()
	}
	s.Store.Close()
}

// serveListener answers on ln until ctx ends, then drains in-flight
// invocations for up to 30 s.
func serveListener(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("custom handler listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
