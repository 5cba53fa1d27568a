package app_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tinyhead/tinyhead/internal/app"
	"github.com/tinyhead/tinyhead/internal/azurite"
	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/catalog"
	"github.com/tinyhead/tinyhead/internal/config"
	"github.com/tinyhead/tinyhead/internal/customhandler"
	"github.com/tinyhead/tinyhead/internal/ingest"
	"github.com/tinyhead/tinyhead/internal/onnxembed/embedtest"
	"github.com/tinyhead/tinyhead/internal/onnxrt"
	"github.com/tinyhead/tinyhead/internal/registry"
	"github.com/tinyhead/tinyhead/internal/scoring"
	"github.com/tinyhead/tinyhead/internal/serving"
	"github.com/tinyhead/tinyhead/internal/sqlstore"
	"github.com/tinyhead/tinyhead/internal/testenv"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
	"github.com/tinyhead/tinyhead/internal/training"
)

// fixture is a real handler over HTTP with a real Azurite, a real SQLite
// file and the real embedding model; tests play the Functions host.
type fixture struct {
	t        *testing.T
	blobs    *blobstore.Client
	store    *sqlstore.Store
	registry *registry.Registry
	remover  *ingest.Remover // the handler's; a test may replace its Blobs
	model    string          // the embedding model's id
	server   *httptest.Server
}

var modelsContainers atomic.Int64

// One Azurite serves every test in this package (each test has its own
// database and its own blob names); starting one takes seconds.
var shared struct {
	once sync.Once
	srv  *azurite.Server
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.srv != nil {
		shared.srv.Stop()
	}
	os.Exit(code)
}

