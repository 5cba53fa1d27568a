package ingest_test

import (
	"errors"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"testing"

	"github.com/tinyhead/tinyhead/internal/ingest"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// remover is a Remover over the env's fakes.
func (e *env) remover() *ingest.Remover {
	return &ingest.Remover{Blobs: e.blobs, Store: e.store, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// deleteBlob deletes a blob from storage, as a user does.
func (e *env) deleteBlob(name string) {
	e.t.Helper()
	if err := e.blobs.Delete(e.ctx, container, name); err != nil {
		e.t.Fatal(err)
	}
}

// labelled ingests name with one row per text, each labelled for task
// "topic", and returns the blob's ETag.
func (e *env) labelled(name string, texts ...string) string {
	e.t.Helper()
	var body string
	for i, text := range texts {
		body += `{"id": "` + strconv.Itoa(i) + `", "text": "` + text + `", "labels": {"topic": "t` + strconv.Itoa(i%2) + `"}}` + "\n"
	}
	etag := e.upload(name, body)
	e.mustIngest(name)
	return etag
}

// documents returns how many documents the store holds and the rows of task
// "topic".
func (e *env) documents() (int, int) {
	e.t.Helper()
	st, err := e.store.Stats(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	sums, err := e.store.Tasks(e.ctx, e.emb.ModelID())
	if err != nil {
		e.t.Fatal(err)
	}
	rows := 0
	for _, s := range sums {
		if s.Task == "topic" {
			rows = s.Rows
		}
	}
	return st.Documents, rows
}

// TestRemoved: the deletion event of a blob deletes its rows, embeddings
// only it held and marks its ingests deleted; the task summaries reflect
// it at once. A blob never ingested, or one that exists again, deletes
// nothing; a storage error decides nothing.
func TestRemoved(t *testing.T) {
	unavailable := tinyhead.Errorf(tinyhead.ErrUnavailable, "storage busy (HTTP 503 ServerBusy)")
	forbidden := errors.New("storage request failed (HTTP 403 AuthorizationPermissionMismatch)")
	tests := []struct {
		name string
		// prepare acts on storage after both blobs were ingested.
		prepare     func(e *env)
		blob        string
		wantErr     error
		wantExists  bool
		wantDeleted int
		wantDocs    int // documents left, of 5
	}{
		{"deleted blob", func(e *env) { e.deleteBlob("gone.jsonl") }, "gone.jsonl", nil, false, 3, 2},
		{"never ingested", func(e *env) {}, "never.jsonl", nil, false, 0, 5},
		{"uploaded again before the event", func(e *env) {
			e.deleteBlob("gone.jsonl")
			e.upload("gone.jsonl", `{"text": "new version"}`+"\n")
		}, "gone.jsonl", nil, true, 0, 5},
		{"storage unavailable", func(e *env) {
			e.deleteBlob("gone.jsonl")
			failBlobsWith(e, "Props", unavailable)
		}, "gone.jsonl", unavailable, false, 0, 5},
		{"storage refuses", func(e *env) {
			e.deleteBlob("gone.jsonl")
			failBlobsWith(e, "Props", forbidden)
		}, "gone.jsonl", forbidden, false, 0, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 2)
			etag := e.labelled("gone.jsonl", "only here", "shared text", "also only here")
			e.labelled("kept.jsonl", "shared text", "kept text")
			tt.prepare(e)

			rem, err := e.remover().Removed(e.ctx, container, tt.blob)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Removed: %v, want %v", err, tt.wantErr)
			}
			if rem.Exists != tt.wantExists || rem.Deleted != tt.wantDeleted || rem.Source != ingest.Source(container, tt.blob) {
				t.Errorf("Removed = %+v, want exists %v, %d deleted", rem, tt.wantExists, tt.wantDeleted)
			}
			docs, rows := e.documents()
			if docs != tt.wantDocs || rows != tt.wantDocs {
				t.Errorf("after: %d documents, %d rows of the task; want %d of each", docs, rows, tt.wantDocs)
			}
			if tt.wantDeleted == 0 {
				return
			}
			if rec := e.record("gone.jsonl", etag); rec.Status != tinyhead.IngestDeleted {
				t.Errorf("ingest record %+v, want deleted", rec)
			}
			known, err := e.store.EmbeddingsByHash(e.ctx, e.emb.ModelID(),
				[]string{tinyhead.ContentHash("only here"), tinyhead.ContentHash("shared text")})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := known[tinyhead.ContentHash("only here")]; ok || len(known) != 1 {
				t.Errorf("embeddings left: %d, want only the shared text's", len(known))
			}
		})
	}
}

// failBlobsWith makes every blob operation op fail with err.
func failBlobsWith(e *env, op string, err error) {
	e.blobs.SetFault(func(o, _, _ string) error {
		if o == op {
			return err
		}
		return nil
	})
}

// TestReconcile: the nightly repair deletes the rows of every blob that is
// gone although no event said so, and only those; a storage error deletes
// nothing.
func TestReconcile(t *testing.T) {
	unavailable := tinyhead.Errorf(tinyhead.ErrUnavailable, "storage busy (HTTP 503 ServerBusy)")
	tests := []struct {
		name        string
		fault       string // blob operation that fails, if any
		wantErr     bool
		wantRemoved []string
		wantDocs    int
	}{
		{"missed deletions", "", false, []string{"incoming/a/gone.jsonl", "incoming/gone.jsonl"}, 2},
		{"listing fails", "List", true, nil, 6},
		{"checking fails", "Props", true, nil, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 2)
			e.labelled("gone.jsonl", "one", "two")
			e.labelled("kept.jsonl", "three", "four")
			e.labelled("a/gone.jsonl", "five", "six")
			// Rows of another container are not this reconciliation's.
			other := tinyhead.Document{Source: "archive/x.jsonl", Item: "1", SourceVersion: "v", Text: "x",
				Embeddings: map[string][]float32{e.emb.ModelID(): make([]float32, dim)}}
			if err := e.store.PutDocuments(e.ctx, []tinyhead.Document{other}); err != nil {
				t.Fatal(err)
			}
			e.deleteBlob("gone.jsonl")
			e.deleteBlob("a/gone.jsonl")
			if tt.fault != "" {
				failBlobsWith(e, tt.fault, unavailable)
			}

			rec, err := e.remover().Reconcile(e.ctx, container)
			if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, tinyhead.ErrUnavailable)) {
				t.Fatalf("Reconcile: %v, want error %v", err, tt.wantErr)
			}
			var removed []string
			for _, r := range rec.Removed {
				removed = append(removed, r.Source)
			}
			if !slices.Equal(removed, tt.wantRemoved) || rec.Sources != 3 {
				t.Errorf("Reconcile = %+v, want 3 sources, removed %v", rec, tt.wantRemoved)
			}
			if want := 2 * len(tt.wantRemoved); rec.Deleted != want {
				t.Errorf("%d documents deleted, want %d", rec.Deleted, want)
			}
			if docs, rows := e.documents(); docs != tt.wantDocs+1 || rows != tt.wantDocs {
				t.Errorf("after: %d documents, %d rows of the task; want %d and %d", docs, rows, tt.wantDocs+1, tt.wantDocs)
			}
		})
	}
}

