package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/app"
	"github.com/tinyhead/tinyhead/internal/config"
	"github.com/tinyhead/tinyhead/internal/customhandler"
	"github.com/tinyhead/tinyhead/internal/handlertest"
	"github.com/tinyhead/tinyhead/internal/reembed"
	"github.com/tinyhead/tinyhead/internal/testenv"
)

// secondModel makes a second real embedding model: the USE-lite model
// under another id that reads only the first 8 tokens, so that its vectors
// of longer texts differ from the default model's.
func secondModel(t *testing.T) (dir, id string) {
	t.Helper()
	id = "use-lite-en@0.2.0-first-8-tokens"
	return testenv.ModelCopy(t, id, 8), id
}

// startWith runs a handler process on e's database and storage with extra
// settings.
func (e *crashEnv) startWith(t *testing.T, settings ...string) *handlertest.Handler {
	t.Helper()
	h := handlertest.Start(t, e.bin, "", append(append(os.Environ(),
		config.StorageConnection+"="+e.az.ConnectionString(),
		config.SQLDSN+"="+e.db,
		config.ModelDir+"="+testenv.ModelDir(t),
		config.ORTLib+"="+testenv.ORTLib(t),
	), settings...))
	h.Ready(t)
	return h
}

// api calls an HTTP function as the host does and returns the API
// answer's status and body (the http output binding).
func api(t *testing.T, h *handlertest.Handler, function, method string, params map[string]string, body string) (int, string) {
	t.Helper()
	var raw json.RawMessage
	if body != "" {
		raw = json.RawMessage(body)
	}
	status, out, err := post(h.URL+"/"+function, customhandler.HTTPTriggerRequest(function, app.HTTPRequestBinding,
		customhandler.HTTPRequest{Method: method, Params: params, Body: raw}))
	if err != nil || status != http.StatusOK {
		t.Fatalf("%s: %d %s %v\n%s", function, status, out, err, h.Logs())
	}
	var inv struct {
		Outputs map[string]struct {
			StatusCode int    `json:"statusCode"`
			Body       string `json:"body"`
		}
	}
	if err := json.Unmarshal([]byte(out), &inv); err != nil {
		t.Fatalf("%s: %v in %s", function, err, out)
	}
	res := inv.Outputs[app.HTTPResponseBinding]
	return res.StatusCode, res.Body
}

// reembedCall runs or reads the re-embedding of model.
func reembedCall(t *testing.T, h *handlertest.Handler, method, model string) reembed.Status {
	t.Helper()
	status, body := api(t, h, app.ReembedFunction, method, map[string]string{"model": model}, "")
	var st reembed.Status
	if status != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil {
		t.Fatalf("%s reembed/%s: %d %s", method, model, status, body)
	}
	return st
}

// longTopics is a labelled CSV of n rows whose texts run past 8 tokens.
func longTopics(n int) []byte {
	var b bytes.Buffer
	b.WriteString("id,text,topic\n")
	for i := range n {
		if i%2 == 0 {
			fmt.Fprintf(&b, "w%d,Forecast %d: heavy rain and strong wind are expected over the hills on day %d with cold air behind it.,weather\n", i, i, i%31)
		} else {
			fmt.Fprintf(&b, "c%d,Recipe %d: simmer the onions for %d minutes then add salt and pepper and serve it warm.,cooking\n", i, i, i%29)
		}
	}
	return b.Bytes()
}

// embeddingRows counts the texts with a vector of model (the table's key
// is (content hash, model): one row each), and the distinct texts stored.
func (e *crashEnv) embeddingRows(t *testing.T, model string) (vectors, texts int) {
	t.Helper()
	p, err := e.store.EmbeddingProgress(t.Context(), model)
	if err != nil {
		t.Fatal(err)
	}
	return p.Embedded, p.Texts
}

