package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/app"
	"github.com/tinyhead/tinyhead/internal/azurite"
	"github.com/tinyhead/tinyhead/internal/azurite/azuritetest"
	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/config"
	"github.com/tinyhead/tinyhead/internal/customhandler"
	"github.com/tinyhead/tinyhead/internal/handlertest"
	"github.com/tinyhead/tinyhead/internal/registry"
	"github.com/tinyhead/tinyhead/internal/sqlstore"
	"github.com/tinyhead/tinyhead/internal/testenv"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// crashEnv is one database and one Azurite that handler processes come
// and go on, as instances of the app do.
type crashEnv struct {
	bin   string
	az    *azurite.Server
	db    string
	blobs *blobstore.Client
	store *sqlstore.Store
}

func newCrashEnv(t *testing.T) *crashEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the handler binary")
	}
	e := &crashEnv{bin: buildHandler(t), az: azuritetest.Start(t), db: filepath.Join(t.TempDir(), "tinyhead.db")}
	var err error
	if e.blobs, err = blobstore.NewFromConnectionString(e.az.ConnectionString()); err != nil {
		t.Fatal(err)
	}
	if e.store, err = sqlstore.Open(t.Context(), sqlstore.DriverSQLite, e.db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.store.Close() })
	return e
}

// start runs a handler process on the shared database and storage.
func (e *crashEnv) start(t *testing.T) *handlertest.Handler {
	t.Helper()
	h := handlertest.Start(t, e.bin, "", append(os.Environ(),
		config.StorageConnection+"="+e.az.ConnectionString(),
		config.SQLDSN+"="+e.db,
		config.ModelDir+"="+testenv.ModelDir(t),
		config.ORTLib+"="+testenv.ORTLib(t),
		config.IngestBatch+"=16", // many commits before the kill
	))
	h.Ready(t)
	return h
}

// post sends an invocation without failing the test when the handler
// dies under it (the point of these tests).
func post(url string, payload any) (int, string, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String(), err
}

// waitFor polls cond until it holds or a minute has passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("gave up waiting for %s", what)
}

// TestKillMidIngest: a handler killed (SIGKILL) in the middle of a file
// loses nothing: the host's retry, on a new process, stores every row
// exactly once and reuses the embeddings committed before the crash.
func TestKillMidIngest(t *testing.T) {
	e := newCrashEnv(t)
	ctx := context.Background()
	const rows = 600
	var content bytes.Buffer
	for i := range rows {
		fmt.Fprintf(&content, `{"id": "r%d", "text": "Report %d: the shipment of item %d arrived %d days late.", "labels": {"late": "%s"}}`+"\n",
			i, i, i*7, i%9, []string{"yes", "no"}[i%2])
	}
	if err := e.blobs.EnsureContainer(ctx, config.IncomingContainer); err != nil {
		t.Fatal(err)
	}
	etag, err := e.blobs.UploadBytes(ctx, config.IncomingContainer, "late.jsonl", content.Bytes(), "application/jsonl")
	if err != nil {
		t.Fatal(err)
	}
	trigger := customhandler.BlobTriggerRequest(app.EmbedBlobFunction, app.BlobBinding,
		e.blobs.URL(config.IncomingContainer, "late.jsonl"), "late.jsonl", content.Bytes(),
		customhandler.BlobProperties{ETag: etag, ContentType: "application/jsonl"})
	documents := func() int {
		st, err := e.store.Stats(ctx)
		if err != nil {
			return -1
		}
		return st.Documents
	}

	h1 := e.start(t)
	go post(h1.URL+"/"+app.EmbedBlobFunction, trigger) // its answer never comes
	waitFor(t, "some batches to commit", func() bool { return documents() >= 64 })
	h1.Kill(t)
	stored := documents()
	if stored >= rows {
		t.Fatalf("the whole file (%d rows) was stored before the kill; the test needs a bigger file", stored)
	}
	if rec, err := e.store.GetIngest(ctx, "incoming/late.jsonl", etag); err != nil || rec.Status != tinyhead.IngestRunning {
		t.Fatalf("after the kill: record %+v, %v; want running", rec, err)
	}

	// The host retries on a new instance; the dead attempt's lease on the
	// version expires first (ingest.DefaultLease), and the retry resumes.
	h2 := e.start(t)
	status, out, err := post(h2.URL+"/"+app.EmbedBlobFunction, trigger)
	if err != nil || status != http.StatusOK || !strings.Contains(out, fmt.Sprintf("%d rows stored", rows)) {
		t.Fatalf("retry after the kill: %d %s %v\n%s", status, out, err, h2.Logs())
	}
	var answer struct{ ReturnValue struct{ Embedded int } }
	if err := json.Unmarshal([]byte(out), &answer); err != nil || answer.ReturnValue.Embedded > rows-stored {
		t.Errorf("the retry embedded %d texts; %d of %d were committed before the kill (%v)", answer.ReturnValue.Embedded, stored, rows, err)
	}
	if n := documents(); n != rows {
		t.Errorf("%d documents after the retry, want %d", n, rows)
	}
	if rec, err := e.store.GetIngest(ctx, "incoming/late.jsonl", etag); err != nil || rec.Status != tinyhead.IngestDone || rec.RowsOK != rows {
		t.Errorf("record %+v, %v; want done with %d rows", rec, err, rows)
	}
}