// TestReconcileBlobUploadedMeanwhile: a blob that the listing missed but
// that exists when asked keeps its rows.
func TestReconcileBlobUploadedMeanwhile(t *testing.T) {
	e := newEnv(t, 2)
	e.labelled("late.jsonl", "one", "two")
	// The listing does not see the blob (it was, say, deleted and
	// uploaded again around it).
	e.blobs.SetFault(func(op, _, _ string) error {
		if op == "List" {
			e.blobs.SetFault(nil)
			e.deleteBlob("late.jsonl")
			e.upload("late.jsonl", `{"id": "0", "text": "one"}`+"\n")
		}
		return nil
	})
	rec, err := e.remover().Reconcile(e.ctx, container)
	if err != nil || len(rec.Removed) != 0 || rec.Deleted != 0 {
		t.Fatalf("Reconcile = %+v, %v; want nothing removed", rec, err)
	}
	if docs, _ := e.documents(); docs != 2 {
		t.Errorf("%d documents, want 2", docs)
	}
}

// TestIngestAfterRemoval: a late attempt at a deleted version writes
// nothing, and a blob uploaded again after its deletion ingests again,
// embedding its texts anew.
func TestIngestAfterRemoval(t *testing.T) {
	e := newEnv(t, 2)
	const name = "again.jsonl"
	body := `{"id": "0", "text": "one", "labels": {"topic": "t0"}}` + "\n" + `{"id": "1", "text": "two", "labels": {"topic": "t1"}}` + "\n"
	old := e.upload(name, body)
	e.mustIngest(name)
	e.emb.embedded()

	// A re-delivery of the old version opens the blob; the blob is deleted
	// and its deletion handled before the attempt is recorded.
	e.store.SetFault(func(op string) error {
		if op == "BeginIngest" {
			e.store.SetFault(nil)
			e.deleteBlob(name)
			if _, err := e.remover().Removed(e.ctx, container, name); err != nil {
				t.Errorf("Removed: %v", err)
			}
		}
		return nil
	})
	res, err := e.ingest(name)
	if err != nil || res.Status != tinyhead.IngestDeleted || res.ETag != old || res.RowsOK != 0 {
		t.Fatalf("late attempt at the deleted version: %+v, %v; want status deleted, nothing written", res, err)
	}
	if docs, rows := e.documents(); docs != 0 || rows != 0 {
		t.Fatalf("the late attempt brought back %d documents (%d labelled)", docs, rows)
	}
	if rec := e.record(name, old); rec.Status != tinyhead.IngestDeleted {
		t.Errorf("old version's record %+v, want deleted", rec)
	}

	// Uploaded again: a new version, ingested as any other.
	etag := e.upload(name, body)
	res = e.mustIngest(name)
	if res.Status != tinyhead.IngestDone || res.Redelivery || res.RowsOK != 2 || res.Embedded != 2 {
		t.Fatalf("upload after deletion: %+v; want 2 rows stored, 2 texts embedded", res)
	}
	e.checkRows(name, etag, row{"0", "one", map[string]string{"topic": "t0"}}, row{"1", "two", map[string]string{"topic": "t1"}})
	if _, rows := e.documents(); rows != 2 {
		t.Errorf("%d rows of the task, want 2", rows)
	}
}

// TestRemovedKeepsAVersionUploadedMeanwhile: the blob is uploaded again and
// ingested between storage's "not found" and the deletion: the new
// version's rows and record stay.
func TestRemovedKeepsAVersionUploadedMeanwhile(t *testing.T) {
	e := newEnv(t, 2)
	const name = "race.jsonl"
	e.labelled(name, "one", "two", "three")
	e.deleteBlob(name)
	var etag string
	e.store.SetFault(func(op string) error {
		if op == "DeleteSource" {
			e.store.SetFault(nil)
			etag = e.upload(name, `{"id": "0", "text": "one, again", "labels": {"topic": "t0"}}`+"\n")
			e.mustIngest(name)
		}
		return nil
	})
	rem, err := e.remover().Removed(e.ctx, container, name)
	if err != nil || rem.Exists || rem.Deleted != 0 {
		t.Fatalf("Removed = %+v, %v; want nothing left to delete", rem, err)
	}
	e.checkRows(name, etag, row{"0", "one, again", map[string]string{"topic": "t0"}})
	if rec := e.record(name, etag); rec.Status != tinyhead.IngestDone {
		t.Errorf("the new version's record %+v, want done", rec)
	}
}
