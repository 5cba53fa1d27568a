package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tinyhead/tinyhead/internal/app"
	"github.com/tinyhead/tinyhead/internal/azurite"
	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/config"
	"github.com/tinyhead/tinyhead/internal/customhandler"
	"github.com/tinyhead/tinyhead/internal/devhost"
	"github.com/tinyhead/tinyhead/internal/docparse"
	"github.com/tinyhead/tinyhead/internal/ingest"
)

// localCommand runs tinyhead on one machine without the Functions host:
// settings from local.settings.json, Azurite as blob storage (started here
// when nothing answers on its port), the handler on a loopback port of its
// own, and a development host in front of it that does the Functions
// host's part: it invokes EmbedBlob for every new blob in incoming/, and
// serves the HTTP API on --port (/api/..., /admin/functions/...).
// localOptions are the flags of handler local.
type localOptions struct {
	settings, seed, train string
	port                  int
	once, fresh           bool
}

// localFlags defines handler local's flags on fs and returns the command.
func localFlags(fs *flag.FlagSet) func(context.Context, []string) error {
	var o localOptions
	fs.StringVar(&o.settings, "settings", "local.settings.json", "settings `file` (its Values; environment variables win)")
	fs.IntVar(&o.port, "port", 7071, "port of the HTTP API, the host's front door (as func start serves it)")
	fs.StringVar(&o.seed, "seed-spamassassin", "", "upload the SpamAssassin data set from this `directory` into incoming/ first")
	fs.BoolVar(&o.once, "exit-when-done", false, "ingest what is in incoming/ now, print a summary and exit (instead of watching)")
	fs.BoolVar(&o.fresh, "fresh", false, "start from an empty database (the SQLite file removed, or every row of a SQL Server database deleted) and an empty Azurite")
	fs.StringVar(&o.train, "train", "", "with --exit-when-done: then train these comma-separated `tasks` over the HTTP API and classify two sample e-mails")
	return func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return fmt.Errorf("local takes flags only, got %q (handler local -h lists them)", args)
		}
		return localCommand(ctx, o)
	}
}

