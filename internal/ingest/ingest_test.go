package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/docparse"
	"github.com/tinyhead/tinyhead/internal/ingest"
	"github.com/tinyhead/tinyhead/internal/inmem"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// These tests run Pipeline.Ingest against the in-memory fakes of package
// inmem: no Azurite, no ONNX Runtime, no database.

const (
	container = "incoming"
	dim       = 16
)

// env is one pipeline over fresh fakes.
type env struct {
	t      *testing.T
	ctx    context.Context
	store  *inmem.Store
	blobs  *inmem.Blobs
	emb    *countingEmbedder
	p      *ingest.Pipeline
	others int // documents of other blobs in the store
}

func newEnv(t *testing.T, batchSize int) *env {
	t.Helper()
	e := &env{t: t, ctx: t.Context(), store: inmem.NewStore(), blobs: inmem.NewBlobs()}
	if err := e.blobs.EnsureContainer(e.ctx, container); err != nil {
		t.Fatal(err)
	}
	e.emb = &countingEmbedder{Embedder: inmem.NewEmbedder(dim)}
	e.p = &ingest.Pipeline{
		Blobs: e.blobs, Store: e.store, Embedders: tinyhead.Embedders{e.emb}, BatchSize: batchSize,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	return e
}

// upload writes a blob into the container and returns its ETag.
func (e *env) upload(name, content string) string {
	e.t.Helper()
	etag, err := e.blobs.UploadBytes(e.ctx, container, name, []byte(content), "")
	if err != nil {
		e.t.Fatal(err)
	}
	return etag
}

func (e *env) ingest(name string) (ingest.Result, error) {
	return e.p.Ingest(e.ctx, container, name)
}

// mustIngest ingests name and fails the test on an error.
func (e *env) mustIngest(name string) ingest.Result {
	e.t.Helper()
	res, err := e.ingest(name)
	if err != nil {
		e.t.Fatalf("Ingest(%s): %v", name, err)
	}
	return res
}

// record returns the ingest record of one version of a blob.
func (e *env) record(name, etag string) tinyhead.Ingest {
	e.t.Helper()
	rec, err := e.store.GetIngest(e.ctx, ingest.Source(container, name), etag)
	if err != nil {
		e.t.Fatal(err)
	}
	return rec
}

// row is what a stored document should hold.
type row struct {
	item, text string
	labels     map[string]string
}

// checkRows checks that the store holds exactly want as the documents of
// blob name (besides e.others documents of other blobs), written by
// version etag with this pipeline's model.
func (e *env) checkRows(name, etag string, want ...row) {
	e.t.Helper()
	src := ingest.Source(container, name)
	ref := inmem.NewEmbedder(dim)
	for _, w := range want {
		d, err := e.store.GetDocument(e.ctx, src, w.item)
		if err != nil {
			e.t.Errorf("item %q: %v", w.item, err)
			continue
		}
		if d.Text != w.text || !maps.Equal(d.Labels, w.labels) {
			e.t.Errorf("item %q: text %q labels %v, want %q %v", w.item, d.Text, d.Labels, w.text, w.labels)
		}
		if d.SourceVersion != etag || len(d.Embeddings) != 1 || d.Embeddings[ref.ModelID()] == nil || d.ContentHash != tinyhead.ContentHash(w.text) {
			e.t.Errorf("item %q: version %q models %v hash %q, want %q %q and the text's hash",
				w.item, d.SourceVersion, slices.Collect(maps.Keys(d.Embeddings)), d.ContentHash, etag, ref.ModelID())
		}
		vec, err := ref.Embed(e.ctx, []string{w.text})
		if err != nil {
			e.t.Fatal(err)
		}
		if !slices.Equal(d.Embeddings[ref.ModelID()], vec[0]) {
			e.t.Errorf("item %q: embedding is not the text's", w.item)
		}
	}
	st, err := e.store.Stats(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	if st.Documents != len(want)+e.others {
		e.t.Errorf("store holds %d documents, want %d", st.Documents, len(want)+e.others)
	}
}

// countingEmbedder counts the texts it embeds; embed, when set, replaces
// the model (to fail, or to answer wrongly).
type countingEmbedder struct {
	tinyhead.Embedder
	embed func(ctx context.Context, texts []string) ([][]float32, error)

	mu    sync.Mutex
	calls int
	texts []string
}

func (c *countingEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	c.mu.Lock()
	c.calls++
	c.texts = append(c.texts, texts...)
	c.mu.Unlock()
	if c.embed != nil {
		return c.embed(ctx, texts)
	}
	return c.Embedder.Embed(ctx, texts)
}

// embedded returns the texts embedded so far and forgets them.
func (c *countingEmbedder) embedded() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.texts
	c.texts = nil
	return t
}

// countOps makes the store and the blob storage count their calls by
// operation ("PutDocuments", "Open", "Read", …).
func (e *env) countOps() *opCounter {
	c := &opCounter{n: map[string]int{}}
	e.store.SetFault(func(op string) error {
		c.add(op)
		return nil
	})
	e.blobs.SetFault(func(op, _, _ string) error {
		c.add(op)
		return nil
	})
	return c
}

type opCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *opCounter) add(op string) {
	c.mu.Lock()
	c.n[op]++
	c.mu.Unlock()
}

