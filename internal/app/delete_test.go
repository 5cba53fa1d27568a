package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tinyhead/tinyhead/internal/app"
	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/config"
	"github.com/tinyhead/tinyhead/internal/customhandler"
	"github.com/tinyhead/tinyhead/internal/ingest"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
	"github.com/tinyhead/tinyhead/internal/training"
)

// deleteBlob deletes a blob from incoming/, as a user does; storage would
// then publish a BlobDeleted event.
func (f *fixture) deleteBlob(name string) {
	f.t.Helper()
	if err := f.blobs.Delete(context.Background(), config.IncomingContainer, name); err != nil {
		f.t.Fatal(err)
	}
}

// blobDeleted sends the invocation the host sends for the BlobDeleted
// event of incoming/name and returns the status and the decoded response.
func (f *fixture) blobDeleted(name string) (int, customhandler.InvokeResponse, ingest.Removal) {
	f.t.Helper()
	ev := customhandler.BlobDeletedEventFor(f.blobs.URL(config.IncomingContainer, name), config.IncomingContainer, name)
	status, out := f.invoke(app.BlobDeletedFunction, customhandler.EventGridTriggerRequest(app.BlobDeletedFunction, app.EventBinding, ev))
	var res struct{ ReturnValue ingest.Removal }
	f.decode(out, &res)
	return status, out, res.ReturnValue
}

// topicRows returns the labelled rows of task "topic" as training sees
// them (the task summaries).
func (f *fixture) topicRows() int {
	f.t.Helper()
	sums, err := f.store.Tasks(context.Background(), f.model)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, s := range sums {
		if s.Task == "topic" {
			return s.Rows
		}
	}
	return 0
}

const (
	goneCSV = "id,text,topic\n1,Heavy rain is expected tonight,weather\n2,Bake the bread until golden brown,cooking\n3,A cold front brings snow,weather\n"
	keptCSV = "id,text,topic\n1,Sunny skies are forecast,weather\n2,Bake the bread until golden brown,cooking\n"
)

