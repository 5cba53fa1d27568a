package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/azurite/azuritetest"
	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/config"
	"github.com/tinyhead/tinyhead/internal/handlertest"
	"github.com/tinyhead/tinyhead/internal/logbuf"
	"github.com/tinyhead/tinyhead/internal/testenv"
)

// TestHelp runs the built handler as a user does: every way of asking
// for help exits 0 and lists every command, and a command's -h every one
// of its flags, each with a plain type name (a backquoted word in a
// usage text would become one, as "-port func start" once did).
func TestHelp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the handler binary")
	}
	bin := buildHandler(t)
	runBin := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		return out.String() + errOut.String(), err
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"-help"}, {"help"}} {
		out, err := runBin(args...)
		if err != nil {
			t.Errorf("handler %v: %v\n%s", args, err, out)
		}
		for _, c := range commands() {
			if !strings.Contains(out, "\n  "+c.name) {
				t.Errorf("handler %v does not list the command %s:\n%s", args, c.name, out)
			}
		}
	}
	allowed := []string{"", "int", "string", "duration", "float", "uint", "value", "file", "directory", "tasks", "folder"}
	for _, c := range commands() {
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		c.flags(fs)
		for _, h := range []string{"-h", "--help"} {
			out, err := runBin(c.name, h)
			if err != nil || !strings.HasPrefix(out, "Usage: handler "+c.name) {
				t.Errorf("handler %s %s: %v\n%s", c.name, h, err, out)
			}
			fs.VisitAll(func(f *flag.Flag) {
				typ, _ := flag.UnquoteUsage(f)
				if !slices.Contains(allowed, typ) {
					t.Errorf("handler %s: flag -%s shows as \"-%s %s\"", c.name, f.Name, f.Name, typ)
				}
				if !strings.Contains(out, "  -"+strings.TrimSpace(f.Name+" "+typ)+"\n") {
					t.Errorf("handler %s %s does not list -%s:\n%s", c.name, h, f.Name, out)
				}
			})
		}
	}
	for _, args := range [][]string{{"bogus"}, {"local", "--bogus"}, {"upload"}} {
		out, err := runBin(args...)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(out, "handler: ") {
			t.Errorf("handler %v: %v, want exit status 1 with the reason\n%s", args, err, out)
		}
	}
}

func TestParseInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args, want []string
		to         string
	}{
		{[]string{"a", "b"}, []string{"a", "b"}, ""},
		{[]string{"--to", "x/", "a", "b"}, []string{"a", "b"}, "x/"},
		{[]string{"a", "--to", "x/", "b"}, []string{"a", "b"}, "x/"},
		{[]string{"a", "b", "--to=x/"}, []string{"a", "b"}, "x/"},
		{[]string{"a", "--", "--to", "b"}, []string{"a", "--to", "b"}, ""},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		to := fs.String("to", "", "")
		got, err := parseInterspersed(fs, tc.args)
		if err != nil || !slices.Equal(got, tc.want) || *to != tc.to {
			t.Errorf("%v: %v %q, %v; want %v %q", tc.args, got, *to, err, tc.want, tc.to)
		}
	}
}

