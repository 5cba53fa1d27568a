package deploy_test

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/microsoft/go-mssqldb/azuread"
	"github.com/microsoft/go-mssqldb/msdsn"

	"github.com/tinyhead/tinyhead/internal/config"
	"github.com/tinyhead/tinyhead/internal/deploy"
)

// TestEverySettingTheHandlerReadsIsDecided watches the handler look up its
// settings (HandlerReads) and requires a decision in Settings
// for each: a new setting fails here until someone decides whether infra/
// sets it. Entries the handler no longer reads fail too.
func TestEverySettingTheHandlerReadsIsDecided(t *testing.T) {
	reads, err := HandlerReads()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range reads {
		s, ok := Lookup(name)
		if !ok {
			t.Errorf("the handler reads %s, which Settings does not decide: add it (Set, Default or Never, and why)", name)
			continue
		}
		if s.Reader == ByHost {
			t.Errorf("Settings says only the host reads %s, but the handler does", name)
		}
	}
	seen := map[string]bool{}
	for _, s := range Settings {
		if seen[s.Name] {
			t.Errorf("Settings decides %s twice", s.Name)
		}
		seen[s.Name] = true
		if s.Why == "" {
			t.Errorf("Settings: %s has no reason", s.Name)
		}
		if (s.Reader == ByHandler || s.Reader == ByBoth) && !slices.Contains(reads, s.Name) {
			t.Errorf("Settings says the handler reads %s, but it does not", s.Name)
		}
	}
}