// TestBlobDeleted plays Event Grid's BlobDeleted event of a blob: its
// documents, labels and embeddings only it held are gone, the task
// summaries say so at once, and re-deliveries, blobs never ingested and
// other events change nothing. Uploaded again, the blob ingests again.
func TestBlobDeleted(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	etag := f.upload("gone.csv", []byte(goneCSV))
	f.trigger("gone.csv")
	f.upload("kept.csv", []byte(keptCSV))
	f.trigger("kept.csv")
	if n, rows := f.documents(), f.topicRows(); n != 5 || rows != 5 {
		t.Fatalf("%d documents, %d rows of topic after ingest; want 5", n, rows)
	}

	f.deleteBlob("gone.csv")
	status, out, rem := f.blobDeleted("gone.csv")
	if status != http.StatusOK || rem.Deleted != 3 || rem.Exists || rem.Source != "incoming/gone.csv" {
		t.Fatalf("BlobDeleted: status %d, %+v, logs %v", status, rem, out.Logs)
	}
	if len(out.Logs) != 1 || !strings.Contains(out.Logs[0], "incoming/gone.csv was deleted: 3 documents deleted") {
		t.Errorf("logs %v", out.Logs)
	}
	for _, item := range []string{"1", "2", "3"} {
		if _, err := f.store.GetDocument(ctx, "incoming/gone.csv", item); !errors.Is(err, tinyhead.ErrNotFound) {
			t.Errorf("row %s of the deleted blob: %v, want not found", item, err)
		}
	}
	if n, rows := f.documents(), f.topicRows(); n != 2 || rows != 2 {
		t.Errorf("%d documents, %d rows of topic after the deletion; want 2", n, rows)
	}
	st, err := f.store.Stats(ctx)
	if err != nil || st.Labels["topic"]["weather"] != 1 || st.Labels["topic"]["cooking"] != 1 {
		t.Errorf("labels %v, %v; want the kept blob's only", st.Labels, err)
	}
	known, err := f.store.EmbeddingsByHash(ctx, f.model, []string{
		tinyhead.ContentHash("Heavy rain is expected tonight"), tinyhead.ContentHash("Bake the bread until golden brown")})
	if err != nil || len(known) != 1 || known[tinyhead.ContentHash("Bake the bread until golden brown")] == nil {
		t.Errorf("embeddings found %d, %v; want only the text the kept blob holds", len(known), err)
	}
	if rec, err := f.store.GetIngest(ctx, "incoming/gone.csv", etag); err != nil || rec.Status != tinyhead.IngestDeleted {
		t.Errorf("ingest record %+v, %v; want deleted", rec, err)
	}

	// Event Grid delivers at least once: a second delivery deletes nothing
	// more. A blob never ingested has nothing to delete.
	for _, name := range []string{"gone.csv", "never-ingested.csv"} {
		if status, out, rem := f.blobDeleted(name); status != http.StatusOK || rem.Deleted != 0 {
			t.Errorf("BlobDeleted of %s: status %d, %+v, logs %v", name, status, rem, out.Logs)
		}
	}

	// Uploaded again: a new version, ingested as any other, texts embedded
	// anew. Its deletion event arriving late deletes nothing.
	f.upload("gone.csv", []byte(goneCSV))
	status, out, res := f.trigger("gone.csv")
	if status != http.StatusOK || res.Redelivery || res.RowsOK != 3 || res.Embedded != 2 {
		t.Fatalf("upload after deletion: status %d, %+v, logs %v", status, res, out.Logs)
	}
	if status, out, rem := f.blobDeleted("gone.csv"); status != http.StatusOK || !rem.Exists || rem.Deleted != 0 {
		t.Errorf("late BlobDeleted of a blob uploaded again: status %d, %+v, logs %v", status, rem, out.Logs)
	}
	if n, rows := f.documents(), f.topicRows(); n != 5 || rows != 5 {
		t.Errorf("%d documents, %d rows of topic after the upload again; want 5", n, rows)
	}
}

// TestNightlyReconcile: a deletion whose event never came is repaired by
// the next NightlyTrain, before it selects what to train; a storage error
// while checking deletes nothing and the training still runs.
func TestNightlyReconcile(t *testing.T) {
	f := newFixture(t)
	f.upload("gone.csv", []byte(goneCSV))
	f.trigger("gone.csv")
	f.upload("kept.csv", []byte(keptCSV))
	f.trigger("kept.csv")
	f.deleteBlob("gone.csv") // no event

	nightly := func() ([]string, []training.NightlyResult) {
		t.Helper()
		status, out := f.invoke(app.NightlyTrainFunction, customhandler.TimerTriggerRequest(app.NightlyTrainFunction, app.TimerBinding, false))
		if status != http.StatusOK {
			t.Fatalf("NightlyTrain: %d %v", status, out.Logs)
		}
		var res struct{ ReturnValue []training.NightlyResult }
		f.decode(out, &res)
		return out.Logs, res.ReturnValue
	}

	// Storage fails: nothing is deleted, the night still trains (here: the
	// task has too few rows, which it reports).
	real := f.remover.Blobs
	f.remover.Blobs = unavailableBlobs{real}
	logs, results := nightly()
	if !strings.Contains(logs[0], "0 gone, 0 documents deleted; then failed") || len(results) != 1 || results[0].Task != "topic" {
		t.Errorf("nightly with storage failing: logs %v, results %+v", logs, results)
	}
	if n, rows := f.documents(), f.topicRows(); n != 5 || rows != 5 {
		t.Fatalf("a storage error deleted rows: %d documents, %d of topic; want 5", n, rows)
	}

	f.remover.Blobs = real
	logs, results = nightly()
	if logs[0] != "reconciled incoming/ with the store: 2 blobs with rows, 1 gone, 3 documents deleted" {
		t.Errorf("first log line %q", logs[0])
	}
	if len(results) != 1 || results[0].Task != "topic" {
		t.Errorf("results %+v", results)
	}
	if n, rows := f.documents(), f.topicRows(); n != 2 || rows != 2 {
		t.Errorf("after reconcile: %d documents, %d of topic; want 2", n, rows)
	}
	if _, err := f.store.GetDocument(context.Background(), "incoming/gone.csv", "1"); !errors.Is(err, tinyhead.ErrNotFound) {
		t.Errorf("a row of the deleted blob: %v", err)
	}

	logs, _ = nightly()
	if logs[0] != "reconciled incoming/ with the store: 1 blobs with rows, 0 gone, 0 documents deleted" {
		t.Errorf("second night: %q", logs[0])
	}
}