func (c *opCounter) get(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[op]
}

// jsonl builds a JSON Lines file of one {"id", "text"} object per pair.
func jsonl(idText ...string) string {
	var b strings.Builder
	for i := 0; i < len(idText); i += 2 {
		fmt.Fprintf(&b, "{\"id\": %q, \"text\": %q}\n", idText[i], idText[i+1])
	}
	return b.String()
}

func TestIngestFormats(t *testing.T) {
	for _, tc := range []struct {
		name, blob, content string
		want                []row
	}{{
		name: "JSON Lines",
		blob: "reviews.jsonl",
		content: `{"id": "a", "text": "great food", "labels": {"sentiment": "pos"}}
{"text": "no id, no labels"}
{"id": 7, "text": "numeric id", "labels": {"sentiment": "neg", "topic": "service"}}
`,
		want: []row{
			{"a", "great food", map[string]string{"sentiment": "pos"}},
			{"#2", "no id, no labels", nil},
			{"7", "numeric id", map[string]string{"sentiment": "neg", "topic": "service"}},
		},
	}, {
		name: "CSV",
		blob: "reviews.csv",
		content: `id,text,sentiment
r1,"loved it, truly",pos
,no id here,neg
r3,unlabeled,
`,
		want: []row{
			{"r1", "loved it, truly", map[string]string{"sentiment": "pos"}},
			{"#2", "no id here", map[string]string{"sentiment": "neg"}},
			{"r3", "unlabeled", nil},
		},
	}, {
		name:    "TSV",
		blob:    "reviews.tsv",
		content: "text\tsentiment\nhello, world\tpos\n",
		want:    []row{{"#1", "hello, world", map[string]string{"sentiment": "pos"}}},
	}, {
		name:    "text labelled by its path",
		blob:    "spam/ham/0001.txt",
		content: "Lunch at noon?\r\n\r\n\r\nSee you.",
		want:    []row{{"#1", "Lunch at noon?\n\nSee you.", map[string]string{"spam": "ham"}}},
	}, {
		name:    "text outside a task folder has no label",
		blob:    "notes/0001.txt",
		content: "just a note",
		want:    []row{{"#1", "just a note", nil}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 2) // two batches for the three-row files
			etag := e.upload(tc.blob, tc.content)
			res := e.mustIngest(tc.blob)
			want := ingest.Result{
				Source: container + "/" + tc.blob, ETag: etag, Status: tinyhead.IngestDone,
				RowsOK: len(tc.want), Embedded: len(tc.want),
			}
			if res.Modified.IsZero() {
				t.Errorf("Result.Modified is zero, want the blob's LastModified")
			}
			res.Elapsed, res.Modified = 0, time.Time{}
			if !reflect.DeepEqual(res, want) {
				t.Errorf("Result = %+v, want %+v", res, want)
			}
			e.checkRows(tc.blob, etag, tc.want...)
			rec := e.record(tc.blob, etag)
			if rec.Status != tinyhead.IngestDone || rec.RowsOK != len(tc.want) || rec.RowsRejected != 0 || rec.Error != "" || rec.Attempts != 1 {
				t.Errorf("record = %+v, want done with %d rows, one attempt", rec, len(tc.want))
			}
		})
	}
}

