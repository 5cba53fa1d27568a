package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinyhead/tinyhead/internal/app"
	"github.com/tinyhead/tinyhead/internal/azurite/azuritetest"
	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/config"
	"github.com/tinyhead/tinyhead/internal/customhandler"
	"github.com/tinyhead/tinyhead/internal/handlertest"
	"github.com/tinyhead/tinyhead/internal/sqlstore"
	"github.com/tinyhead/tinyhead/internal/testenv"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// TestExecutableAsTheHostRunsIt builds the handler, starts it the way the
// Functions host does (settings in the environment, the port in
// FUNCTIONS_CUSTOMHANDLER_PORT), waits for GET / to answer, sends a
// blob-trigger invocation and checks the rows landed in the database.
func TestExecutableAsTheHostRunsIt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the handler binary")
	}
	bin := buildHandler(t)
	az := azuritetest.Start(t)
	ctx := context.Background()
	blobs, err := blobstore.NewFromConnectionString(az.ConnectionString())
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "tinyhead.db")
	h := handlertest.Start(t, bin, "", append(os.Environ(),
		config.StorageConnection+"="+az.ConnectionString(),
		config.SQLDSN+"="+db,
		config.ModelDir+"="+testenv.ModelDir(t),
		config.ORTLib+"="+testenv.ORTLib(t),
	))
	h.Ready(t)

	content := []byte("id,text,lang\n1,Bonjour tout le monde,fr\n2,Hello world,en\n")
	status, out := h.EmbedBlob(t, blobs, "greetings.csv", content, "text/csv")
	if status != 200 || !strings.Contains(out, "2 rows stored") {
		t.Fatalf("EmbedBlob: %d %s\n%s", status, out, h.Logs())
	}
	store, err := sqlstore.Open(ctx, "sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	doc, err := store.GetDocument(ctx, "incoming/greetings.csv", "1")
	if err != nil || doc.Labels["lang"] != "fr" || len(doc.Embeddings["use-lite-en@0.2.0"]) != 512 {
		t.Fatalf("stored document %+v, %v", doc.Labels, err)
	}

	// The training side is wired too: the timer runs and reports the task
	// (two rows are too few to train), and Train answers 422 through the
	// http output binding.
	status, out = h.Invoke(t, app.NightlyTrainFunction, customhandler.TimerTriggerRequest(app.NightlyTrainFunction, app.TimerBinding, false))
	if status != 200 || !strings.Contains(out, "lang: skipped") {
		t.Errorf("NightlyTrain: %d %s\n%s", status, out, h.Logs())
	}
	status, out = h.Invoke(t, app.TrainFunction, customhandler.HTTPTriggerRequest(app.TrainFunction, app.HTTPRequestBinding, customhandler.HTTPRequest{
		Method: "POST", Params: map[string]string{"task": "lang"}, Body: json.RawMessage(`""`),
	}))
	if status != 200 || !strings.Contains(out, `"statusCode":422`) {
		t.Errorf("Train: %d %s", status, out)
	}

	// The deletion side is wired: the blob's BlobDeleted event deletes its rows.
	status, out = h.DeleteBlob(t, blobs, "greetings.csv")
	if status != 200 || !strings.Contains(out, "2 documents deleted") {
		t.Errorf("BlobDeleted: %d %s\n%s", status, out, h.Logs())
	}
	if _, err := store.GetDocument(ctx, "incoming/greetings.csv", "1"); !errors.Is(err, tinyhead.ErrNotFound) {
		t.Errorf("a row of the deleted blob: %v, want not found", err)
	}
}

// TestExecutableFailsOnABadSetting: a setting that no retry can fix (here
// a model directory that does not exist) stops the handler at once with
// the reason, so that the host logs it and restarts it (TestGate checks the
// 503 that invocations get meanwhile).
func TestExecutableFailsOnABadSetting(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the handler binary")
	}
	bin := buildHandler(t)
	az := azuritetest.Start(t)
	missing := filepath.Join(t.TempDir(), "no-model-here")
	h := handlertest.Start(t, bin, "", append(os.Environ(),
		config.StorageConnection+"="+az.ConnectionString(),
		config.SQLDSN+"="+filepath.Join(t.TempDir(), "tinyhead.db"),
		config.ModelDir+"="+missing,
		config.ORTLib+"="+testenv.ORTLib(t),
	))
	err := h.Exit(t, handlertest.StartTimeout)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1\n%s", err, h.Logs())
	}
	if !strings.Contains(h.Logs(), "handler: open services") || !strings.Contains(h.Logs(), missing) {
		t.Errorf("the reason is not in the log:\n%s", h.Logs())
	}
}

// buildHandler builds this package's executable into a temporary directory.
func buildHandler(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "handler")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