// TestTwoEmbeddingModels: with a second model configured, stored texts
// are re-embedded by two handler instances at once (every text once, by
// one of them), each document then holds two vectors, a task trains on
// either model and is compared on the same validation rows, Classify
// embeds with the served version's model, and an instance without that
// model says so.
func TestTwoEmbeddingModels(t *testing.T) {
	e := newCrashEnv(t)
	dir2, m2 := secondModel(t)
	extra := []string{config.ExtraModelDirs + "=" + dir2, config.ReembedLease + "=60s"}
	h1, h2 := e.startWith(t, extra...), e.startWith(t, extra...)
	const rows = 700
	if status, out := h1.EmbedBlob(t, e.blobs, "topics.csv", longTopics(rows), "text/csv"); status != http.StatusOK {
		t.Fatalf("EmbedBlob: %d %s", status, out)
	}
	const m1 = "use-lite-en@0.2.0"
	if st := reembedCall(t, h1, "GET", m2); st.Texts != rows || st.Embedded != 0 || st.Done {
		t.Fatalf("status before = %+v, want %d texts, none embedded", st, rows)
	}
	if status, body := api(t, h1, app.TrainFunction, "POST", map[string]string{"task": "topic"}, `{"embedding_model": "`+m2+`"}`); status != http.StatusNotFound {
		t.Errorf("training on %s before re-embedding: %d %s, want 404", m2, status, body)
	}

	// Two instances re-embed at once.
	var (
		wg   sync.WaitGroup
		runs [2]reembed.Status
	)
	for i, h := range []*handlertest.Handler{h1, h2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runs[i] = reembedCall(t, h, "POST", m2)
		}()
	}
	wg.Wait()
	if runs[0].Run.Embedded+runs[1].Run.Embedded != rows || runs[0].Run.Stored+runs[1].Run.Stored != rows {
		t.Errorf("runs embedded %d+%d and stored %d+%d texts, want %d in all, each once", runs[0].Run.Embedded, runs[1].Run.Embedded,
			runs[0].Run.Stored, runs[1].Run.Stored, rows)
	}
	if st := reembedCall(t, h2, "GET", m2); !st.Done || st.Embedded != rows || st.Claimed != 0 {
		t.Errorf("status after = %+v, want all %d embedded", st, rows)
	}
	if again := reembedCall(t, h1, "POST", m2); again.Run.Embedded != 0 || again.Run.Stopped != "done" {
		t.Errorf("a run when done = %+v, want nothing embedded", again.Run)
	}
	if n, texts := e.embeddingRows(t, m2); n != texts {
		t.Errorf("%d vectors of %s for %d texts", n, m2, texts)
	}
	d, err := e.store.GetDocument(t.Context(), "incoming/topics.csv", "w4")
	if err != nil || len(d.Embeddings) != 2 || len(d.Embeddings[m1]) != 512 || len(d.Embeddings[m2]) != 512 {
		t.Fatalf("document holds %d vectors, %v; want 512-d ones of %s and %s", len(d.Embeddings), err, m1, m2)
	}
	if fmt.Sprint(d.Embeddings[m1]) == fmt.Sprint(d.Embeddings[m2]) {
		t.Error("the two models gave the same vector of a long text: the second reads 8 tokens only")
	}

	// A task trains on either model; the second version is scored against
	// the first on the first's own vectors of the same validation rows.
	type outcome struct {
		Version        string
		EmbeddingModel string `json:"embedding_model"`
		Reason         string
		Previous       *struct{ Version string }
	}
	train := func(body string) outcome {
		status, out := api(t, h1, app.TrainFunction, "POST", map[string]string{"task": "topic"}, body)
		var o outcome
		if status != http.StatusOK || json.Unmarshal([]byte(out), &o) != nil {
			t.Fatalf("Train %s: %d %s", body, status, out)
		}
		return o
	}
	first := train(`{"seed": 1}`)
	second := train(`{"seed": 1, "embedding_model": "` + m2 + `", "force": true}`)
	if first.EmbeddingModel != m1 || second.EmbeddingModel != m2 {
		t.Errorf("versions trained on %s and %s, want %s and %s", first.EmbeddingModel, second.EmbeddingModel, m1, m2)
	}
	if second.Previous == nil || second.Previous.Version != first.Version || strings.Contains(second.Reason, "replaced") {
		t.Errorf("second version: previous %+v, reason %q; want the first scored on the same rows", second.Previous, second.Reason)
	}
	if status, body := api(t, h1, app.TrainFunction, "POST", map[string]string{"task": "topic"}, `{"embedding_model": "nope"}`); status != http.StatusBadRequest || !strings.Contains(body, "nope") {
		t.Errorf("training on an unconfigured model: %d %s, want 400 naming it", status, body)
	}

	classify := func(h *handlertest.Handler) (int, string) {
		return api(t, h, app.ClassifyFunction, "POST", map[string]string{"task": "topic"},
			`{"texts": ["Forecast: heavy rain and strong wind are expected over the hills tonight and tomorrow."]}`)
	}
	if status, body := classify(h2); status != http.StatusOK || !strings.Contains(body, second.Version) || !strings.Contains(body, `"label":"weather"`) {
		t.Errorf("Classify with version %s: %d %s", second.Version, status, body)
	}
	// An instance without the second model cannot serve that version.
	h3 := e.startWith(t)
	if status, body := classify(h3); status != http.StatusUnprocessableEntity || !strings.Contains(body, m2) {
		t.Errorf("Classify where %s is not configured: %d %s, want 422 naming it", m2, status, body)
	}
	if status, body := api(t, h3, app.ReembedFunction, "GET", map[string]string{"model": m2}, ""); status != http.StatusBadRequest {
		t.Errorf("re-embedding status of an unconfigured model: %d %s, want 400", status, body)
	}
}