// TestIngestRedelivery delivers the same version twice: the second time
// nothing is parsed, embedded or written, and the result repeats the
// counts of the first.
func TestIngestRedelivery(t *testing.T) {
	e := newEnv(t, 0)
	etag := e.upload("x.jsonl", jsonl("a", "one", "b", "two")+"not json\n")
	first := e.mustIngest("x.jsonl")
	e.emb.embedded()
	ops := e.countOps()

	again := e.mustIngest("x.jsonl")
	if !again.Redelivery || again.Status != tinyhead.IngestDone || again.RowsOK != first.RowsOK ||
		again.RowsRejected != first.RowsRejected || again.Embedded != 0 || again.ETag != etag {
		t.Errorf("re-delivery: %+v, want done, Redelivery, RowsOK %d, RowsRejected %d, Embedded 0",
			again, first.RowsOK, first.RowsRejected)
	}
	if got := e.emb.embedded(); len(got) != 0 {
		t.Errorf("re-delivery embedded %q", got)
	}
	for _, op := range []string{"Read", "EmbeddingsByHash", "PutDocuments", "PruneSource", "FinishIngest"} {
		if n := ops.get(op); n != 0 {
			t.Errorf("re-delivery called %s %d times", op, n)
		}
	}
	if rec := e.record("x.jsonl", etag); rec.Attempts != 2 || rec.Status != tinyhead.IngestDone {
		t.Errorf("record = %+v, want done after 2 attempts", rec)
	}
	e.checkRows("x.jsonl", etag, row{"a", "one", nil}, row{"b", "two", nil})
}

// TestIngestNewVersion replaces a blob: rows the new version no longer
// has are pruned, the others are rewritten, labels included: a task a row
// of the new version does not mention loses its label (issue 11, defect
// 2), as one it maps to "" does.
func TestIngestNewVersion(t *testing.T) {
	e := newEnv(t, 0)
	v1 := e.upload("x.jsonl", `{"id": "a", "text": "alpha", "labels": {"spam": "ham"}}
{"id": "b", "text": "beta", "labels": {"spam": "spam", "lang": "en"}}
{"id": "c", "text": "gamma", "labels": {"spam": "ham"}}
{"id": "d", "text": "delta", "labels": {"spam": "ham"}}
`)
	e.mustIngest("x.jsonl")
	e.emb.embedded()

	v2 := e.upload("x.jsonl", `{"id": "a", "text": "alpha, edited", "labels": {"spam": "spam"}}
{"id": "b", "text": "beta", "labels": {"lang": "de"}}
{"id": "d", "text": "delta", "labels": {"spam": ""}}
{"id": "e", "text": "epsilon"}
`)
	if v1 == v2 {
		t.Fatalf("new version has the old ETag %q", v1)
	}
	res := e.mustIngest("x.jsonl")
	if res.Redelivery || res.Pruned != 1 || res.RowsOK != 4 || res.ETag != v2 || res.Status != tinyhead.IngestDone {
		t.Errorf("Result = %+v, want a new version of 4 rows that pruned 1", res)
	}
	// Unchanged texts reuse their stored embedding.
	if got, want := e.emb.embedded(), []string{"alpha, edited", "epsilon"}; !slices.Equal(got, want) || res.Embedded != len(want) {
		t.Errorf("embedded %q (Embedded %d), want %q", got, res.Embedded, want)
	}
	e.checkRows("x.jsonl", v2,
		row{"a", "alpha, edited", map[string]string{"spam": "spam"}},
		row{"b", "beta", map[string]string{"lang": "de"}},
		row{"d", "delta", nil},
		row{"e", "epsilon", nil},
	)
	if rec := e.record("x.jsonl", v1); rec.Status != tinyhead.IngestDone {
		t.Errorf("record of the old version = %+v, want it kept as done", rec)
	}
}