func sharedAzurite(t *testing.T) *azurite.Server {
	t.Helper()
	shared.once.Do(func() { shared.srv, shared.err = azurite.Start(context.Background(), azurite.Options{}) })
	if shared.err != nil {
		testenv.Missing(t, "azurite is required for this test (run scripts/setup.sh): %v", shared.err)
	}
	return shared.srv
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	az := sharedAzurite(t)
	blobs, err := blobstore.NewFromEnv(config.StorageConnection, func(name string) string {
		if name == config.StorageConnection {
			return az.ConnectionString()
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := blobs.EnsureContainer(ctx, config.IncomingContainer); err != nil {
		t.Fatal(err)
	}
	store, err := sqlstore.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "tinyhead.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// Each test has its own models container in the shared Azurite.
	models := fmt.Sprintf("models-%d", modelsContainers.Add(1))
	if err := blobs.EnsureContainer(ctx, models); err != nil {
		t.Fatal(err)
	}
	reg := &registry.Registry{Blobs: registry.ClientBlobs(blobs), Container: models, Runtime: registry.RuntimeOf(onnxrt.NewClassifier), Log: log}
	embedder := embedtest.Embedder(t)
	remover := &ingest.Remover{Blobs: blobs, Store: store, Log: log}
	trainer := &training.Service{Store: store, Registry: reg, Embedders: tinyhead.Embedders{embedder}, Log: log}
	goReg := &registry.Registry{Blobs: reg.Blobs, Container: models, Runtime: registry.GoRuntime, Log: log}
	a := &app.App{
		Ingest: &ingest.Pipeline{
			Blobs:     blobs,
			Store:     store,
			Embedders: tinyhead.Embedders{embedder},
			Log:       log,
			BatchSize: 4, // several batches per small file
		},
		Removal:  remover,
		Training: trainer,
		Serving:  &serving.Service{Models: reg, Embedders: tinyhead.Embedders{embedder}, Log: log},
		Scoring:  &scoring.Service{Store: store, Models: goReg, Log: log},
		Catalog:  &catalog.Service{Registry: reg, Training: trainer},
		Labels:   store,
		Ingests:  store,
		Log:      log,
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return &fixture{t: t, blobs: blobs, store: store, registry: reg, remover: remover, model: embedder.ModelID(), server: srv}
}

// upload puts a blob into incoming/ and returns its ETag.
func (f *fixture) upload(name string, content []byte) string {
	f.t.Helper()
	etag, err := f.blobs.Upload(context.Background(), config.IncomingContainer, name, bytes.NewReader(content), "")
	if err != nil {
		f.t.Fatal(err)
	}
	return etag
}

// trigger sends the blob-trigger invocation the host would send for name
// and returns the HTTP status and the decoded response.
func (f *fixture) trigger(name string) (int, customhandler.InvokeResponse, ingest.Result) {
	f.t.Helper()
	ctx := context.Background()
	content, err := f.blobs.Download(ctx, config.IncomingContainer, name)
	if err != nil {
		f.t.Fatal(err)
	}
	props, err := f.blobs.Props(ctx, config.IncomingContainer, name)
	if err != nil {
		f.t.Fatal(err)
	}
	req := customhandler.BlobTriggerRequest(app.EmbedBlobFunction, app.BlobBinding,
		f.blobs.URL(config.IncomingContainer, name), name, content,
		customhandler.BlobProperties{ETag: props.ETag, ContentType: props.ContentType, LastModified: props.LastModified})
	status, out := f.invoke(app.EmbedBlobFunction, req)
	var res struct {
		ReturnValue ingest.Result
	}
	f.decode(out, &res)
	return status, out, res.ReturnValue
}

func gzipped(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

func (f *fixture) doc(source, item string) tinyhead.Document {
	f.t.Helper()
	d, err := f.store.GetDocument(context.Background(), source, item)
	if err != nil {
		f.t.Fatalf("document (%s, %s): %v", source, item, err)
	}
	return d
}

func (f *fixture) documents() int {
	f.t.Helper()
	s, err := f.store.Stats(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return s.Documents
}

func TestReady(t *testing.T) {
	a := &app.App{Log: slog.Default()}
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d", resp.StatusCode)
	}
}

// TestEmbedBlobFormats ingests one file of each format and checks what was
// stored: rows, ids, texts, labels by column and by path, 512-d vectors.
func TestEmbedBlobFormats(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		blob   string
		body   string
		wantOK int
		check  func(t *testing.T)
	}{
		{
			name: "jsonl with ids and labels",
			blob: "reviews.jsonl",
			body: `{"id": "r1", "text": "Great product, works as described", "labels": {"sentiment": "positive", "topic": "quality"}}
{"id": 2, "text": "Broke after two days", "labels": {"sentiment": "negative"}}
{"text": "Shipping was fast"}
`,
			wantOK: 3,
			check: func(t *testing.T) {
				d := f.doc("incoming/reviews.jsonl", "r1")
				if d.Labels["sentiment"] != "positive" || d.Labels["topic"] != "quality" {
					t.Errorf("labels = %v", d.Labels)
				}
				if len(d.Embeddings) != 1 || len(d.Embeddings[f.model]) != 512 {
					t.Errorf("embeddings %v, want one 512-d vector of %s", d.Embeddings, f.model)
				}
				if d := f.doc("incoming/reviews.jsonl", "2"); d.Labels["sentiment"] != "negative" {
					t.Errorf("numeric id: labels = %v", d.Labels)
				}
				if d := f.doc("incoming/reviews.jsonl", "#3"); d.Text != "Shipping was fast" || len(d.Labels) != 0 {
					t.Errorf("row without id: %q %v", d.Text, d.Labels)
				}
			},
		},
		{
			name:   "csv with task columns",
			blob:   "tickets.csv",
			body:   "id,text,urgency,team\nt1,Server is down for all users,high,ops\nt2,\"Please update my address, thanks\",,billing\n",
			wantOK: 2,
			check: func(t *testing.T) {
				d := f.doc("incoming/tickets.csv", "t1")
				if d.Labels["urgency"] != "high" || d.Labels["team"] != "ops" {
					t.Errorf("labels = %v", d.Labels)
				}
				d = f.doc("incoming/tickets.csv", "t2")
				if _, ok := d.Labels["urgency"]; ok || d.Labels["team"] != "billing" {
					t.Errorf("empty cell must leave the task unlabeled: %v", d.Labels)
				}
				if d.Text != "Please update my address, thanks" {
					t.Errorf("text = %q", d.Text)
				}
			},
		},
		{
			name:   "txt labelled by path",
			blob:   "sentiment/positive/review-7.txt",
			body:   "I would buy this again.\n",
			wantOK: 1,
			check: func(t *testing.T) {
				d := f.doc("incoming/sentiment/positive/review-7.txt", "#1")
				if d.Labels["sentiment"] != "positive" {
					t.Errorf("labels = %v", d.Labels)
				}
			},
		},
		{
			name:   "eml: subject and body, headers stripped",
			blob:   "spam/spam/offer.eml",
			body:   "Return-Path: <x@example.com>\r\nFrom: Deals <x@example.com>\r\nSubject: You have WON a prize\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>Click <b>here</b> to claim &amp; win!</p></body></html>\r\n",
			wantOK: 1,
			check: func(t *testing.T) {
				d := f.doc("incoming/spam/spam/offer.eml", "#1")
				if d.Labels["spam"] != "spam" {
					t.Errorf("labels = %v", d.Labels)
				}
				if !strings.Contains(d.Text, "You have WON a prize") || !strings.Contains(d.Text, "claim & win") {
					t.Errorf("text = %q", d.Text)
				}
				if strings.Contains(d.Text, "Return-Path") || strings.Contains(d.Text, "<b>") {
					t.Errorf("headers or tags left in text: %q", d.Text)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.upload(tt.blob, []byte(tt.body))
			status, resp, res := f.trigger(tt.blob)
			if status != http.StatusOK {
				t.Fatalf("status %d, logs %v", status, resp.Logs)
			}
			if res.RowsOK != tt.wantOK || res.RowsRejected != 0 {
				t.Fatalf("rows ok %d rejected %d, want %d and 0; logs %v", res.RowsOK, res.RowsRejected, tt.wantOK, resp.Logs)
			}
			tt.check(t)
		})
	}
}

// TestEmbedBlobRedeliveryAndNewVersion: the same blob version delivered
// twice adds nothing; a new version replaces the old version's rows.
func TestEmbedBlobRedeliveryAndNewVersion(t *testing.T) {
	f := newFixture(t)
	v1 := "{\"id\":\"a\",\"text\":\"first version of a\"}\n{\"id\":\"b\",\"text\":\"only in the first version\"}\n"
	etag1 := f.upload("notes.jsonl", []byte(v1))
	if status, resp, _ := f.trigger("notes.jsonl"); status != 200 {
		t.Fatalf("first delivery: %d %v", status, resp.Logs)
	}
	if n := f.documents(); n != 2 {
		t.Fatalf("%d documents after first delivery, want 2", n)
	}
	status, resp, res := f.trigger("notes.jsonl")
	if status != 200 || !res.Redelivery || res.Embedded != 0 {
		t.Fatalf("re-delivery: status %d, result %+v, logs %v", status, res, resp.Logs)
	}
	if n := f.documents(); n != 2 {
		t.Fatalf("%d documents after re-delivery, want 2", n)
	}
	rec, err := f.store.GetIngest(context.Background(), "incoming/notes.jsonl", etag1)
	if err != nil || rec.Attempts != 2 || rec.Status != tinyhead.IngestDone {
		t.Fatalf("ingest record %+v, %v; want done after 2 attempts", rec, err)
	}

	v2 := "{\"id\":\"a\",\"text\":\"second version of a\"}\n{\"id\":\"c\",\"text\":\"new in the second version\"}\n"
	f.upload("notes.jsonl", []byte(v2))
	status, resp, res = f.trigger("notes.jsonl")
	if status != 200 || res.RowsOK != 2 || res.Pruned != 1 {
		t.Fatalf("new version: status %d, result %+v, logs %v", status, res, resp.Logs)
	}
	if d := f.doc("incoming/notes.jsonl", "a"); d.Text != "second version of a" {
		t.Errorf("a = %q", d.Text)
	}
	if _, err := f.store.GetDocument(context.Background(), "incoming/notes.jsonl", "b"); err == nil {
		t.Error("row b of the old version is still stored")
	}
	if n := f.documents(); n != 2 {
		t.Errorf("%d documents, want 2", n)
	}
}

// TestEmbedBlobBadRows: a file mixing good and bad rows keeps every good row
// and reports every bad one with file, row and reason.
func TestEmbedBlobBadRows(t *testing.T) {
	f := newFixture(t)
	var b bytes.Buffer
	b.WriteString(`{"id":"ok1","text":"a good row"}` + "\n")                           // row 1
	b.WriteString(`{"id":"bad-utf8","text":"caf` + "\xff\xfe" + `"}` + "\n")           // row 2
	b.WriteString(`{"id":"empty","text":"   "}` + "\n")                                // row 3
	b.WriteString(`{"id":"broken", "text": "no closing brace"` + "\n")                 // row 4
	b.WriteString(`{"id":"huge","text":"` + strings.Repeat("x", 10<<20) + `"}` + "\n") // row 5: 10 MB line
	b.WriteString(`{"id":"ok2","text":"another good row"}` + "\n")                     // row 6
	f.upload("mixed.jsonl", b.Bytes())
	status, resp, res := f.trigger("mixed.jsonl")
	if status != 200 {
		t.Fatalf("status %d, logs %v", status, resp.Logs)
	}
	if res.RowsOK != 2 || res.RowsRejected != 4 {
		t.Fatalf("rows ok %d rejected %d, want 2 and 4; logs %v", res.RowsOK, res.RowsRejected, resp.Logs)
	}
	logs := strings.Join(resp.Logs, "\n")
	for _, row := range []int{2, 3, 4, 5} {
		if !strings.Contains(logs, fmt.Sprintf("incoming/mixed.jsonl row %d:", row)) {
			t.Errorf("row %d is not reported with file and row; logs:\n%s", row, logs)
		}
	}
	f.doc("incoming/mixed.jsonl", "ok1")
	f.doc("incoming/mixed.jsonl", "ok2")
}

// TestEmbedBlobBadTaskNames: a row labelled for a task name that could
// not name a task (it would become a models path) is rejected with file,
// row and reason; the file's other rows are stored, and no such task
// exists afterwards.
func TestEmbedBlobBadTaskNames(t *testing.T) {
	f := newFixture(t)
	var b bytes.Buffer
	b.WriteString(`{"id":"ok1","text":"a good row","labels":{"spam":"ham"}}` + "\n")             // row 1
	b.WriteString(`{"id":"esc","text":"escape","labels":{"../escape":"x","spam":"ham"}}` + "\n") // row 2
	b.WriteString(`{"id":"sub","text":"sub folder","labels":{"victim/sub":"x"}}` + "\n")         // row 3
	b.WriteString(`{"id":"dots","text":"dots","labels":{"..":"x"}}` + "\n")                      // row 4
	b.WriteString(`{"id":"ok2","text":"another good row","labels":{"spam":"spam"}}` + "\n")      // row 5
	f.upload("names.jsonl", b.Bytes())
	status, resp, res := f.trigger("names.jsonl")
	if status != 200 || res.RowsOK != 2 || res.RowsRejected != 3 {
		t.Fatalf("status %d, rows ok %d rejected %d, want 200, 2 and 3; logs %v", status, res.RowsOK, res.RowsRejected, resp.Logs)
	}
	logs := strings.Join(resp.Logs, "\n")
	for _, row := range []int{2, 3, 4} {
		if !strings.Contains(logs, fmt.Sprintf("incoming/names.jsonl row %d: task name", row)) {
			t.Errorf("row %d is not reported with file, row and reason; logs:\n%s", row, logs)
		}
	}
	tasks, err := f.store.Tasks(context.Background(), embedtest.Embedder(t).ModelID())
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if task.Task != "spam" {
			t.Errorf("task %q was stored", task.Task)
		}
	}
	f.doc("incoming/names.jsonl", "ok1")
	f.doc("incoming/names.jsonl", "ok2")
}

// TestEmbedBlobUnreadableFiles: a file that cannot be read at all fails the
// invocation (so the host retries and then poisons it) with a clear
// message; retries of that version fail fast. Empty files are fine.
func TestEmbedBlobUnreadableFiles(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name       string
		blob       string
		body       []byte
		wantStatus int
		wantLog    string
	}{
		{"csv without text column", "no-text.csv", []byte("id,body\n1,hello\n"), 500, "text"},
		{"binary file", "image.png", append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte{0, 1, 2, 255}, 512)...), 500, "binary"},
		{"gzip named .jsonl", "export.jsonl", gzipped(strings.Repeat(`{"text": "hello", "labels": {"spam": "ham"}}`+"\n", 200)), 500, "binary"},
		{"empty file", "empty.txt", nil, 200, ""},
		{"empty jsonl", "empty.jsonl", []byte{}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			etag := f.upload(tt.blob, tt.body)
			for attempt := 1; attempt <= 2; attempt++ {
				status, resp, _ := f.trigger(tt.blob)
				logs := strings.Join(resp.Logs, "\n")
				if status != tt.wantStatus || !strings.Contains(logs, tt.wantLog) {
					t.Fatalf("attempt %d: status %d, logs %q; want %d mentioning %q", attempt, status, logs, tt.wantStatus, tt.wantLog)
				}
				if tt.wantStatus != 200 && !strings.Contains(logs, "incoming/"+tt.blob) {
					t.Errorf("error does not name the file: %q", logs)
				}
			}
			rec, err := f.store.GetIngest(context.Background(), "incoming/"+tt.blob, etag)
			if err != nil {
				t.Fatal(err)
			}
			wantStatus := tinyhead.IngestDone
			if tt.wantStatus != 200 {
				wantStatus = tinyhead.IngestFailed
			}
			if rec.Status != wantStatus || rec.Attempts != 2 {
				t.Errorf("ingest record %+v, want %s after 2 attempts", rec, wantStatus)
			}
		})
	}
	if n := f.documents(); n != 0 {
		t.Errorf("%d documents stored, want 0", n)
	}
}

// TestEmbedBlobDedupe: identical texts are embedded once per model, across
// rows and across files.
func TestEmbedBlobDedupe(t *testing.T) {
	f := newFixture(t)
	f.upload("a.jsonl", []byte("{\"text\":\"same text\"}\n{\"text\":\"same text\"}\n{\"text\":\"other text\"}\n"))
	_, _, res := f.trigger("a.jsonl")
	if res.RowsOK != 3 || res.Embedded != 2 {
		t.Fatalf("a.jsonl: %+v, want 3 rows and 2 texts embedded", res)
	}
	f.upload("b.csv", []byte("text\nsame text\nother text\n"))
	_, _, res = f.trigger("b.csv")
	if res.RowsOK != 2 || res.Embedded != 0 {
		t.Fatalf("b.csv: %+v, want 2 rows and nothing embedded", res)
	}
	a, b := f.doc("incoming/a.jsonl", "#1"), f.doc("incoming/b.csv", "#1")
	if !slices.Equal(a.Embeddings[f.model], b.Embeddings[f.model]) || len(a.Embeddings[f.model]) == 0 {
		t.Fatal("the same text has two different embeddings")
	}
}
