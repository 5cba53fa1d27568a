// Package config reads the handler's settings from environment variables —
// app settings in Azure, local.settings.json "Values" locally — in one
// place, with defaults, so that the list of settings the app reads can be
// checked against what infra/ sets.
package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tinyhead/tinyhead/internal/embedwin"
)

// Setting names read by the handler. Storage settings follow the Azure
// Functions connection convention: StorageConnection holds a connection
// string, or StorageConnection+"__blobServiceUri" (with "__credential" and
// "__clientId") selects managed identity.
const (
	Port              = "FUNCTIONS_CUSTOMHANDLER_PORT"
	StorageConnection = "AzureWebJobsStorage"
	SQLDriver         = "TINYHEAD_SQL_DRIVER"
	SQLDSN            = "TINYHEAD_SQL_DSN"
	ModelDir          = "TINYHEAD_MODEL_DIR"
	// ExtraModelDirs lists more embedding model directories, separated by
	// commas: tasks may train on them ("embedding_model"), re-embedding
	// fills in their vectors, and versions trained on them are served.
	ExtraModelDirs = "TINYHEAD_EXTRA_MODEL_DIRS"
	// IngestModels lists the ids of the models, besides the default, that
	// ingest embeds every row with (commas; "all" for every configured
	// model). By default it embeds with the default model only.
	IngestModels = "TINYHEAD_INGEST_MODELS"
	// ReembedLease is how long a re-embedding run holds the texts it
	// claimed (a Go duration, default 2m): after it, another run takes
	// over the texts of a run that crashed.
	ReembedLease = "TINYHEAD_REEMBED_LEASE"
	ORTLib       = "TINYHEAD_ORT_LIB"
	EmbedThreads = "TINYHEAD_EMBED_THREADS"
	EmbedBatch   = "TINYHEAD_EMBED_BATCH"
	IngestBatch  = "TINYHEAD_INGEST_BATCH"
	MaxTextBytes = "TINYHEAD_MAX_TEXT_BYTES"
	LogLevel     = "TINYHEAD_LOG_LEVEL"
	// NightlySchedule is the CRON expression of the NightlyTrain timer. The
	// Functions host reads it (functions/NightlyTrain/function.json names
	// it as %TINYHEAD_NIGHTLY_SCHEDULE%), not the handler.
	NightlySchedule = "TINYHEAD_NIGHTLY_SCHEDULE"
	// DefaultNightlySchedule is 02:00 every day (UTC unless WEBSITE_TIME_ZONE says otherwise).
	DefaultNightlySchedule = "0 0 2 * * *"
)

// EmbedWindow is how texts longer than the embedding model's input are
// read: "off" clips them, "128o32x8" embeds 128-token windows overlapping
// by 32, at most 8 per document (internal/embedwin). Unset: what the model
// directory's model.json says.
const EmbedWindow = "TINYHEAD_EMBED_WINDOW"

// Settings of the SQL Server connection pool (not used with SQLite).
const (
	// SQLMaxOpenConns bounds the connections of one instance (default 4).
	SQLMaxOpenConns = "TINYHEAD_SQL_MAX_OPEN_CONNS"
	// SQLConnMaxIdle closes a connection that has been idle this long, a
	// Go duration such as "5m" (the default).
	SQLConnMaxIdle = "TINYHEAD_SQL_CONN_MAX_IDLE"
)

// Containers used by the app. The blob trigger's path in
// functions/EmbedBlob/function.json names IncomingContainer too.
const (
	IncomingContainer = "incoming"
	ModelsContainer   = "models"
)

// Config is the handler's configuration.
type Config struct {
	Port      int
	SQLDriver string // "sqlite" or "sqlserver"
	SQLDSN    string
	ModelDir  string
	// ExtraModelDirs are more embedding models, after the default.
	ExtraModelDirs []string
	// IngestModels are the model ids ingest embeds with besides the
	// default; nil is the default only, []string{"all"} every model.
	IngestModels []string
	ReembedLease time.Duration
	ORTLib       string
	EmbedThreads int // 0: one per CPU
	// EmbedWindow is nil unless TINYHEAD_EMBED_WINDOW is set.
	EmbedWindow *embedwin.Window
	// The sizes are 0 unless set: each package that uses one has its
	// default (onnxembed.DefaultBatchSize, ingest.Pipeline's BatchSize,
	// docparse.DefaultMaxTextBytes), written there only.
	EmbedBatch   int
	IngestBatch  int
	MaxTextBytes int
	LogLevel     string
	// The SQL Server connection pool: at most SQLMaxOpenConns
	// connections, each closed after SQLConnMaxIdle unused.
	SQLMaxOpenConns int
	SQLConnMaxIdle  time.Duration
}