// TestIngestRejections checks that bad rows are reported with file, row
// and reason while the good rows around them are stored.
func TestIngestRejections(t *testing.T) {
	for _, tc := range []struct {
		name, blob, content string
		want                []row
		rejected            []docparse.RowError // File is filled in
	}{{
		name: "JSON Lines",
		blob: "x.jsonl",
		content: `{"id": "a", "text": "ok"}
{"id": "b", "text": ""}
{"id": "c", "text": "broken"
{"id": "d", "text": "fine"}
`,
		want:     []row{{"a", "ok", nil}, {"d", "fine", nil}},
		rejected: []docparse.RowError{{Row: 2, Reason: "empty text"}, {Row: 3, Reason: "invalid JSON at byte 28: unexpected end of JSON input"}},
	}, {
		name:     "CSV",
		blob:     "x.csv",
		content:  "id,text,label\n1,ok,a\n2,too,many,fields\n3,,b\n4,fine,c\n",
		want:     []row{{"1", "ok", map[string]string{"label": "a"}}, {"4", "fine", map[string]string{"label": "c"}}},
		rejected: []docparse.RowError{{Row: 2, Reason: "4 fields, the header has 3 (CSV line 3)"}, {Row: 3, Reason: "empty text (CSV line 4)"}},
	}, {
		name:     "single document without text",
		blob:     "spam/ham/empty.html",
		content:  "<html><body> </body></html>",
		rejected: []docparse.RowError{{Row: 1, Reason: "no text"}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 0)
			etag := e.upload(tc.blob, tc.content)
			res := e.mustIngest(tc.blob)
			src := ingest.Source(container, tc.blob)
			for i := range tc.rejected {
				tc.rejected[i].File = src
			}
			if !slices.Equal(res.Rejections, tc.rejected) {
				t.Errorf("Rejections = %+v, want %+v", res.Rejections, tc.rejected)
			}
			if res.RowsOK != len(tc.want) || res.RowsRejected != len(tc.rejected) || res.Status != tinyhead.IngestDone {
				t.Errorf("Result = %+v, want done with %d rows and %d rejected", res, len(tc.want), len(tc.rejected))
			}
			e.checkRows(tc.blob, etag, tc.want...)
			rec := e.record(tc.blob, etag)
			summary := fmt.Sprintf("%d rows rejected", len(tc.rejected))
			for _, r := range tc.rejected {
				summary += fmt.Sprintf("; row %d: %s", r.Row, r.Reason)
			}
			if rec.Status != tinyhead.IngestDone || rec.RowsOK != len(tc.want) || rec.RowsRejected != len(tc.rejected) || rec.Error != summary {
				t.Errorf("record = %+v, want done, %d rows, %d rejected, %q", rec, len(tc.want), len(tc.rejected), summary)
			}
		})
	}
}

// TestIngestDuplicateIDs covers the one duplicate-id check, which applies
// to every format and to the ids ingest gives unnamed rows.
func TestIngestDuplicateIDs(t *testing.T) {
	for _, tc := range []struct {
		name, blob, content string
		want                []row
		rejected            []docparse.RowError
	}{{
		name: "JSON Lines",
		blob: "x.jsonl",
		content: `{"id": "a", "text": "first"}
{"id": "b", "text": ""}
{"id": "a", "text": "second"}
{"id": "b", "text": "b is new: its first row was rejected"}
{"id": 1, "text": "number"}
{"id": "1", "text": "same id as a string"}
`,
		want: []row{{"a", "first", nil}, {"b", "b is new: its first row was rejected", nil}, {"1", "number", nil}},
		rejected: []docparse.RowError{
			{Row: 2, Reason: "empty text"},
			{Row: 3, Reason: `duplicate id "a" (first at row 1)`},
			{Row: 6, Reason: `duplicate id "1" (first at row 5)`},
		},
	}, {
		name:     "CSV",
		blob:     "x.csv",
		content:  "id,text\na,1\nb,2\na,3\n",
		want:     []row{{"a", "1", nil}, {"b", "2", nil}},
		rejected: []docparse.RowError{{Row: 3, Reason: `duplicate id "a" (first at row 1)`}},
	}, {
		name:     "a given id that is the id of an unnamed row",
		blob:     "x.jsonl",
		content:  `{"id": "#2", "text": "claims row 2"}` + "\n" + `{"text": "row 2"}` + "\n",
		want:     []row{{"#2", "claims row 2", nil}},
		rejected: []docparse.RowError{{Row: 2, Reason: `duplicate id "#2" (first at row 1)`}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 0)
			etag := e.upload(tc.blob, tc.content)
			res := e.mustIngest(tc.blob)
			for i := range tc.rejected {
				tc.rejected[i].File = ingest.Source(container, tc.blob)
			}
			if !slices.Equal(res.Rejections, tc.rejected) || res.RowsOK != len(tc.want) {
				t.Errorf("RowsOK %d, Rejections %+v; want %d, %+v", res.RowsOK, res.Rejections, len(tc.want), tc.rejected)
			}
			e.checkRows(tc.blob, etag, tc.want...)
		})
	}
}

