// Command handler is tinyhead's Azure Functions custom handler.
//
//	handler                serve the functions on FUNCTIONS_CUSTOMHANDLER_PORT (what the host runs)
//	handler local [flags]  serve them locally and play the host's part for blobs (see local.go)
//
// Set-up steps are commands of their own under cmd/ (cmd/convert-model
// converts the embedding model), so that the handler holds the product only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/tinyhead/tinyhead/internal/app"
	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/config"
	"github.com/tinyhead/tinyhead/internal/docparse"
	"github.com/tinyhead/tinyhead/internal/embedmodel"
	"github.com/tinyhead/tinyhead/internal/ingest"
	"github.com/tinyhead/tinyhead/internal/onnxrt"
	"github.com/tinyhead/tinyhead/internal/registry"
	"github.com/tinyhead/tinyhead/internal/serving"
	"github.com/tinyhead/tinyhead/internal/sqlstore"
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

func run(ctx context.Context, args []string) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serveCommand(ctx, args)
	case "local":
		return localCommand(ctx, args)
	default:
		return fmt.Errorf("unknown command %q (want serve or local)", cmd)
	}
}

// serveCommand is what the Functions host runs: settings come from the
// environment, relative paths from the executable's directory (the root of
// the deployment package).
func serveCommand(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
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
// process: one database pool, one ONNX Runtime session, one blob client.
type services struct {
	App      *app.App
	Blobs    *blobstore.Client
	Store    *sqlstore.Store
	Embedder embedmodel.Embedder
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
	emb, err := embedmodel.Open(cfg.ModelDir, embedmodel.Options{Threads: cfg.EmbedThreads, BatchSize: cfg.EmbedBatch, Window: cfg.EmbedWindow})
	if err != nil {
		store.Close()
		return nil, err
	}
	log.Info("services ready", "sql", cfg.SQLDriver, "model", emb.ModelID(), "dim", emb.Dim())
	pipeline := &ingest.Pipeline{
		Blobs:     blobs,
		Store:     store,
		Embedder:  emb,
		Log:       log,
		BatchSize: cfg.IngestBatch,
		Parse:     docparse.Options{MaxTextBytes: cfg.MaxTextBytes},
	}
	// The models container is created here rather than by infra/, so a
	// fresh storage account works without set-up.
	if err := blobs.EnsureContainer(ctx, config.ModelsContainer); err != nil {
		emb.Close()
		store.Close()
		return nil, unavailable{err}
	}
	models := &registry.Registry{Blobs: registry.ClientBlobs(blobs), Container: config.ModelsContainer, Runtime: registry.RuntimeOf(onnxrt.NewClassifier), Log: log}
	trainer := &training.Service{Store: store, Registry: models, Embedding: emb, Log: log}
	server := &serving.Service{Models: models, Embedder: emb, Log: log, MaxTextBytes: cfg.MaxTextBytes}
	return &services{
		App: &app.App{
			Ingest:   pipeline,
			Removal:  &ingest.Remover{Blobs: blobs, Store: store, Log: log},
			Training: trainer,
			Serving:  server,
			Labels:   store,
			Log:      log,
		},
		Blobs:    blobs,
		Store:    store,
		Embedder: emb,
	}, nil
}

func (s *services) Close() {
	s.Embedder.Close()
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
