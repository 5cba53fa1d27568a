package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/app"
	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/config"
	"github.com/tinyhead/tinyhead/internal/customhandler"
	"github.com/tinyhead/tinyhead/internal/ingest"
	"github.com/tinyhead/tinyhead/internal/ingest/ingesttest"
	"github.com/tinyhead/tinyhead/internal/onnxembed/embedtest"
	"github.com/tinyhead/tinyhead/internal/sqlstore"
	"github.com/tinyhead/tinyhead/internal/testenv"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// These tests play the host delivering two versions of one blob to the
// real handler at once, over HTTP, with Azurite, the real model and a real
// store (SQLite; and SQL Server when TINYHEAD_TEST_MSSQL_DSN is set). A
// gate in front of the store holds each delivery before each of its store
// writes, so a schedule, not timing, orders the two.

// raceHandler is the real handler over HTTP whose pipeline writes to store
// through gates.
type raceHandler struct {
	blobs  *blobstore.Client
	store  *sqlstore.Store
	gates  *ingesttest.Gates
	server *httptest.Server
	later  string // the etag that the opener moves a second on ("" for none)
}

func newRaceHandler(t *testing.T, store *sqlstore.Store) *raceHandler {
	t.Helper()
	f := newFixture(t) // Azurite and the incoming container
	h := &raceHandler{blobs: f.blobs, store: store, gates: &ingesttest.Gates{}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := &app.App{
		Ingest: &ingest.Pipeline{Blobs: ingesttest.ShiftedOpener{Opener: f.blobs, Later: &h.later}, Store: ingesttest.NewGatedStore(store, h.gates.Of), Embedders: tinyhead.Embedders{embedtest.Embedder(t)},
			Log: log, BatchSize: 2},
		Log: log,
	}
	h.server = httptest.NewServer(a.Handler())
	t.Cleanup(h.server.Close)
	return h
}

// raceDelivery is one blob-trigger invocation in flight.
type raceDelivery struct {
	*ingesttest.Delivery
	etag   string
	status int
	res    ingest.Result
	logs   []string
	err    error
}

// deliver sends the invocation the host sends for the blob's current
// version and waits until the handler stops at its first store call.
func (h *raceHandler) deliver(t *testing.T, who, blob string) *raceDelivery {
	t.Helper()
	d := send(t, h.server, h.blobs, who, blob)
	d.Gate = h.gates.Of(d.etag)
	d.Wait(t)
	return d
}

// send posts the blob-trigger invocation the host sends for the blob's
// current version to server, and returns at once; d.Done closes when the
// answer is in.
func send(t *testing.T, server *httptest.Server, blobs *blobstore.Client, who, blob string) *raceDelivery {
	t.Helper()
	ctx := t.Context()
	content, err := blobs.Download(ctx, config.IncomingContainer, blob)
	if err != nil {
		t.Fatal(err)
	}
	props, err := blobs.Props(ctx, config.IncomingContainer, blob)
	if err != nil {
		t.Fatal(err)
	}
	req := customhandler.BlobTriggerRequest(app.EmbedBlobFunction, app.BlobBinding,
		blobs.URL(config.IncomingContainer, blob), blob, content,
		customhandler.BlobProperties{ETag: props.ETag, ContentType: props.ContentType, LastModified: props.LastModified})
	payload, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	d := &raceDelivery{Delivery: ingesttest.NewDelivery(who, nil), etag: props.ETag}
	go func() {
		defer close(d.Done)
		resp, err := http.Post(server.URL+"/"+app.EmbedBlobFunction, "application/json", bytes.NewReader(payload))
		if err != nil {
			d.err = err
			return
		}
		defer resp.Body.Close()
		var out struct {
			Logs        []string
			ReturnValue ingest.Result
		}
		d.status, d.err = resp.StatusCode, json.NewDecoder(resp.Body).Decode(&out)
		d.res, d.logs = out.ReturnValue, out.Logs
	}()
	return d
}

// TestEmbedBlobVersionsInterleaved is issue 11's reproduction of defects 1
// and 2 on real components: v1 of incoming/race/… (4 rows in two batches,
// labelled for "idem" and "extra") is delivered and opened, v2 (2 rows,
// "idem" only) is uploaded and delivered, and the two invocations' store
// writes run in every order (252), with v2 modified in the same second as
// v1 or a second later. Every order must end with v2's rows and labels
// only, both invocations answered 200, v2 recorded done and v1 done (had
// it pruned before v2 was claimed) or superseded.
func TestEmbedBlobVersionsInterleaved(t *testing.T) {
	onEachStore(t, testVersionsInterleaved)
}

// onEachStore runs test on a fresh SQLite store and, when
// TINYHEAD_TEST_MSSQL_DSN is set, on a fresh SQL Server database.
func onEachStore(t *testing.T, test func(*testing.T, *sqlstore.Store)) {
	open := func(t *testing.T, driver, dsn string) {
		store, err := sqlstore.Open(t.Context(), driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		test(t, store)
	}
	t.Run("SQLite", func(t *testing.T) {
		open(t, sqlstore.DriverSQLite, filepath.Join(t.TempDir(), "tinyhead.db"))
	})
	t.Run("SQLServer", func(t *testing.T) {
		open(t, sqlstore.DriverSQLServer, testenv.FreshMSSQLDatabase(t, testenv.MSSQL(t), "tinyhead_app"))
	})
}

func testVersionsInterleaved(t *testing.T, store *sqlstore.Store) {
	h := newRaceHandler(t, store)
	v1 := []byte(`{"id": "a", "text": "The first row of the first version", "labels": {"idem": "x", "extra": "e"}}
{"id": "b", "text": "The second row, in both versions", "labels": {"idem": "y", "extra": "e"}}
{"id": "c", "text": "The third row of the first version", "labels": {"idem": "x", "extra": "e"}}
{"id": "d", "text": "The fourth row of the first version", "labels": {"idem": "y", "extra": "e"}}
`)
	v2 := []byte(`{"id": "a", "text": "The first row of the second version", "labels": {"idem": "y"}}
{"id": "b", "text": "The second row, in both versions", "labels": {"idem": "x"}}
`)
	want := map[string]tinyhead.Document{
		"a": {Text: "The first row of the second version", Labels: map[string]string{"idem": "y"}},
		"b": {Text: "The second row, in both versions", Labels: map[string]string{"idem": "x"}},
	}
	all := ingesttest.Interleavings(5, 5)
	for _, later := range []bool{false, true} {
		mode := "same second"
		if later {
			mode = "a second later"
		}
		t.Run(mode, func(t *testing.T) {
			for _, order := range all {
				t.Run(order, func(t *testing.T) {
					blob := fmt.Sprintf("race/%s/%s.jsonl", strings.ReplaceAll(mode, " ", "-"), order)
					src := ingest.Source(config.IncomingContainer, blob)
					h.later = ""
					e1 := uploadTo(t, h.blobs, blob, v1)
					a := h.deliver(t, "A", blob) // opened v1
					e2 := uploadTo(t, h.blobs, blob, v2)
					if later {
						h.later = e2
					}
					b := h.deliver(t, "B", blob) // opened v2
					var log []string
					for _, who := range order + "AAAAABBBBB" {
						d := a
						if who == 'B' {
							d = b
						}
						if s := d.Step(t); s != "" {
							log = append(log, s)
						}
					}
					for _, d := range []*raceDelivery{a, b} {
						if d.err != nil || d.status != http.StatusOK {
							t.Fatalf("after %v: %s answered %d (%v): %v", log, d.Name, d.status, d.err, d.logs)
						}
					}
					checkOnly(t, store, src, e2, want)
					if rec := ingestRecord(t, store, src, e2); rec.Status != tinyhead.IngestDone || b.res.Status != tinyhead.IngestDone {
						t.Errorf("after %v: v2 record %+v, result %+v; want done", log, rec, b.res)
					}
					pruned, claimed := slices.Index(log, "A.PruneSource"), -1
					for i, s := range log {
						if s == "B.BeginIngest" {
							claimed = i
						}
					}
					wantV1 := tinyhead.IngestSuperseded
					if pruned >= 0 && pruned < claimed {
						wantV1 = tinyhead.IngestDone
					}
					if rec := ingestRecord(t, store, src, e1); rec.Status != wantV1 || a.res.Status != wantV1 {
						t.Errorf("after %v: v1 record %+v, result %s; want %s", log, rec, a.res.Status, wantV1)
					}
				})
			}
		})
	}
}

// TestEmbedBlobSameVersionConcurrently is issue 11's "concurrent
// deliveries of the same version must not run the whole ingest twice" on
// real components: while the first invocation embeds its first batch
// (held there), the host delivers the same version again; the second
// invocation waits for the first instead of embedding, and answers as a
// re-delivery. Each text goes through the model once.
func TestEmbedBlobSameVersionConcurrently(t *testing.T) {
	onEachStore(t, testSameVersionConcurrently)
}

func testSameVersionConcurrently(t *testing.T, store *sqlstore.Store) {
	f := newFixture(t) // Azurite and the incoming container
	emb := &heldEmbedder{Embedder: embedtest.Embedder(t), entered: make(chan struct{}), release: make(chan struct{})}
	busy := &busyStore{Store: store, polled: make(chan struct{})}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := &app.App{
		Ingest: &ingest.Pipeline{Blobs: f.blobs, Store: busy, Embedders: tinyhead.Embedders{emb}, Log: log, BatchSize: 2,
			BusyPoll: time.Millisecond},
		Log: log,
	}
	server := httptest.NewServer(a.Handler())
	defer server.Close()
	const blob = "twice/data.jsonl"
	texts := []string{"Deliveries of one version", "are ingested by one attempt", "while the other waits for it"}
	var content strings.Builder
	for i, text := range texts {
		fmt.Fprintf(&content, "{\"id\": \"%d\", \"text\": %q}\n", i, text)
	}
	etag := uploadTo(t, f.blobs, blob, []byte(content.String()))

	first := send(t, server, f.blobs, "first", blob)
	select {
	case <-emb.entered: // the first holds the lease and embeds its first batch
	case <-first.Done:
		t.Fatalf("the first delivery answered %d before embedding: %v", first.status, first.logs)
	}
	second := send(t, server, f.blobs, "second", blob)
	select {
	case <-busy.polled: // the second found the version busy, twice: it waits
	case <-second.Done: // it did not wait: the checks below fail
	}
	close(emb.release)
	<-first.Done
	<-second.Done
	if first.err != nil || first.status != http.StatusOK || first.res.Status != tinyhead.IngestDone || first.res.Redelivery {
		t.Errorf("first: %d %+v (%v) %v; want 200, done", first.status, first.res, first.err, first.logs)
	}
	if second.err != nil || second.status != http.StatusOK || !second.res.Redelivery || second.res.Embedded != 0 ||
		second.res.RowsOK != len(texts) {
		t.Errorf("second: %d %+v (%v) %v; want 200, a re-delivery of the done version", second.status, second.res,
			second.err, second.logs)
	}
	if got := emb.count(); got != len(texts) {
		t.Errorf("%d texts embedded, want %d: each once", got, len(texts))
	}
	if rec := ingestRecord(t, store, ingest.Source(config.IncomingContainer, blob), etag); rec.Status != tinyhead.IngestDone || rec.Attempts != 2 {
		t.Errorf("record %+v, want done after 2 attempts", rec)
	}
}

// heldEmbedder holds its first call until release is closed, saying so on
// entered, and counts the texts it embeds.
type heldEmbedder struct {
	tinyhead.Embedder
	entered, release chan struct{}
	mu               sync.Mutex
	calls, texts     int
}

func (e *heldEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	e.mu.Lock()
	e.calls++
	first := e.calls == 1
	e.texts += len(texts)
	e.mu.Unlock()
	if first {
		close(e.entered)
		select {
		case <-e.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return e.Embedder.Embed(ctx, texts)
}

func (e *heldEmbedder) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.texts
}

// busyStore closes polled once BeginIngest has answered busy twice.
type busyStore struct {
	ingest.Store
	mu     sync.Mutex
	busy   int
	polled chan struct{}
}

func (s *busyStore) BeginIngest(ctx context.Context, v tinyhead.BlobVersion, lease time.Duration) (tinyhead.Ingest, error) {
	in, err := s.Store.BeginIngest(ctx, v, lease)
	if errors.Is(err, tinyhead.ErrIngestBusy) {
		s.mu.Lock()
		if s.busy++; s.busy == 2 {
			close(s.polled)
		}
		s.mu.Unlock()
	}
	return in, err
}

func uploadTo(t *testing.T, blobs *blobstore.Client, name string, content []byte) string {
	t.Helper()
	etag, err := blobs.UploadBytes(t.Context(), config.IncomingContainer, name, content, "")
	if err != nil {
		t.Fatal(err)
	}
	return etag
}

func ingestRecord(t *testing.T, store *sqlstore.Store, src, etag string) tinyhead.Ingest {
	t.Helper()
	rec, err := store.GetIngest(t.Context(), src, etag)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// checkOnly checks that source holds exactly want's items (of the four
// any version has), written by version etag, with want's texts and labels.
func checkOnly(t *testing.T, store *sqlstore.Store, source, etag string, want map[string]tinyhead.Document) {
	t.Helper()
	for _, item := range []string{"a", "b", "c", "d"} {
		d, err := store.GetDocument(t.Context(), source, item)
		w, ok := want[item]
		switch {
		case !ok && errors.Is(err, tinyhead.ErrNotFound):
		case !ok:
			t.Errorf("item %s: %+v, %v; want it gone", item, d.Labels, err)
		case err != nil:
			t.Errorf("item %s: %v", item, err)
		case d.Text != w.Text || d.SourceVersion != etag || !maps.Equal(d.Labels, w.Labels):
			t.Errorf("item %s: %q of %s, labels %v; want %q of %s, labels %v", item, d.Text, d.SourceVersion,
				d.Labels, w.Text, etag, w.Labels)
		}
	}
}