// TestIngestRejectionsBounded checks that at most MaxReportedRejections
// bad rows are listed while the counts stay complete.
func TestIngestRejectionsBounded(t *testing.T) {
	const bad = ingest.MaxReportedRejections + 30
	e := newEnv(t, 0)
	var b strings.Builder
	b.WriteString(jsonl("first", "good"))
	for range bad {
		b.WriteString(`{"text": 1}` + "\n")
	}
	b.WriteString(jsonl("last", "also good"))
	etag := e.upload("x.jsonl", b.String())
	res := e.mustIngest("x.jsonl")
	if res.RowsOK != 2 || res.RowsRejected != bad || len(res.Rejections) != ingest.MaxReportedRejections {
		t.Fatalf("RowsOK %d, RowsRejected %d, %d rejections listed; want 2, %d, %d",
			res.RowsOK, res.RowsRejected, len(res.Rejections), bad, ingest.MaxReportedRejections)
	}
	for i, r := range res.Rejections {
		if r.Row != i+2 || r.Reason != "text is not a string" || r.File != "incoming/x.jsonl" {
			t.Fatalf("rejection %d = %+v, want row %d", i, r, i+2)
		}
	}
	rec := e.record("x.jsonl", etag)
	if rec.RowsRejected != bad || !strings.HasPrefix(rec.Error, fmt.Sprintf("%d rows rejected; row 2: ", bad)) ||
		!strings.HasSuffix(rec.Error, "; …") || strings.Count(rec.Error, "; row ") != ingest.MaxReportedRejections {
		t.Errorf("record = %+v, want %d rejected, %d listed, then …", rec, bad, ingest.MaxReportedRejections)
	}
	e.checkRows("x.jsonl", etag, row{"first", "good", nil}, row{"last", "also good", nil})
}

