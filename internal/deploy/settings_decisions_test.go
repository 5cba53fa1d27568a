package deploy_test

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/config"
)

// Reader says who reads a setting.
type Reader string

const (
	ByHandler Reader = "handler"          // the custom handler (internal/config, internal/blobstore)
	ByHost    Reader = "host"             // the Functions host or the platform
	ByBoth    Reader = "handler and host" // both
)

// Infra says what infra/ does with a setting.
type Infra string

const (
	// Set: infra/ sets it, because there is no safe default in Azure.
	Set Infra = "set"
	// Default: infra/ leaves it unset, because the handler's default is
	// right for the deployment package.
	Default Infra = "default"
	// Never: infra/ must not set it (the host provides it, it would hold a
	// secret, it is an alternative form of a setting infra/ does set, or
	// Flex Consumption rejects it).
	Never Infra = "never"
)

// Setting is one app setting that someone reads, and what infra/ does
// with it.
type Setting struct {
	Name   string
	Reader Reader
	Infra  Infra
	Why    string
}

// Settings is the decision for every setting the handler reads (all of
// them: the tests check this list against the names the handler actually
// looks up) and for the settings of the Functions host that matter here.
// infra/app/api.bicep sets exactly the ones marked Set.
var Settings = []Setting{
	// Read by the handler (and, for storage, by the host too).
	{config.Port, ByHandler, Never, "the host picks the port and sets it when it starts the handler"},
	{config.StorageConnection, ByBoth, Never, "a connection string holds an account key; shared-key access is disabled"},
	{config.StorageConnection + "__blobServiceUri", ByBoth, Set, "identity-based storage: the blob service (host storage, the blob trigger, the app's containers)"},
	{config.StorageConnection + "__credential", ByBoth, Set, "managedidentity: use an identity, not the default credential chain"},
	{config.StorageConnection + "__clientId", ByBoth, Set, "which managed identity: the app's user-assigned one"},
	{config.StorageConnection + "__serviceUri", ByHandler, Never, "an alternative to __blobServiceUri, which is set"},
	{config.StorageConnection + "__accountName", ByHandler, Never, "an alternative to __blobServiceUri, which is set"},
	{config.SQLDriver, ByHandler, Set, "the default, sqlite, would keep the data in a file on one instance"},
	{config.SQLDSN, ByHandler, Set, "which Azure SQL database, reached with the managed identity (fedauth=ActiveDirectoryManagedIdentity)"},
	{config.ModelDir, ByHandler, Default, "the default, model/ next to the executable, is where the package puts the model"},
	{config.EmbedWindow, ByHandler, Default, "each model directory's model.json says how long texts are windowed"},
	{config.ExtraModelDirs, ByHandler, Default, "no extra embedding models: a deployment that adds one sets it to the model directories' paths in the package (scripts/package.sh -model-extra carries them)"},
	{config.IngestModels, ByHandler, Default, "ingest embeds with the default model only; other models are filled in by Reembed"},
	{config.ReembedLease, ByHandler, Default, "2m: a re-embedding batch takes seconds, and a crashed run's texts are taken over after it"},
	{config.ORTLib, ByHandler, Default, "the default, lib/libonnxruntime.so next to the executable, is where the package puts it"},
	{config.EmbedThreads, ByHandler, Default, "one ONNX Runtime thread per CPU of the instance"},
	{config.EmbedBatch, ByHandler, Default, "32 texts per model run"},
	{config.IngestBatch, ByHandler, Default, "256 rows per transaction"},
	{config.MaxTextBytes, ByHandler, Default, "1 MiB per text"},
	{config.LogLevel, ByHandler, Default, "info"},
	{config.SQLMaxOpenConns, ByHandler, Default, "4 connections per instance: a statement holds a database worker only while it runs, and the worker limit error (10928) is retried"},
	{config.SQLConnMaxIdle, ByHandler, Default, "5m: idle sessions are closed, so the serverless database can pause"},

	// Read by the Functions host only.
	{config.StorageConnection + "__queueServiceUri", ByHost, Set, "the blob trigger's receipts and poison queue live in queues"},
	{"APPLICATIONINSIGHTS_CONNECTION_STRING", ByHost, Set, "where the host sends logs and metrics (an identifier, not a credential: local auth is off)"},
	{"APPLICATIONINSIGHTS_AUTHENTICATION_STRING", ByHost, Set, "the host authenticates to Application Insights with the managed identity"},
	{config.NightlySchedule, ByHost, Set, "functions/NightlyTrain/function.json's schedule is %" + config.NightlySchedule + "%; the host cannot index the function without it"},
	{"FUNCTIONS_WORKER_RUNTIME", ByHost, Never, "Flex Consumption rejects it: the runtime (custom 1.0) is in functionAppConfig"},
	{"FUNCTIONS_EXTENSION_VERSION", ByHost, Never, "Flex Consumption rejects it: it always runs Functions 4.x"},
	{"WEBSITE_RUN_FROM_PACKAGE", ByHost, Never, "Flex Consumption rejects it: the package comes from functionAppConfig.deployment"},
	{"WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", ByHost, Never, "Flex Consumption has no content share, and the value would hold a key"},
	{"WEBSITE_CONTENTSHARE", ByHost, Never, "Flex Consumption has no content share"},
}