// TestInfraSetsExactlyTheSettingsNeeded compares the app settings of
// infra/app/api.bicep with Settings: every setting marked Set is
// set (none missing), and every setting set is read by the handler or the
// host and marked Set (none unused, none that must not be set). The
// handler's settings come from watching it (previous test); the host's are
// the Set entries read by the host, and the %SETTING% references and
// connection names of the function.json files.
func TestInfraSetsExactlyTheSettingsNeeded(t *testing.T) {
	settings, err := ParseAppSettings([]byte(readRepoFile(t, AppSettingsFile)))
	if err != nil {
		t.Fatalf("%s: %v", AppSettingsFile, err)
	}
	set := map[string]bool{}
	for _, s := range settings {
		set[s.Name] = true
		d, ok := Lookup(s.Name)
		switch {
		case !ok:
			t.Errorf("%s:%d sets %s, which neither the handler nor the host reads (unused)", AppSettingsFile, s.Line, s.Name)
		case d.Infra != Set:
			t.Errorf("%s:%d sets %s, which infra/ must leave unset (%s): %s", AppSettingsFile, s.Line, s.Name, d.Infra, d.Why)
		}
	}
	for _, d := range Settings {
		if d.Infra == Set && !set[d.Name] {
			t.Errorf("%s does not set %s (missing): %s", AppSettingsFile, d.Name, d.Why)
		}
	}

	// The function.json files name settings too: the host resolves
	// %NAME% in binding properties, and a connection name is a prefix of
	// settings. Both must be settings infra/ provides.
	fns, err := deploy.LoadFunctions(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	percent := regexp.MustCompile(`%([A-Za-z0-9_]+)%`)
	for _, fn := range fns {
		for _, m := range percent.FindAllStringSubmatch(string(fn.Raw), -1) {
			if !set[m[1]] {
				t.Errorf("%s refers to %%%s%%, which infra/ does not set: the host would not index the function", fn.Path, m[1])
			}
			if d, _ := Lookup(m[1]); d.Reader == ByHandler {
				t.Errorf("Settings says only the handler reads %s, but %s makes the host read it", m[1], fn.Path)
			}
		}
		for _, b := range fn.Bindings {
			if b.Connection != "" && !set[b.Connection+"__blobServiceUri"] && !set[b.Connection] {
				t.Errorf("%s: connection %q has neither %s__blobServiceUri nor %s in infra/", fn.Path, b.Connection, b.Connection, b.Connection)
			}
		}
	}
}

// TestInfraSQLDSN takes the TINYHEAD_SQL_DSN value infra/ sets, fills its
// Bicep interpolations with sample values, and parses it as the handler
// will: go-mssqldb's msdsn, then the Microsoft Entra connector that
// internal/sqlstore picks for a DSN with fedauth. It must name the
// database, authenticate as the user-assigned managed identity (user id =
// its client ID) and encrypt.
func TestInfraSQLDSN(t *testing.T) {
	settings, err := ParseAppSettings([]byte(readRepoFile(t, AppSettingsFile)))
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{}
	for _, s := range settings {
		values[s.Name] = s.Value
	}
	expect(t, config.SQLDriver, values[config.SQLDriver], "'sqlserver'")
	raw := values[config.SQLDSN]
	if !strings.HasPrefix(raw, "'") || !strings.HasSuffix(raw, "'") {
		t.Fatalf("%s = %s: want a Bicep string", config.SQLDSN, raw)
	}
	samples := map[string]string{
		"sqlServerFqdn":    "sql-abc.database.windows.net",
		"sqlDatabaseName":  "tinyhead",
		"identityClientId": "11111111-2222-3333-4444-555555555555",
	}
	dsn := regexp.MustCompile(`\$\{([^}]*)\}`).ReplaceAllStringFunc(strings.Trim(raw, "'"), func(m string) string {
		v, ok := samples[m[2:len(m)-1]]
		if !ok {
			t.Errorf("%s interpolates %s; give this test a sample value for it", config.SQLDSN, m)
		}
		return v
	})
	cfg, err := msdsn.Parse(dsn)
	if err != nil {
		t.Fatalf("msdsn.Parse(%q): %v", dsn, err)
	}
	expect(t, "host", cfg.Host, samples["sqlServerFqdn"])
	expect(t, "database", cfg.Database, samples["sqlDatabaseName"])
	expect(t, "fedauth", cfg.Parameters["fedauth"], azuread.ActiveDirectoryManagedIdentity)
	expect(t, "user id", cfg.Parameters["user id"], samples["identityClientId"])
	if cfg.Encryption != msdsn.EncryptionRequired {
		t.Errorf("encryption %v, want required", cfg.Encryption)
	}
	if _, err := azuread.NewConnector(dsn); err != nil {
		t.Errorf("azuread.NewConnector(%q): %v", dsn, err)
	}
	if !strings.Contains(strings.ToLower(dsn), "fedauth=") {
		t.Error("internal/sqlstore picks the Entra connector by the fedauth= parameter, which the DSN lacks")
	}
}

// TestHandlerReadsTheEnvironmentOnlyThroughConfig backs up HandlerReads,
// which sees only what reaches config.Load and blobstore.NewFromEnv: it scans
// the non-test Go files of every package of this module that the handler
// links for uses of the process environment (os.Getenv, os.LookupEnv,
// os.Environ, os.ExpandEnv, syscall.Getenv), and allows exactly these.
// (Third-party code reads its own variables, e.g. the platform's
// IDENTITY_ENDPOINT for managed identity; those are not app settings.)
func TestHandlerReadsTheEnvironmentOnlyThroughConfig(t *testing.T) {
	allowed := map[string]string{
		"handler/main.go serveCommand os.Getenv":               "handed to config.Load and, through openServices, to blobstore.NewFromEnv: what HandlerReads replays",
		"internal/config/config.go LocalSettings os.LookupEnv": "handler local: real variables win over local.settings.json",
		"internal/azurite/azurite.go FindBinary os.Getenv":     "handler local and tests: where Azurite is installed",
		"handler/upload.go uploadFlags os.Getenv":              "handler upload, run by a user: the storage connection of their shell wins over local.settings.json, as for handler local",
	}
	root := repoRoot(t)
	module := strings.TrimSpace(runGo(t, root, "list", "-m"))
	out := runGo(t, root, "list", "-deps", "-f", `{{if not .Standard}}{{.ImportPath}}|{{.Dir}}|{{join .GoFiles ","}}{{end}}`, "./handler")
	found := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		parts := strings.Split(sc.Text(), "|")
		if len(parts) != 3 || (parts[0] != module && !strings.HasPrefix(parts[0], module+"/")) || parts[2] == "" {
			continue
		}
		for _, file := range strings.Split(parts[2], ",") {
			path := filepath.Join(parts[1], file)
			rel, _ := filepath.Rel(root, path)
			for _, use := range envUses(t, path) {
				found[filepath.ToSlash(rel)+" "+use] = true
			}
		}
	}
	for use := range found {
		if _, ok := allowed[use]; !ok {
			t.Errorf("%s: the handler reads the environment outside config.Load and blobstore.NewFromEnv; "+
				"read the setting through config (and decide it in Settings), or allow the use here with a reason", use)
		}
	}
	for use, why := range allowed {
		if !found[use] {
			t.Errorf("allowed use %q (%s) is gone: remove it from this test", use, why)
		}
	}
}