// TestIngestUnreadableFile checks that a file that cannot be used at all
// fails permanently, is recorded as failed, and that a re-delivery fails
// the same way without reading the blob again.
func TestIngestUnreadableFile(t *testing.T) {
	for _, tc := range []struct {
		name, blob, content, reason string
	}{
		{"binary", "spam/ham/image.txt", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary content, not text"},
		{"CSV without a text column", "x.csv", "id,body\n1,hello\n", `no "text" column; columns found: "id", "body"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 0)
			etag := e.upload(tc.blob, tc.content)
			src := ingest.Source(container, tc.blob)
			res, err := e.ingest(tc.blob)
			checkPermanent(t, err, src, tc.reason)
			if res.Status != tinyhead.IngestFailed || res.Redelivery {
				t.Errorf("Result = %+v, want failed", res)
			}
			rec := e.record(tc.blob, etag)
			if rec.Status != tinyhead.IngestFailed || rec.Error != tc.reason || rec.RowsOK != 0 {
				t.Errorf("record = %+v, want failed with %q", rec, tc.reason)
			}

			ops := e.countOps()
			res, err = e.ingest(tc.blob)
			checkPermanent(t, err, src, tc.reason)
			if res.Status != tinyhead.IngestFailed || !res.Redelivery {
				t.Errorf("re-delivery: Result = %+v, want failed, Redelivery", res)
			}
			for _, op := range []string{"Read", "FinishIngest"} {
				if n := ops.get(op); n != 0 {
					t.Errorf("re-delivery called %s %d times", op, n)
				}
			}
			if rec := e.record(tc.blob, etag); rec.Attempts != 2 || rec.Status != tinyhead.IngestFailed {
				t.Errorf("record = %+v, want failed after 2 attempts", rec)
			}
			if got := e.emb.embedded(); len(got) != 0 {
				t.Errorf("embedded %q", got)
			}
			e.checkRows(tc.blob, etag)
		})
	}
}

func checkPermanent(t *testing.T, err error, source, reason string) {
	t.Helper()
	var perm *ingest.PermanentError
	if !errors.As(err, &perm) || perm.Source != source || perm.Reason != reason {
		t.Fatalf("error = %v, want a PermanentError of %s: %s", err, source, reason)
	}
	if got, want := err.Error(), source+": "+reason; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestIngestEmbedsEachTextOnce checks that a text is embedded once however
// often it appears: within a batch, across batches, and when another blob
// already stored it.
func TestIngestEmbedsEachTextOnce(t *testing.T) {
	distinct := make([]string, 12) // more than the pipeline remembers at batch size 1
	for i := range distinct {
		distinct[i] = fmt.Sprint("text ", i)
	}
	for _, tc := range []struct {
		name      string
		batchSize int
		stored    []string // texts another blob stored first
		texts     []string // the rows of the file, in order
		want      []string // the texts the model should see, in order
	}{{
		name:      "repeats within a batch",
		batchSize: 10,
		texts:     []string{"a", "b", "a", "a", "c", "b"},
		want:      []string{"a", "b", "c"},
	}, {
		name:      "repeats across batches",
		batchSize: 2,
		texts:     []string{"a", "b", "a", "c", "b", "b", "d", "a"},
		want:      []string{"a", "b", "c", "d"},
	}, {
		name:      "texts already stored",
		batchSize: 2,
		stored:    []string{"b", "c"},
		texts:     []string{"a", "b", "c", "d", "c"},
		want:      []string{"a", "d"},
	}, {
		name:      "distinct texts, one per batch",
		batchSize: 1,
		texts:     distinct,
		want:      distinct,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.batchSize)
			if tc.stored != nil {
				e.upload("stored.jsonl", jsonl(idText(tc.stored)...))
				e.mustIngest("stored.jsonl")
				e.emb.embedded()
				e.others += len(tc.stored)
			}
			etag := e.upload("x.jsonl", jsonl(idText(tc.texts)...))
			res := e.mustIngest("x.jsonl")
			if got := e.emb.embedded(); !slices.Equal(got, tc.want) || res.Embedded != len(tc.want) {
				t.Errorf("embedded %q (Embedded %d), want %q", got, res.Embedded, tc.want)
			}
			rows := make([]row, len(tc.texts))
			for i, text := range tc.texts {
				rows[i] = row{fmt.Sprint(i), text, nil}
			}
			e.checkRows("x.jsonl", etag, rows...)
		})
	}
}

// idText numbers texts as ids "0", "1", … for jsonl.
func idText(texts []string) []string {
	var out []string
	for i, t := range texts {
		out = append(out, fmt.Sprint(i), t)
	}
	return out
}

var (
	errDown  = tinyhead.Errorf(tinyhead.ErrUnavailable, "service down")
	errModel = errors.New("model crashed")
)

// failStore makes the n-th call (from 1) of op fail with errDown, and
// every later call of op too.
func failStore(e *env, op string, n int) {
	var calls atomic.Int32
	e.store.SetFault(func(got string) error {
		if got == op && int(calls.Add(1)) >= n {
			return errDown
		}
		return nil
	})
}

// failBlobs makes every call of op fail with errDown or, when before is
// set, run before and go on.
func failBlobs(e *env, op string, before func()) {
	e.blobs.SetFault(func(got, _, _ string) error {
		switch {
		case got != op:
			return nil
		case before != nil:
			before()
			return nil
		}
		return errDown
	})
}

// TestIngestTransientErrors checks each error an ingest may meet halfway:
// the error is returned with its cause, nothing is recorded as done or
// failed (the record, if any, stays running), and once the fault has gone
// a retry of the same version completes with every row stored once.
func TestIngestTransientErrors(t *testing.T) {
	const blob = "x.jsonl"
	texts := []string{"t0", "t1", "t2", "t3", "t4"} // three batches of two
	for _, tc := range []struct {
		name    string
		fault   func(e *env)
		wantErr string // in the error's message
		wantIs  error
		// recorded: whether the attempt left a (running) record.
		recorded bool
		// stored: documents written before the error.
		stored int
		// retryEmbedded: texts the retry must embed (the others are
		// reused from the rows already stored).
		retryEmbedded int
	}{{
		name:    "blob cannot be opened",
		fault:   func(e *env) { failBlobs(e, "Open", nil) },
		wantErr: "open blob incoming/x.jsonl", wantIs: tinyhead.ErrUnavailable,
		retryEmbedded: 5,
	}, {
		name:    "blob read fails",
		fault:   func(e *env) { failBlobs(e, "Read", nil) },
		wantErr: "reading x.jsonl", wantIs: tinyhead.ErrUnavailable,
		recorded: true, retryEmbedded: 5,
	}, {
		name:    "BeginIngest fails",
		fault:   func(e *env) { failStore(e, "BeginIngest", 1) },
		wantErr: "record ingest of incoming/x.jsonl", wantIs: tinyhead.ErrUnavailable,
		retryEmbedded: 5,
	}, {
		name:    "PutDocuments fails at the second batch",
		fault:   func(e *env) { failStore(e, "PutDocuments", 2) },
		wantErr: "store rows of incoming/x.jsonl", wantIs: tinyhead.ErrUnavailable,
		recorded: true, stored: 2, retryEmbedded: 3,
	}, {
		name:    "EmbeddingsByHash fails",
		fault:   func(e *env) { failStore(e, "EmbeddingsByHash", 1) },
		wantErr: "look up known embeddings for incoming/x.jsonl", wantIs: tinyhead.ErrUnavailable,
		recorded: true, retryEmbedded: 5,
	}, {
		name: "embedder fails",
		fault: func(e *env) {
			e.emb.embed = func(context.Context, []string) ([][]float32, error) { return nil, errModel }
		},
		wantErr: "embed rows of incoming/x.jsonl", wantIs: errModel,
		recorded: true, retryEmbedded: 5,
	}, {
		name: "embedder returns a vector too few",
		fault: func(e *env) {
			e.emb.embed = func(ctx context.Context, texts []string) ([][]float32, error) {
				out, err := e.emb.Embedder.Embed(ctx, texts)
				return out[:len(out)-1], err
			}
		},
		wantErr:  "embed rows of incoming/x.jsonl: model returned 1 vectors for 2 texts",
		recorded: true, retryEmbedded: 5,
	}, {
		name:    "PruneSource fails",
		fault:   func(e *env) { failStore(e, "PruneSource", 1) },
		wantErr: "remove rows of older versions of incoming/x.jsonl", wantIs: tinyhead.ErrUnavailable,
		recorded: true, stored: 5,
	}, {
		name:    "FinishIngest fails",
		fault:   func(e *env) { failStore(e, "FinishIngest", 1) },
		wantErr: "record outcome of incoming/x.jsonl", wantIs: tinyhead.ErrUnavailable,
		recorded: true, stored: 5,
	}, {
		name: "context cancelled while reading",
		fault: func(e *env) {
			ctx, cancel := context.WithCancel(e.ctx)
			e.ctx = ctx
			failBlobs(e, "Read", cancel)
		},
		wantIs:   context.Canceled,
		recorded: true, retryEmbedded: 5,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 2)
			etag := e.upload(blob, jsonl(idText(texts)...))
			tc.fault(e)
			_, err := e.ingest(blob)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Fatalf("error = %v, want one containing %q that is %v", err, tc.wantErr, tc.wantIs)
			}
			var perm *ingest.PermanentError
			if errors.As(err, &perm) {
				t.Errorf("error %v: want a transient failure", err)
			}

			// Clear the fault.
			e.ctx = t.Context()
			e.blobs.SetFault(nil)
			e.store.SetFault(nil)
			e.emb.embed = nil
			e.emb.embedded()

			attempts := 0
			switch rec, err := e.store.GetIngest(e.ctx, ingest.Source(container, blob), etag); {
			case tc.recorded && err != nil:
				t.Errorf("no ingest record: %v", err)
			case tc.recorded:
				attempts = rec.Attempts
				if rec.Status != tinyhead.IngestRunning {
					t.Errorf("record = %+v, want it still running", rec)
				}
			case !errors.Is(err, tinyhead.ErrNotFound):
				t.Errorf("record = %+v (%v), want none", rec, err)
			}
			if st, err := e.store.Stats(e.ctx); err != nil || st.Documents != tc.stored {
				t.Errorf("%d documents stored (%v), want %d", st.Documents, err, tc.stored)
			}

			res := e.mustIngest(blob)
			if res.Status != tinyhead.IngestDone || res.RowsOK != len(texts) || res.Embedded != tc.retryEmbedded {
				t.Errorf("retry: Result = %+v, want done with %d rows, %d embedded", res, len(texts), tc.retryEmbedded)
			}
			if rec := e.record(blob, etag); rec.Status != tinyhead.IngestDone || rec.Attempts != attempts+1 || rec.RowsOK != len(texts) {
				t.Errorf("retry: record = %+v, want done after %d attempts", rec, attempts+1)
			}
			rows := make([]row, len(texts))
			for i, text := range texts {
				rows[i] = row{fmt.Sprint(i), text, nil}
			}
			e.checkRows(blob, etag, rows...)
		})
	}
}

// TestIngestUnreadableFileNotRecorded: when the failure of an unreadable
// file cannot be recorded, the store's error is returned (the host
// retries), and the retry records it.
func TestIngestUnreadableFileNotRecorded(t *testing.T) {
	e := newEnv(t, 0)
	etag := e.upload("x.csv", "body\nhello\n")
	failStore(e, "FinishIngest", 1)
	_, err := e.ingest("x.csv")
	var perm *ingest.PermanentError
	if !errors.Is(err, tinyhead.ErrUnavailable) || errors.As(err, &perm) || !strings.Contains(err.Error(), "record outcome of incoming/x.csv") {
		t.Fatalf("error = %v, want the store's", err)
	}
	e.store.SetFault(nil)
	if rec := e.record("x.csv", etag); rec.Status != tinyhead.IngestRunning {
		t.Errorf("record = %+v, want running", rec)
	}
	_, err = e.ingest("x.csv")
	checkPermanent(t, err, "incoming/x.csv", `no "text" column; columns found: "body"`)
	if rec := e.record("x.csv", etag); rec.Status != tinyhead.IngestFailed || rec.Attempts != 2 {
		t.Errorf("record = %+v, want failed after 2 attempts", rec)
	}
}

// aliasOpener serves one stored blob under another name: storage itself
// refuses names over 1,024 characters, so only a host or tool that made
// one up could deliver such a trigger.
type aliasOpener struct {
	*inmem.Blobs
	alias, real string
}

func (o aliasOpener) Open(ctx context.Context, container, name string) (io.ReadCloser, blobstore.Props, error) {
	if name == o.alias {
		name = o.real
	}
	return o.Blobs.Open(ctx, container, name)
}

// TestIngestBlobNameLength: a blob name of the longest length storage
// allows (1,024 characters, after "incoming/") is ingested like any other;
// a longer one is a permanent failure recorded in the ingests table.
func TestIngestBlobNameLength(t *testing.T) {
	longest := strings.Repeat("ü", ingest.MaxBlobName-6) + ".jsonl"
	e := newEnv(t, 4)
	etag := e.upload(longest, `{"text": "a long name"}`+"\n")
	if res, err := e.ingest(longest); err != nil || res.RowsOK != 1 || e.record(longest, etag).Status != tinyhead.IngestDone {
		t.Errorf("1,024 characters: %+v, %v", res, err)
	}

	tooLong := strings.Repeat("a", ingest.MaxBlobName-5) + ".jsonl"
	e = newEnv(t, 4)
	etag = e.upload("short.jsonl", `{"text": "a long name"}`+"\n")
	e.p.Blobs = aliasOpener{Blobs: e.blobs, alias: tooLong, real: "short.jsonl"}
	_, err := e.ingest(tooLong)
	rec := e.record(tooLong, etag)
	var perm *ingest.PermanentError
	if !errors.As(err, &perm) || rec.Status != tinyhead.IngestFailed || !strings.Contains(rec.Error, "1025 characters") {
		t.Errorf("1,025 characters: error %v; record %+v; want a recorded permanent failure", err, rec)
	}
}