// unavailableBlobs is storage whose every call fails as a busy account
// answers (503).
type unavailableBlobs struct{ ingest.Blobs }

var errBusy = tinyhead.Errorf(tinyhead.ErrUnavailable, "storage busy (HTTP 503 ServerBusy)")

func (unavailableBlobs) Props(context.Context, string, string) (blobstore.Props, error) {
	return blobstore.Props{}, errBusy
}

func (unavailableBlobs) List(context.Context, string, string, func(blobstore.Item) error) error {
	return errBusy
}

// TestBlobDeletedInvocations plays the host with scripted services: which
// events reach the remover, and the status of each outcome.
func TestBlobDeletedInvocations(t *testing.T) {
	deleted := customhandler.BlobDeletedEventFor("https://acct.blob.core.windows.net/incoming/a/b.csv", "incoming", "a/b.csv")
	created := deleted
	created.EventType = customhandler.BlobCreatedEvent
	models := customhandler.BlobDeletedEventFor("https://acct.blob.core.windows.net/models/t/v/model.onnx", "models", "t/v/model.onnx")
	asString := customhandler.EventGridTriggerRequest(app.BlobDeletedFunction, app.EventBinding, deleted)
	raw, _ := json.Marshal(deleted)
	asString.Data[app.EventBinding], _ = json.Marshal(string(raw))
	tests := []struct {
		name        string
		req         customhandler.InvokeRequest
		err         error
		wantStatus  int
		wantRemoved []string
		wantLog     string
	}{
		{"deleted", customhandler.EventGridTriggerRequest(app.BlobDeletedFunction, app.EventBinding, deleted), nil, 200, []string{"incoming/a/b.csv"}, "2 documents deleted"},
		{"event as a string", asString, nil, 200, []string{"incoming/a/b.csv"}, "2 documents deleted"},
		{"another event type", customhandler.EventGridTriggerRequest(app.BlobDeletedFunction, app.EventBinding, created), nil, 200, nil, "ignored"},
		{"another container", customhandler.EventGridTriggerRequest(app.BlobDeletedFunction, app.EventBinding, models), nil, 200, nil, "ignored"},
		{"no event", customhandler.InvokeRequest{}, nil, 400, nil, "missing"},
		{"store unavailable", customhandler.EventGridTriggerRequest(app.BlobDeletedFunction, app.EventBinding, deleted), errBusy, 500, []string{"incoming/a/b.csv"}, "storage busy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &scripted{err: tt.err}
			srv, stderr := scriptedServer(t, s)
			status, out := post(t, srv, app.BlobDeletedFunction, tt.req)
			if status != tt.wantStatus || !strings.Contains(strings.Join(out.Logs, "\n"), tt.wantLog) {
				t.Errorf("status %d, logs %v; want %d mentioning %q", status, out.Logs, tt.wantStatus, tt.wantLog)
			}
			if !slices.Equal(s.removed, tt.wantRemoved) {
				t.Errorf("removed %v, want %v", s.removed, tt.wantRemoved)
			}
			if status >= 500 && !strings.Contains(stderr.String(), "blob=incoming/a/b.csv") {
				t.Errorf("stderr %q does not name the blob", stderr.String())
			}
		})
	}
}