func localCommand(ctx context.Context, o localOptions) error {
	getenv, err := config.LocalSettings(o.settings)
	if err != nil {
		return err
	}
	base, err := filepath.Abs(filepath.Dir(o.settings))
	if err != nil {
		return err
	}
	cfg, err := config.Load(getenv, base)
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel)
	localDir := filepath.Join(base, ".cache", "local")
	if o.fresh {
		if err := removeLocalState(cfg, localDir); err != nil {
			return err
		}
	}
	if cfg.SQLDriver == "sqlite" {
		if err := os.MkdirAll(filepath.Dir(cfg.SQLDSN), 0o755); err != nil {
			return err
		}
	}
	if blobstore.IsDevelopmentStorage(getenv(config.StorageConnection)) {
		stop, err := ensureAzurite(ctx, filepath.Join(localDir, "azurite"), log)
		if err != nil {
			return err
		}
		defer stop()
	}

	svc, err := openServices(ctx, cfg, getenv, log)
	if err != nil {
		return err
	}
	defer svc.Close()
	if o.fresh && cfg.SQLDriver != "sqlite" {
		// A SQLite file was removed above; a database is emptied.
		if err := svc.Store.Clear(ctx); err != nil {
			return err
		}
		log.Info("emptied the database", "sql", cfg.SQLDriver)
	}
	for _, c := range []string{config.IncomingContainer, config.ModelsContainer} {
		if err := svc.Blobs.EnsureContainer(ctx, c); err != nil {
			return err
		}
	}
	// The handler gets a port of its own, as FUNCTIONS_CUSTOMHANDLER_PORT
	// gives it one under the host; --port is the gateway's.
	handlerLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for the handler: %w", err)
	}
	handlerURL := "http://" + handlerLn.Addr().String()
	functions, err := devhost.LoadFunctions(filepath.Join(base, "functions"))
	if err != nil {
		handlerLn.Close()
		return err
	}
	gateway, err := (&devhost.Gateway{HandlerURL: handlerURL, Functions: functions, Log: log}).Handler()
	if err != nil {
		handlerLn.Close()
		return err
	}
	apiLn, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.port)))
	if err != nil {
		handlerLn.Close()
		return fmt.Errorf("listen on port %d (is another handler running?): %w", o.port, err)
	}
	apiURL := "http://" + apiLn.Addr().String()
	serveCtx, stopServing := context.WithCancel(ctx)
	served := make(chan error, 2)
	go func() { served <- serveListener(serveCtx, handlerLn, svc.App.Handler(), log) }()
	go func() { served <- serveListener(serveCtx, apiLn, gateway, log) }()
	defer func() { stopServing(); <-served; <-served }()
	log.Info("HTTP API ready", "url", apiURL+"/api/", "functions", len(functions))
	log.Info("dashboard ready", "url", apiURL+"/"+dashboardPath)

	if o.seed != "" {
		n, err := uploadSpamAssassin(ctx, svc, o.seed, log)
		if err != nil {
			return err
		}
		log.Info("uploaded the SpamAssassin data set", "emails", n, "container", config.IncomingContainer)
	}
	host := &devhost.Host{
		Blobs:      svc.Blobs,
		HandlerURL: handlerURL,
		Container:  config.IncomingContainer,
		Function:   app.EmbedBlobFunction,
		Binding:    app.BlobBinding,
		// Blobs deleted while the host runs; NightlyTrain repairs the others.
		DeleteFunction: app.BlobDeletedFunction,
		DeleteBinding:  app.EventBinding,
		Log:            log,
	}
	if !o.once {
		log.Info("watching for new blobs; drop files into the incoming container (Ctrl-C stops)")
		return host.Run(ctx, func(inv devhost.Invocation) { logInvocation(log, inv) })
	}
	var sum runSummary
	start := time.Now()
	if _, err := host.Sync(ctx, func(inv devhost.Invocation) { logInvocation(log, inv); sum.add(inv) }); err != nil {
		return err
	}
	if err := sum.print(ctx, os.Stdout, svc, time.Since(start)); err != nil {
		return err
	}
	if o.train != "" {
		if err := trainAndClassify(ctx, os.Stdout, apiURL, strings.Split(o.train, ",")); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stdout, "\n== dashboard ==\n%s/%s while the local host runs: `go run ./handler local` serves this data there (this run has ended)\n",
		apiURL, dashboardPath)
	return nil
}

// dashboardPath is the Dashboard function's route under the host.
const dashboardPath = "api/dashboard"

// ensureAzurite starts Azurite on the port UseDevelopmentStorage=true
// points at unless something already answers there.
func ensureAzurite(ctx context.Context, dir string, log *slog.Logger) (stop func(), err error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(azurite.DevelopmentPort))
	if conn, err := net.DialTimeout("tcp", addr, 500*time.Millisecond); err == nil {
		conn.Close()
		log.Info("using the blob service already listening", "addr", addr)
		return func() {}, nil
	}
	srv, err := azurite.Start(ctx, azurite.Options{Port: azurite.DevelopmentPort, Dir: dir})
	if err != nil {
		return nil, err
	}
	log.Info("started Azurite", "port", srv.Port(), "data", dir)
	return srv.Stop, nil
}