// TestReembedKilledMidRun: a handler killed while it re-embeds loses
// nothing committed; a run on a new process, once the dead run's lease
// has run out, embeds exactly the texts still missing, and every text
// ends with one vector of the model.
func TestReembedKilledMidRun(t *testing.T) {
	e := newCrashEnv(t)
	dir2, m2 := secondModel(t)
	extra := []string{config.ExtraModelDirs + "=" + dir2, config.ReembedLease + "=3s"}
	h1 := e.startWith(t, extra...)
	const rows = 1500
	if status, out := h1.EmbedBlob(t, e.blobs, "topics.csv", longTopics(rows), "text/csv"); status != http.StatusOK {
		t.Fatalf("EmbedBlob: %d %s", status, out)
	}
	go post(h1.URL+"/"+app.ReembedFunction, customhandler.HTTPTriggerRequest(app.ReembedFunction, app.HTTPRequestBinding,
		customhandler.HTTPRequest{Method: "POST", Params: map[string]string{"model": m2}}))
	var before int
	waitFor(t, "the run to store a batch", func() bool {
		before, _ = e.embeddingRows(t, m2)
		return before > 0
	})
	h1.Kill(t)
	before, _ = e.embeddingRows(t, m2)
	if before >= rows {
		t.Fatalf("the run finished (%d texts) before the kill; make it longer", before)
	}

	h2 := e.startWith(t, extra...)
	embedded := 0
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st := reembedCall(t, h2, "POST", m2)
		embedded += st.Run.Embedded
		if st.Done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("re-embedding not done after the kill: %+v", st)
		}
		time.Sleep(500 * time.Millisecond) // the dead run's claim expires
	}
	n, texts := e.embeddingRows(t, m2)
	if n != rows || texts != rows {
		t.Errorf("%d vectors of %s for %d texts, want %d", n, m2, texts, rows)
	}
	if embedded != rows-before {
		t.Errorf("the runs after the kill embedded %d texts; %d were missing", embedded, rows-before)
	}
	if !h2.LogsContain(`msg="re-embedding stopped" model=`+m2+` why=done`, 10*time.Second) {
		t.Errorf("no progress line in the logs:\n%s", h2.Logs())
	}
}