func runGo(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

// envUses returns "<function> <pkg>.<Name>" for every reference to a
// process-environment function in the file (calls and function values).
func envUses(t *testing.T, path string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	envFuncs := map[string][]string{
		"os":      {"Getenv", "LookupEnv", "Environ", "ExpandEnv"},
		"syscall": {"Getenv", "Environ"},
	}
	local := map[string]string{} // the file's name of the package → import path
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		if _, ok := envFuncs[p]; !ok {
			continue
		}
		name := p
		if imp.Name != nil {
			name = imp.Name.Name
		}
		local[name] = p
	}
	var uses []string
	scan := func(where string, n ast.Node) {
		ast.Inspect(n, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			id, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			if p, ok := local[id.Name]; ok && slices.Contains(envFuncs[p], sel.Sel.Name) {
				uses = append(uses, where+" "+p+"."+sel.Sel.Name)
			}
			return true
		})
	}
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok {
			scan(fd.Name.Name, fd)
		} else {
			scan("(package level)", d)
		}
	}
	return uses
}

func TestParseAppSettings(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    []string
		wantErr string
	}{
		{
			name: "identifiers, quoted names, comments",
			src: `param x string
// app settings: begin
// the settings
var appSettings = {
  // storage
  A__b: stg.properties.primaryEndpoints.blob
  'B-c': 'x' // trailing comment

  C: 'sqlserver://${h}?database=${d}'
}
// app settings: end
module m 'x' = {}`,
			want: []string{"A__b", "B-c", "C"},
		},
		{name: "no markers", src: "var appSettings = {\n  A: 'x'\n}", wantErr: "no complete app settings object"},
		{name: "unterminated", src: "// app settings: begin\nvar appSettings = {\n  A: 'x'\n// app settings: end", wantErr: "before the object's closing brace"},
		{name: "duplicate", src: "// app settings: begin\nvar appSettings = {\n  A: 'x'\n  A: 'y'\n}\n// app settings: end", wantErr: "already set"},
		{name: "nested object", src: "// app settings: begin\nvar appSettings = {\n  A: {\n  }\n}\n// app settings: end", wantErr: "one `NAME: value` per line"},
		{name: "spread", src: "// app settings: begin\nvar appSettings = {\n  ...other\n}\n// app settings: end", wantErr: "one `NAME: value` per line"},
		{name: "other variable", src: "// app settings: begin\nvar other = {\n  A: 'x'\n}\n// app settings: end", wantErr: "var appSettings = {"},
		{name: "code after the object", src: "// app settings: begin\nvar appSettings = {\n  A: 'x'\n}\nvar more = union(appSettings, {})\n// app settings: end", wantErr: "after the object"},
		{name: "two objects", src: "// app settings: begin\nvar appSettings = {\n}\n// app settings: end\n// app settings: begin", wantErr: "a second"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAppSettings([]byte(tt.src))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range got {
				names = append(names, s.Name)
			}
			if !slices.Equal(names, tt.want) {
				t.Errorf("names %v, want %v", names, tt.want)
			}
		})
	}
}