func removeLocalState(cfg config.Config, localDir string) error {
	if cfg.SQLDriver == "sqlite" {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Remove(cfg.SQLDSN + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	return os.RemoveAll(filepath.Join(localDir, "azurite"))
}

// uploadSpamAssassin turns the data set's five folders into one JSON Lines
// file each, incoming/spamassassin/<folder>.jsonl, whose rows carry two
// labels: "spam" (spam or ham) and "group" (the folder). The emails are
// reduced to subject and body text by the same parser EmbedBlob uses for
// .eml files.
func uploadSpamAssassin(ctx context.Context, svc *services, dir string, log *slog.Logger) (int, error) {
	groups := []string{"easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2"}
	total := 0
	for _, group := range groups {
		files, err := filepath.Glob(filepath.Join(dir, group, "*.json"))
		if err != nil {
			return 0, err
		}
		if len(files) == 0 {
			return 0, fmt.Errorf("no emails in %s (run scripts/setup.sh)", filepath.Join(dir, group))
		}
		sort.Strings(files)
		spam := "ham"
		if strings.HasPrefix(group, "spam") {
			spam = "spam"
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				return 0, err
			}
			var email struct {
				ID   string `json:"id"`
				Text string `json:"text"`
			}
			if err := json.Unmarshal(raw, &email); err != nil {
				return 0, fmt.Errorf("parse %s: %w", f, err)
			}
			text, err := emailText(ctx, email.Text)
			if err != nil {
				log.Warn("email skipped", "file", f, "reason", err)
				continue
			}
			row := map[string]any{"id": email.ID, "text": text, "labels": map[string]string{"spam": spam, "group": group}}
			if err := enc.Encode(row); err != nil {
				return 0, err
			}
			total++
		}
		name := "spamassassin/" + group + ".jsonl"
		if _, err := svc.Blobs.Upload(ctx, config.IncomingContainer, name, bytes.NewReader(buf.Bytes()), "application/x-ndjson"); err != nil {
			return 0, fmt.Errorf("upload %s: %w", name, err)
		}
	}
	return total, nil
}

// emailText extracts subject and body of a raw email with docparse.
func emailText(ctx context.Context, raw string) (string, error) {
	var text string
	var reason string
	err := docparse.Parse(ctx, "email.eml", strings.NewReader(raw), docparse.Options{},
		func(it docparse.Item) error { text = it.Text; return nil },
		func(re docparse.RowError) { reason = re.Reason })
	if err != nil {
		return "", err
	}
	if text == "" {
		return "", fmt.Errorf("no text: %s", reason)
	}
	return text, nil
}

func logInvocation(log *slog.Logger, inv devhost.Invocation) {
	var resp customhandler.InvokeResponse
	_ = json.Unmarshal(inv.Response, &resp)
	for _, l := range resp.Logs {
		log.Info("EmbedBlob", "blob", inv.Name, "log", l)
	}
}

// runSummary adds up the ingest results of a local run.
type runSummary struct {
	mu       sync.Mutex
	files    int
	poisoned []string
	results  []ingest.Result
}

func (s *runSummary) add(inv devhost.Invocation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files++
	if inv.Poisoned {
		s.poisoned = append(s.poisoned, inv.Name)
		return
	}
	var resp struct {
		ReturnValue ingest.Result `json:"ReturnValue"`
	}
	if err := json.Unmarshal(inv.Response, &resp); err == nil {
		s.results = append(s.results, resp.ReturnValue)
	}
}

func (s *runSummary) print(ctx context.Context, w *os.File, svc *services, elapsed time.Duration) error {
	var ok, rejected, embedded int
	for _, r := range s.results {
		ok += r.RowsOK
		rejected += r.RowsRejected
		embedded += r.Embedded
	}
	stats, err := svc.Store.Stats(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n== tinyhead local run ==\n")
	fmt.Fprintf(w, "files ingested:     %d (%d given up as poison)\n", s.files-len(s.poisoned), len(s.poisoned))
	fmt.Fprintf(w, "rows stored:        %d in this run; %d documents in the store\n", ok, stats.Documents)
	fmt.Fprintf(w, "rows rejected:      %d\n", rejected)
	fmt.Fprintf(w, "texts embedded:     %d with %s (%d-d)\n", embedded, svc.Embedders[0].ModelID(), svc.Embedders[0].Dim())
	fmt.Fprintf(w, "time:               %s, %.1f embeddings/s end to end\n", elapsed.Round(time.Millisecond), float64(embedded)/elapsed.Seconds())
	tasks := make([]string, 0, len(stats.Labels))
	for t := range stats.Labels {
		tasks = append(tasks, t)
	}
	sort.Strings(tasks)
	for _, t := range tasks {
		labels := make([]string, 0, len(stats.Labels[t]))
		for l, n := range stats.Labels[t] {
			labels = append(labels, fmt.Sprintf("%s=%d", l, n))
		}
		sort.Strings(labels)
		fmt.Fprintf(w, "task %-14s %s\n", t+":", strings.Join(labels, " "))
	}
	for _, p := range s.poisoned {
		fmt.Fprintf(w, "poison: %s\n", p)
	}
	if len(s.poisoned) > 0 {
		return fmt.Errorf("%d files could not be ingested", len(s.poisoned))
	}
	return nil
}