func TestUploadFolder(t *testing.T) {
	for in, want := range map[string]string{"": "", "/": "", "_labels": "_labels/", "_labels/": "_labels/",
		"incoming/_labels/": "_labels/", "a/b": "a/b/", "/a/b/": "a/b/"} {
		if got, err := uploadFolder(in); err != nil || got != want {
			t.Errorf("uploadFolder(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"a//b", "../x", "a/./b"} {
		if _, err := uploadFolder(bad); err == nil {
			t.Errorf("uploadFolder(%q) accepted", bad)
		}
	}
}

// TestStorageSettings: the environment wins, then the settings file, and
// without either the upload goes to Azurite.
func TestStorageSettings(t *testing.T) {
	file := filepath.Join(t.TempDir(), "local.settings.json")
	if err := os.WriteFile(file, []byte(`{"Values": {"AzureWebJobsStorage": "from-file"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	for _, c := range []struct {
		settings, env, want string
	}{
		{file, "", "from-file"},
		{file, "from-env", "from-env"},
		{filepath.Join(t.TempDir(), "none.json"), "", "UseDevelopmentStorage=true"},
	} {
		env[config.StorageConnection] = c.env
		get, err := storageSettings(c.settings, getenv)
		if err != nil {
			t.Fatal(err)
		}
		if got := get(config.StorageConnection); got != c.want {
			t.Errorf("settings %s, env %q: %q, want %q", c.settings, c.env, got, c.want)
		}
	}
}

// TestUploadThenLocalIngests plays a new user's local path: handler
// upload puts a file and a directory into Azurite, a running handler local
// ingests them, GET /api/ingests shows when each is done; a labels file
// uploaded into _labels/ then labels the stored rows.
func TestUploadThenLocalIngests(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the handler binary")
	}
	bin := buildHandler(t)
	az := azuritetest.Start(t)
	root := testenv.RepoRoot()
	testenv.ModelDir(t) // skips with the reason when set-up has not run
	testenv.ORTLib(t)
	env := append(os.Environ(), config.StorageConnection+"="+az.ConnectionString(),
		config.SQLDSN+"="+filepath.Join(t.TempDir(), "tinyhead.db"))

	data := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(data, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("reviews.csv", "id,text,sentiment\nr1,The soup was cold,neg\nr2,Lovely staff and great food,pos\nr3,,pos\n")
	write("batch/a.jsonl", `{"id": "a1", "text": "Rain again tomorrow"}`+"\n")
	write("batch/sub/b.txt", "A note about the weather.")
	write("batch/.hidden", "not uploaded")
	write("labels.csv", "source,item,topic\nreviews.csv,r1,food\nbatch/a.jsonl,a1,weather\nreviews.csv,r9,food\n")

	upload := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"upload"}, args...)...)
		cmd.Dir, cmd.Env = data, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("handler upload %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	out := upload("reviews.csv", "batch")
	for _, want := range []string{"uploading 3 files to ", "reviews.csv -> incoming/reviews.csv", "-> incoming/batch/a.jsonl",
		"-> incoming/batch/sub/b.txt", "uploaded 3 files", "/api/ingests"} {
		if !strings.Contains(out, want) {
			t.Errorf("upload output lacks %q:\n%s", want, out)
		}
	}
	blobs, err := blobstore.NewFromConnectionString(az.ConnectionString())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := blobs.List(context.Background(), config.IncomingContainer, "", func(it blobstore.Item) error {
		names = append(names, it.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"batch/a.jsonl", "batch/sub/b.txt", "reviews.csv"}; !slices.Equal(names, want) {
		t.Errorf("blobs %v, want %v", names, want)
	}

	api, _ := startLocal(t, bin, root, env)
	ingests := waitIngests(t, api, "", 3)
	if r := ingests["incoming/reviews.csv"]; r.RowsStored != 2 || r.RowsRejected != 1 || !strings.Contains(r.Error, "row 3: empty text") {
		t.Errorf("reviews.csv: %+v", r)
	}
	if r := ingests["incoming/batch/sub/b.txt"]; r.RowsStored != 1 {
		t.Errorf("b.txt: %+v", r)
	}

	out = upload("labels.csv", "--to", "_labels/")
	if !strings.Contains(out, "labels.csv -> incoming/_labels/labels.csv") || !strings.Contains(out, "?source=incoming%2F_labels%2Flabels.csv") {
		t.Errorf("upload output:\n%s", out)
	}
	r := waitIngests(t, api, "?source=_labels/labels.csv", 1)["incoming/_labels/labels.csv"]
	if r.RowsStored != 2 || r.RowsRejected != 1 || !strings.Contains(r.Error, `row 3: no stored document incoming/reviews.csv item "r9"`) {
		t.Errorf("labels file: %+v", r)
	}
}

// startLocal runs `handler local` in root with env on a free port until
// the test ends, and returns the API's URL (…/api/) and its output so far.
func startLocal(t *testing.T, bin, root string, env []string) (api string, logs *logbuf.Buffer) {
	t.Helper()
	port := handlertest.FreePort(t)
	api = fmt.Sprintf("http://127.0.0.1:%d/api/", port)
	local := exec.Command(bin, "local", "--port", strconv.Itoa(port))
	local.Dir, local.Env = root, env
	logs = &logbuf.Buffer{}
	local.Stdout, local.Stderr = logs, logs
	if err := local.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		local.Process.Signal(syscall.SIGTERM)
		local.Wait()
		if t.Failed() {
			t.Logf("handler local:\n%s", logs.String())
		}
	})
	return api, logs
}

type ingestRecord struct {
	Source       string `json:"source"`
	Status       string `json:"status"`
	RowsStored   int    `json:"rows_stored"`
	RowsRejected int    `json:"rows_rejected"`
	Error        string `json:"error"`
}

// waitIngests polls GET /api/ingests{query} until n records are listed
// and none is running, and returns them by source.
func waitIngests(t *testing.T, api, query string, n int) map[string]ingestRecord {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(api + "ingests" + query)
		if err == nil {
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(raw)
			var ans struct{ Ingests []ingestRecord }
			if resp.StatusCode == http.StatusOK && json.Unmarshal(raw, &ans) == nil && len(ans.Ingests) == n {
				out := map[string]ingestRecord{}
				done := true
				for _, rec := range ans.Ingests {
					out[rec.Source] = rec
					done = done && rec.Status != "running"
				}
				if done {
					return out
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("GET /api/ingests%s did not list %d finished ingests in time; last answer: %s", query, n, last)
	return nil
}