// Lookup returns the decision for name.
func Lookup(name string) (Setting, bool) {
	for _, s := range Settings {
		if s.Name == name {
			return s, true
		}
	}
	return Setting{}, false
}

// HandlerReads returns the names of the settings the handler looks up, by
// watching it: it runs config.Load and blobstore.NewFromEnv (the two places
// `handler serve` passes its getenv to; see handler/main.go) with a getenv
// that records every name and answers "". Both read all their settings
// unconditionally when nothing is set.
func HandlerReads() ([]string, error) {
	seen := map[string]bool{}
	getenv := func(name string) string {
		seen[name] = true
		return ""
	}
	if _, err := config.Load(getenv, "/app"); err != nil {
		return nil, fmt.Errorf("config.Load with no settings: %w", err)
	}
	if _, err := blobstore.NewFromEnv(config.StorageConnection, getenv); err == nil {
		return nil, fmt.Errorf("blobstore.NewFromEnv accepted an empty environment")
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// AppSettingsFile is the Bicep file that holds the function app's settings,
// and the markers around them.
const (
	AppSettingsFile  = "infra/app/api.bicep"
	appSettingsBegin = "// app settings: begin"
	appSettingsEnd   = "// app settings: end"
)

// AppSetting is one key of the app settings object and its Bicep value
// expression.
type AppSetting struct {
	Name  string
	Value string
	Line  int
}

var (
	appSettingsVar = regexp.MustCompile(`^var\s+appSettings\s*=\s*\{$`)
	// A key is a Bicep identifier or a single-quoted string; the value is
	// the rest of the line, up to a trailing // comment.
	appSettingLine = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*|'[^'\\]+')\s*:\s*(.+?)\s*$`)
)

// ParseAppSettings reads the app settings object of a Bicep file. It is
// deliberately not a Bicep parser: it accepts exactly this shape, and
// anything else between the markers is an error, so the settings cannot
// hide from the check.
//
//	// app settings: begin
//	var appSettings = {
//	  // comments and blank lines
//	  NAME: <expression on one line>
//	  'NAME': <expression on one line>
//	}
//	// app settings: end
func ParseAppSettings(src []byte) ([]AppSetting, error) {
	sc := bufio.NewScanner(bytes.NewReader(src))
	var (
		out    []AppSetting
		state  int // 0 before begin, 1 after begin, 2 inside the object, 3 after the closing brace, 4 after end
		begins int
		seen   = map[string]int{}
	)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == appSettingsBegin:
			begins++
			if state != 0 {
				return nil, fmt.Errorf("line %d: a second %q", n, appSettingsBegin)
			}
			state = 1
		case line == appSettingsEnd:
			if state != 3 {
				return nil, fmt.Errorf("line %d: %q before the object's closing brace", n, appSettingsEnd)
			}
			state = 4
		case state == 1:
			if line == "" || strings.HasPrefix(line, "//") {
				continue
			}
			if !appSettingsVar.MatchString(line) {
				return nil, fmt.Errorf("line %d: want `var appSettings = {` after %q, got %q", n, appSettingsBegin, line)
			}
			state = 2
		case state == 2:
			if line == "" || strings.HasPrefix(line, "//") {
				continue
			}
			if line == "}" {
				state = 3
				continue
			}
			if i := strings.Index(line, " //"); i >= 0 {
				line = strings.TrimSpace(line[:i])
			}
			m := appSettingLine.FindStringSubmatch(line)
			if m == nil || strings.HasSuffix(m[2], "{") || strings.HasSuffix(m[2], "[") {
				return nil, fmt.Errorf("line %d: want one `NAME: value` per line, got %q", n, line)
			}
			name := strings.Trim(m[1], "'")
			if prev, dup := seen[name]; dup {
				return nil, fmt.Errorf("line %d: %s is already set on line %d", n, name, prev)
			}
			seen[name] = n
			out = append(out, AppSetting{Name: name, Value: m[2], Line: n})
		case state == 3:
			if line != "" && !strings.HasPrefix(line, "//") {
				return nil, fmt.Errorf("line %d: want %q after the object, got %q", n, appSettingsEnd, line)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if begins == 0 || state != 4 {
		return nil, fmt.Errorf("no complete app settings object between %q and %q", appSettingsBegin, appSettingsEnd)
	}
	return out, nil
}