// Load reads the configuration through getenv (os.Getenv in production).
// Relative paths are resolved against base, the directory of the handler
// executable in a deployment package or the repository root locally.
func Load(getenv func(string) string, base string) (Config, error) {
	c := Config{
		SQLDriver: or(getenv(SQLDriver), "sqlite"),
		SQLDSN:    getenv(SQLDSN),
		ModelDir:  abs(base, or(getenv(ModelDir), "model")),
		ORTLib:    abs(base, or(getenv(ORTLib), "lib/libonnxruntime.so")),
		LogLevel:  or(getenv(LogLevel), "info"),
	}
	var err error
	ints := []struct {
		name string
		dst  *int
		def  int
	}{
		{Port, &c.Port, 8080},
		{EmbedThreads, &c.EmbedThreads, 0},
		{EmbedBatch, &c.EmbedBatch, 0},
		{IngestBatch, &c.IngestBatch, 0},
		{MaxTextBytes, &c.MaxTextBytes, 0},
		{SQLMaxOpenConns, &c.SQLMaxOpenConns, 4},
	}
	for _, s := range ints {
		if *s.dst, err = intSetting(getenv, s.name, s.def); err != nil {
			return Config{}, err
		}
	}
	if v := getenv(EmbedWindow); v != "" {
		w, err := embedwin.Parse(v)
		if err != nil {
			return Config{}, fmt.Errorf("%s: %w", EmbedWindow, err)
		}
		c.EmbedWindow = &w
	}
	if c.SQLMaxOpenConns == 0 {
		return Config{}, fmt.Errorf("%s=0: want at least 1", SQLMaxOpenConns)
	}
	if c.SQLConnMaxIdle, err = durationSetting(getenv, SQLConnMaxIdle, 5*time.Minute); err != nil {
		return Config{}, err
	}
	if c.ReembedLease, err = durationSetting(getenv, ReembedLease, 2*time.Minute); err != nil {
		return Config{}, err
	}
	for _, dir := range list(getenv(ExtraModelDirs)) {
		c.ExtraModelDirs = append(c.ExtraModelDirs, abs(base, dir))
	}
	c.IngestModels = list(getenv(IngestModels))
	switch c.SQLDriver {
	case "sqlite":
		c.SQLDSN = abs(base, or(c.SQLDSN, "tinyhead.db"))
	case "sqlserver":
		if c.SQLDSN == "" {
			return Config{}, fmt.Errorf("%s is required when %s=sqlserver", SQLDSN, SQLDriver)
		}
	default:
		return Config{}, fmt.Errorf("%s=%q: want sqlite or sqlserver", SQLDriver, c.SQLDriver)
	}
	return c, nil
}

func intSetting(getenv func(string) string, name string, def int) (int, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s=%q: want a non-negative integer", name, v)
	}
	return n, nil
}

// durationSetting reads a positive Go duration ("90s", "5m").
func durationSetting(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive duration such as 90s or 5m", name, v)
	}
	return d, nil
}

// list splits a comma-separated setting, dropping empty items.
func list(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func abs(base, p string) string {
	if p == "" || filepath.IsAbs(p) || base == "" {
		return p
	}
	return filepath.Join(base, p)
}

// LocalSettings reads the "Values" of a local.settings.json file, the way
// the Functions Core Tools do, and returns a getenv that prefers real
// environment variables over those values.
func LocalSettings(path string) (func(string) string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read local settings: %w", err)
	}
	var f struct {
		Values map[string]string `json:"Values"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return func(name string) string {
		if v, ok := os.LookupEnv(name); ok {
			return v
		}
		return f.Values[name]
	}, nil
}