// TestKillMidTraining: a handler killed while it trains a new version
// leaves the task serving its previous version, with nothing half-written
// promoted; the dead training's lock expires by itself.
func TestKillMidTraining(t *testing.T) {
	e := newCrashEnv(t)
	h1 := e.start(t)
	var csv bytes.Buffer
	csv.WriteString("id,text,topic\n")
	for i := range 40 {
		fmt.Fprintf(&csv, "w%d,Heavy rain and strong wind are expected on day %d.,weather\n", i, i)
		fmt.Fprintf(&csv, "c%d,Simmer the onions for %d minutes and add salt.,cooking\n", i, i)
	}
	if status, out := h1.EmbedBlob(t, e.blobs, "topics.csv", csv.Bytes(), "text/csv"); status != http.StatusOK {
		t.Fatalf("EmbedBlob: %d %s", status, out)
	}
	train := func(h *handlertest.Handler, body string) (int, string, error) {
		return post(h.URL+"/"+app.TrainFunction, customhandler.HTTPTriggerRequest(app.TrainFunction, app.HTTPRequestBinding,
			customhandler.HTTPRequest{Method: "POST", Params: map[string]string{"task": "topic"}, Body: json.RawMessage(body)}))
	}
	if status, out, err := train(h1, `{"seed": 1}`); err != nil || !strings.Contains(out, `"statusCode":200`) {
		t.Fatalf("first training: %d %s %v", status, out, err)
	}
	reg := &registry.Registry{Blobs: registry.ClientBlobs(e.blobs), Container: config.ModelsContainer}
	before, _, err := reg.Current(t.Context(), "topic")
	if err != nil {
		t.Fatal(err)
	}

	// A long training (tens of seconds of steps, within the bounds on one request), killed once it holds the
	// task's lock.
	answered := make(chan string, 1)
	go func() {
		status, out, err := train(h1, `{"steps": 60000, "seed": 2, "force": true}`)
		answered <- fmt.Sprintf("%d %s %v", status, out, err)
	}()
	waitFor(t, "the long training to take the lock", func() bool {
		select {
		case a := <-answered:
			t.Fatalf("the long training answered before the kill: %s", a)
		default:
		}
		return strings.Contains(h1.Logs(), `msg="training started" task=topic rows=80 classes=2 steps=60000`)
	})
	h1.Kill(t)

	h2 := e.start(t)
	after, _, err := reg.Current(t.Context(), "topic")
	if err != nil || after.Version != before.Version {
		t.Errorf("after the kill current.json names %s (%v), want %s", after.Version, err, before.Version)
	}
	if v, err := reg.Versions(t.Context(), "topic"); err != nil || len(v) != 1 {
		t.Errorf("versions %v, %v; the killed training stored one", v, err)
	}
	models, err := e.store.Models(t.Context(), "topic")
	if err != nil || len(models) != 1 || !models[0].Promoted || models[0].Version != before.Version {
		t.Errorf("models table %+v, %v", models, err)
	}
	status, out, err := post(h2.URL+"/"+app.ClassifyFunction, customhandler.HTTPTriggerRequest(app.ClassifyFunction, app.HTTPRequestBinding,
		customhandler.HTTPRequest{Method: "POST", Params: map[string]string{"task": "topic"}, Body: json.RawMessage(`{"texts": ["Snow is expected tonight."]}`)}))
	if err != nil || !strings.Contains(out, before.Version) || !strings.Contains(out, `\"label\":\"weather\"`) {
		t.Errorf("Classify after the kill: %d %s %v", status, out, err)
	}
	// The dead holder's lease on the lock runs out by itself (60 s); until
	// then a new training is refused rather than run beside a ghost.
	if _, out, err := train(h2, `{}`); err != nil || !strings.Contains(out, `"statusCode":409`) {
		t.Errorf("training right after the kill: %s %v; want 409 until the lock expires", out, err)
	}
}
