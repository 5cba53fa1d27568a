package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/app"
	"github.com/tinyhead/tinyhead/internal/azurite"
	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/config"
	"github.com/tinyhead/tinyhead/internal/customhandler"
	"github.com/tinyhead/tinyhead/internal/sqlstore"
	"github.com/tinyhead/tinyhead/internal/testenv"
)

// TestExecutableAsTheHostRunsIt builds the handler, starts it the way the
// Functions host does (settings in the environment, the port in
// FUNCTIONS_CUSTOMHANDLER_PORT), waits for GET / to answer, sends a
// blob-trigger invocation and checks the rows landed in the database.
func TestExecutableAsTheHostRunsIt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the handler binary")
	}
	bin := filepath.Join(t.TempDir(), "handler")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	az := azurite.StartForTest(t)
	ctx := context.Background()
	blobs, err := blobstore.NewFromConnectionString(az.ConnectionString())
	if err != nil {
		t.Fatal(err)
	}
	if err := blobs.EnsureContainer(ctx, config.IncomingContainer); err != nil {
		t.Fatal(err)
	}
	content := []byte("id,text,lang\n1,Bonjour tout le monde,fr\n2,Hello world,en\n")
	etag, err := blobs.UploadBytes(ctx, config.IncomingContainer, "greetings.csv", content, "text/csv")
	if err != nil {
		t.Fatal(err)
	}

	port := freePort(t)
	db := filepath.Join(t.TempDir(), "tinyhead.db")
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		config.Port+"="+fmt.Sprint(port),
		config.StorageConnection+"="+az.ConnectionString(),
		config.SQLDSN+"="+db,
		config.ModelDir+"="+testenv.ModelDir(t),
		config.ORTLib+"="+testenv.ORTLib(t),
	)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("handler exit after SIGTERM: %v\n%s", err, logs.String())
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Error("handler did not stop within 30 s of SIGTERM")
		}
	}()

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second) // the host's limit
	for {
		resp, err := http.Get(base + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("handler not ready after 60 s: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	req := customhandler.BlobTriggerRequest(app.EmbedBlobFunction, app.BlobBinding,
		blobs.URL(config.IncomingContainer, "greetings.csv"), "greetings.csv", content,
		customhandler.BlobProperties{ETag: etag, ContentType: "text/csv"})
	body, _ := json.Marshal(req)
	resp, err := http.Post(base+"/"+app.EmbedBlobFunction, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(raw), "2 rows stored") {
		t.Fatalf("EmbedBlob: %d %s\n%s", resp.StatusCode, raw, logs.String())
	}
	store, err := sqlstore.Open(ctx, "sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	doc, err := store.GetDocument(ctx, "incoming/greetings.csv", "1")
	if err != nil || doc.Labels["lang"] != "fr" || len(doc.Embedding) != 512 {
		t.Fatalf("stored document %+v, %v", doc.Labels, err)
	}

	// The training side is wired too: the timer runs and reports the task
	// (two rows are too few to train), and Train answers 422 through the
	// http output binding.
	timer, _ := json.Marshal(customhandler.TimerTriggerRequest(app.NightlyTrainFunction, app.TimerBinding, false))
	status, out := postRaw(t, base+"/"+app.NightlyTrainFunction, timer)
	if status != 200 || !strings.Contains(out, "lang: skipped") {
		t.Errorf("NightlyTrain: %d %s\n%s", status, out, logs.String())
	}
	train, _ := json.Marshal(customhandler.HTTPTriggerRequest(app.TrainFunction, app.HTTPRequestBinding, customhandler.HTTPRequest{
		Method: "POST", Params: map[string]string{"task": "lang"}, Body: json.RawMessage(`""`),
	}))
	status, out = postRaw(t, base+"/"+app.TrainFunction, train)
	if status != 200 || !strings.Contains(out, `"statusCode":422`) {
		t.Errorf("Train: %d %s", status, out)
	}
}

func postRaw(t *testing.T, url string, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestExecutableFailsOnABadSetting: a setting that no retry can fix (here
// a model directory that does not exist) stops the handler at once with
// the reason, so that the host logs it and restarts it (TestGate checks the
// 503 that invocations get meanwhile).
func TestExecutableFailsOnABadSetting(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the handler binary")
	}
	bin := filepath.Join(t.TempDir(), "handler")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	az := azurite.StartForTest(t)
	missing := filepath.Join(t.TempDir(), "no-model-here")
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		config.Port+"="+fmt.Sprint(freePort(t)),
		config.StorageConnection+"="+az.ConnectionString(),
		config.SQLDSN+"="+filepath.Join(t.TempDir(), "tinyhead.db"),
		config.ModelDir+"="+missing,
		config.ORTLib+"="+testenv.ORTLib(t),
	)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("exit: %v, want status 1\n%s", err, logs.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("still running after 60 s with a missing model directory\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "handler: open services") || !strings.Contains(logs.String(), missing) {
		t.Errorf("the reason is not in the log:\n%s", logs.String())
	}
}
