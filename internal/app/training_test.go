package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/app"
	"github.com/tinyhead/tinyhead/internal/customhandler"
	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/registry"
	"github.com/tinyhead/tinyhead/internal/serving"
	"github.com/tinyhead/tinyhead/internal/training"
)

// topicCSV builds a small labelled data set of real sentences: the task
// "topic" (weather or cooking, 40 rows each), the task "single" with one
// class on every row, and the task "tiny" with 3 rows.
func topicCSV(extra int) []byte {
	weather := []string{"Heavy rain is expected", "A cold front brings snow", "Sunny skies and warm temperatures are forecast",
		"Strong winds and thunderstorms are likely", "Morning fog clears by noon", "The heat wave continues",
		"Frost is expected overnight", "Humid air brings scattered showers"}
	where := []string{"in the north tonight", "along the coast this weekend", "for the city on Monday",
		"in the mountains tomorrow", "over the valley on Friday"}
	cooking := []string{"Simmer the onions in butter", "Whisk the eggs with the sugar", "Bake the bread",
		"Roast the chicken with garlic", "Knead the dough", "Season the soup with salt and pepper",
		"Grill the vegetables", "Fry the potatoes in olive oil"}
	how := []string{"until golden brown", "for twenty minutes", "and serve with fresh herbs",
		"before adding the cream", "then let it rest"}
	var b bytes.Buffer
	b.WriteString("id,text,topic,single,tiny\n")
	row := 0
	add := func(text, topic string) {
		row++
		tiny := ""
		if row <= 3 {
			tiny = []string{"a", "b", "a"}[row-1]
		}
		fmt.Fprintf(&b, "r%d,%s,%s,x,%s\n", row, text, topic, tiny)
	}
	for _, s := range weather {
		for _, w := range where {
			add(s+" "+w+".", "weather")
		}
	}
	for _, s := range cooking {
		for _, h := range how {
			add(s+" "+h+".", "cooking")
		}
	}
	for i := range extra {
		add(fmt.Sprintf("Light drizzle is expected in district %d this evening.", i), "weather")
	}
	return b.Bytes()
}

// ingestTopics uploads the data set and plays the host's blob trigger.
func (f *fixture) ingestTopics(name string, extra int) {
	f.t.Helper()
	f.upload(name, topicCSV(extra))
	if status, resp, res := f.trigger(name); status != 200 || res.RowsRejected != 0 {
		f.t.Fatalf("ingest %s: status %d, %+v, logs %v", name, status, res, resp.Logs)
	}
}

// apiCall plays the host for an httpTrigger function: it sends the
// invocation for POST /api/<route> with the route parameter task and the
// body, and returns the http output binding's status and body.
func (f *fixture) apiCall(function, task string, body any) (int, []byte) {
	f.t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		f.t.Fatal(err)
	}
	route := map[string]string{app.TrainFunction: "train/", app.ClassifyFunction: "classify/", app.RollbackFunction: "models/",
		app.LabelsFunction: "labels/"}[function] + task
	return f.httpCall(function, customhandler.HTTPRequest{
		URL:     "http://localhost:7071/api/" + route,
		Method:  "POST",
		Query:   map[string]string{},
		Headers: map[string][]string{"Content-Type": {"application/json"}},
		Params:  map[string]string{"task": task},
		Body:    raw,
	})
}

// httpCall plays the host for an httpTrigger function with the request
// req and returns the http output binding's status and body.
func (f *fixture) httpCall(function string, req customhandler.HTTPRequest) (int, []byte) {
	f.t.Helper()
	res := f.httpResponse(function, req)
	s, _ := res.Body.(string)
	return res.StatusCode, []byte(s)
}

// httpResponse plays the host for an httpTrigger function with the
// request req and returns the http output binding.
func (f *fixture) httpResponse(function string, req customhandler.HTTPRequest) customhandler.HTTPResponse {
	f.t.Helper()
	status, out := f.invoke(function, customhandler.HTTPTriggerRequest(function, app.HTTPRequestBinding, req))
	if status != http.StatusOK {
		f.t.Fatalf("%s invocation failed: %d %v", function, status, out.Logs)
	}
	var outputs struct {
		Outputs map[string]customhandler.HTTPResponse
	}
	f.decode(out, &outputs)
	res, ok := outputs.Outputs[app.HTTPResponseBinding]
	if !ok {
		f.t.Fatalf("%s: no %q output binding in %+v", function, app.HTTPResponseBinding, out)
	}
	return res
}

// invoke POSTs an invocation to the handler and returns the status and the
// InvokeResponse, keeping the raw JSON in ReturnValue's place for decode.
func (f *fixture) invoke(function string, req customhandler.InvokeRequest) (int, customhandler.InvokeResponse) {
	f.t.Helper()
	payload, _ := json.Marshal(req)
	resp, err := http.Post(f.server.URL+"/"+function, "application/json", bytes.NewReader(payload))
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out customhandler.InvokeResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		f.t.Fatalf("%s answered %q: %v", function, raw, err)
	}
	out.ReturnValue = json.RawMessage(raw)
	return resp.StatusCode, out
}

func (f *fixture) decode(out customhandler.InvokeResponse, v any) {
	f.t.Helper()
	if err := json.Unmarshal(out.ReturnValue.(json.RawMessage), v); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) train(task string, req any) training.Outcome {
	f.t.Helper()
	status, body := f.apiCall(app.TrainFunction, task, req)
	if status != http.StatusOK {
		f.t.Fatalf("train %s: %d %s", task, status, body)
	}
	var out training.Outcome
	if err := json.Unmarshal(body, &out); err != nil {
		f.t.Fatal(err)
	}
	return out
}

func (f *fixture) classify(task string, texts ...string) serving.Classification {
	f.t.Helper()
	status, body := f.apiCall(app.ClassifyFunction, task, map[string][]string{"texts": texts})
	if status != http.StatusOK {
		f.t.Fatalf("classify %s: %d %s", task, status, body)
	}
	var out serving.Classification
	if err := json.Unmarshal(body, &out); err != nil {
		f.t.Fatal(err)
	}
	return out
}

func (f *fixture) modelBlob(name string) []byte {
	f.t.Helper()
	b, err := f.blobs.Download(context.Background(), f.registry.Container, name)
	if err != nil {
		f.t.Fatalf("model artifact %s: %v", name, err)
	}
	return b
}

func (f *fixture) current(task string) string {
	f.t.Helper()
	cur, _, err := f.registry.Current(context.Background(), task)
	if err != nil {
		f.t.Fatal(err)
	}
	return cur.Version
}

var (
	rainText = "Thunderstorms and heavy rain are forecast for the coast tomorrow."
	soupText = "Stir the garlic into the soup and simmer it for ten minutes."
)

// TestTrainClassifyRollback goes through a task's life over the HTTP API:
// train, classify, a worse retrain that is not promoted, a forced one that
// is (and that Classify picks up), and a rollback.
func TestTrainClassifyRollback(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.ingestTopics("topics.csv", 0)

	first := f.train("topic", map[string]any{"seed": 1})
	if !first.Promoted || first.Reason != "first model of the task" {
		t.Fatalf("first model: promoted %v (%s)", first.Promoted, first.Reason)
	}
	if first.Metrics.Accuracy < 0.9 {
		t.Errorf("validation accuracy %.3f on two well-separated topics", first.Metrics.Accuracy)
	}
	if strings.Join(first.Labels, ",") != "cooking,weather" || first.Rows.Train+first.Rows.Validation != 80 || first.Rows.Validation == 0 {
		t.Errorf("labels %v, rows %+v", first.Labels, first.Rows)
	}
	if first.Hyperparams.Hidden != 16 || first.Hyperparams.Steps != 1000 || first.Hyperparams.LearningRate != 1e-3 ||
		first.Hyperparams.Features != mlp.DefaultFeatures || first.Parameters != 512*16+16+16*2+2+mlp.DefaultSketchBuckets*2 {
		t.Errorf("default recipe not applied: %+v, %d parameters", first.Hyperparams, first.Parameters)
	}
	if got := f.current("topic"); got != first.Version {
		t.Errorf("current.json names %s, want %s", got, first.Version)
	}

	// The three artifacts are in the models container.
	var man registry.Manifest
	if err := json.Unmarshal(f.modelBlob("topic/"+first.Version+"/model.json"), &man); err != nil {
		t.Fatal(err)
	}
	if man.EmbeddingDim != 512 || man.EmbeddingModel == "" || len(man.Labels) != 2 || man.Rows != first.Rows || len(man.Metrics) == 0 {
		t.Errorf("model.json: %+v", man)
	}
	if png := f.modelBlob(first.Files.Report); !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("report is not a PNG")
	}
	if len(f.modelBlob(first.Files.ONNX)) < 4*512*16 {
		t.Errorf("model.onnx too small to hold the weights")
	}

	// Classify: the right topic, probabilities that sum to 1.
	c := f.classify("topic", rainText, soupText)
	if c.Version != first.Version || len(c.Predictions) != 2 {
		t.Fatalf("classification %+v", c)
	}
	for i, want := range []string{"weather", "cooking"} {
		p := c.Predictions[i]
		sum := p.Probabilities["weather"] + p.Probabilities["cooking"]
		if p.Label != want || math.Abs(sum-1) > 1e-5 || p.Probabilities[want] < 0.5 {
			t.Errorf("text %d: %+v, want %s", i, p, want)
		}
	}

	// A barely trained model is worse and is not promoted...
	// (Embedding only: one SGD step of the sketch layer already separates these topics.)
	worse := f.train("topic", map[string]any{"seed": 7, "steps": 1, "learning_rate": 1e-6, "features": "embedding"})
	if worse.Previous == nil || worse.Previous.Version != first.Version {
		t.Fatalf("the current model was not evaluated: %+v", worse.Previous)
	}
	if worse.Metrics.Accuracy >= worse.Previous.Accuracy {
		t.Fatalf("test data: the 1-step model (%.3f) should be worse than the current one (%.3f)", worse.Metrics.Accuracy, worse.Previous.Accuracy)
	}
	if worse.Promoted || f.current("topic") != first.Version {
		t.Errorf("a worse model was promoted: %+v", worse)
	}
	// ...unless forced; Classify then serves it (cache reloaded).
	forced := f.train("topic", map[string]any{"seed": 7, "steps": 1, "learning_rate": 1e-6, "features": "embedding", "force": true})
	if !forced.Promoted || forced.Reason != "forced" {
		t.Errorf("forced: promoted %v (%s)", forced.Promoted, forced.Reason)
	}
	if c := f.classify("topic", rainText); c.Version != forced.Version {
		t.Errorf("classify served %s after promotion of %s", c.Version, forced.Version)
	}

	// Rollback to the first version.
	status, body := f.apiCall(app.RollbackFunction, "topic", map[string]string{"version": first.Version})
	if status != http.StatusOK {
		t.Fatalf("rollback: %d %s", status, body)
	}
	if c := f.classify("topic", rainText); c.Version != first.Version || c.Predictions[0].Label != "weather" {
		t.Errorf("after rollback classify served %+v", c)
	}
	if status, body := f.apiCall(app.RollbackFunction, "topic", map[string]string{"version": "19990101T000000.000Z"}); status != http.StatusNotFound {
		t.Errorf("rollback to a missing version: %d %s", status, body)
	}

	// The models table has every run, and the promoted one marked.
	models, err := f.store.Models(ctx, "topic")
	if err != nil {
		t.Fatal(err)
	}
	if len(models) != 3 {
		t.Fatalf("%d model records, want 3", len(models))
	}
	for _, m := range models {
		if m.Promoted != (m.Version == first.Version) {
			t.Errorf("model %s promoted=%v", m.Version, m.Promoted)
		}
	}
}

// TestTrainSeeds: the same seed gives identical weights, another seed
// different ones; training from SQL batches also works.
func TestTrainSeeds(t *testing.T) {
	f := newFixture(t)
	f.ingestTopics("topics.csv", 0)
	a := f.train("topic", map[string]any{"seed": 3, "steps": 50})
	b := f.train("topic", map[string]any{"seed": 3, "steps": 50})
	c := f.train("topic", map[string]any{"seed": 4, "steps": 50})
	if !bytes.Equal(f.modelBlob(a.Files.ONNX), f.modelBlob(b.Files.ONNX)) {
		t.Error("the same seed gave different weights")
	}
	if bytes.Equal(f.modelBlob(a.Files.ONNX), f.modelBlob(c.Files.ONNX)) {
		t.Error("different seeds gave identical weights")
	}
	s := f.train("topic", map[string]any{"seed": 3, "from_sql": true, "force": true})
	if s.Metrics.Accuracy < 0.9 || s.Rows != a.Rows {
		t.Errorf("training from SQL batches: accuracy %.3f, rows %+v (in memory: %+v)", s.Metrics.Accuracy, s.Rows, a.Rows)
	}
}

// TestTrainErrors: every client error is a 4xx naming the problem.
func TestTrainErrors(t *testing.T) {
	f := newFixture(t)
	f.ingestTopics("topics.csv", 0)
	tests := []struct {
		name     string
		function string
		task     string
		body     any
		status   int
		message  string
	}{
		{"unknown task", app.TrainFunction, "nosuchtask", nil, 404, "no labelled documents"},
		{"one class", app.TrainFunction, "single", nil, 422, "one class"},
		{"too few rows", app.TrainFunction, "tiny", nil, 422, "3 labelled rows"},
		{"bad hyperparameter", app.TrainFunction, "topic", map[string]any{"hidden": -1}, 400, "hidden"},
		{"learning rate × decay", app.TrainFunction, "topic", map[string]any{"learning_rate": 1e30}, 400, "learning_rate × weight_decay"},
		{"diverging learning rate", app.TrainFunction, "topic", map[string]any{"learning_rate": 1e30, "weight_decay": -1}, 400, "diverged"},
		{"days of steps", app.TrainFunction, "topic", map[string]any{"steps": 100_000, "batch_size": 16, "hidden": 4096}, 400, "steps × batch_size × hidden"},
		{"huge batch × hidden", app.TrainFunction, "topic", map[string]any{"steps": 1, "batch_size": 65536, "hidden": 4096}, 400, "batch_size × hidden"},
		{"unknown field", app.TrainFunction, "topic", map[string]any{"epochs": 3}, 400, "epochs"},
		{"not JSON", app.TrainFunction, "topic", "steps=3", 400, "body"},
		{"bad task name", app.TrainFunction, "..", nil, 400, "task name \"..\" is not allowed"},
		{"classify without a model", app.ClassifyFunction, "topic", map[string][]string{"texts": {"hi"}}, 404, "no trained model"},
		{"classify no texts", app.ClassifyFunction, "topic", map[string][]string{"texts": {}}, 400, "texts"},
		{"classify empty text", app.ClassifyFunction, "topic", map[string][]string{"texts": {"ok", " "}}, 400, "text 1 is empty"},
		{"rollback without version", app.RollbackFunction, "topic", map[string]string{}, 400, "version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.apiCall(tt.function, tt.task, tt.body)
			var e struct{ Error string }
			_ = json.Unmarshal(body, &e)
			if status != tt.status || !strings.Contains(e.Error, tt.message) {
				t.Errorf("%d %s; want %d mentioning %q", status, body, tt.status, tt.message)
			}
		})
	}
}

// TestTrainBusy: while a training of a task holds its lock, another one
// is refused with 409 instead of racing it to promote.
func TestTrainBusy(t *testing.T) {
	f := newFixture(t)
	f.ingestTopics("topics.csv", 0)
	unlock, err := f.registry.Lock(context.Background(), "topic")
	if err != nil {
		t.Fatal(err)
	}
	status, body := f.apiCall(app.TrainFunction, "topic", nil)
	if status != http.StatusConflict || !strings.Contains(string(body), "another training") {
		t.Errorf("training during another: %d %s", status, body)
	}
	unlock()
	if out := f.train("topic", map[string]any{"steps": 10}); !out.Promoted {
		t.Errorf("after the lock was released: %+v", out)
	}
}

// TestPromoteIsConditional: a promotion based on a stale read of
// current.json fails, so two trainings cannot both promote.
func TestPromoteIsConditional(t *testing.T) {
	f := newFixture(t)
	f.ingestTopics("topics.csv", 0)
	a := f.train("topic", map[string]any{"steps": 10})
	b := f.train("topic", map[string]any{"steps": 10, "force": true})
	ctx := context.Background()
	_, stale, err := f.registry.Current(ctx, "topic")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.registry.Promote(ctx, "topic", a.Version, "test", stale); err != nil {
		t.Fatal(err)
	}
	if err := f.registry.Promote(ctx, "topic", b.Version, "test", stale); err == nil {
		t.Fatal("a promotion with a stale ETag succeeded")
	}
	if err := f.registry.Promote(ctx, "topic", b.Version, "test", ""); err == nil {
		t.Fatal("a first promotion succeeded over an existing current.json")
	}
	if v, err := f.registry.Versions(ctx, "topic"); err != nil || len(v) != 2 || v[0] != a.Version {
		t.Errorf("versions %v, %v", v, err)
	}
}

// nightly plays the timer and returns what it did, by task.
func (f *fixture) nightly() map[string]training.NightlyResult {
	f.t.Helper()
	status, out := f.invoke(app.NightlyTrainFunction, customhandler.TimerTriggerRequest(app.NightlyTrainFunction, app.TimerBinding, false))
	if status != http.StatusOK {
		f.t.Fatalf("NightlyTrain: %d %v", status, out.Logs)
	}
	var res struct{ ReturnValue []training.NightlyResult }
	f.decode(out, &res)
	byTask := map[string]training.NightlyResult{}
	for _, r := range res.ReturnValue {
		byTask[r.Task] = r
	}
	if len(out.Logs) != 1+len(res.ReturnValue) || !strings.HasPrefix(out.Logs[0], "reconciled incoming/") {
		f.t.Errorf("logs %v: want the reconciliation, then every task", out.Logs)
	}
	return byTask
}

// TestNightlyTrain plays the timer: it trains what changed, skips what did
// not, and one failing task does not stop the others.
func TestNightlyTrain(t *testing.T) {
	f := newFixture(t)
	f.ingestTopics("topics.csv", 0)
	nightly := f.nightly
	res := nightly()
	if r := res["topic"]; r.Action != "trained" || r.Why != "no model yet" || r.Outcome == nil || !r.Outcome.Promoted {
		t.Errorf("topic: %+v", r)
	}
	for _, task := range []string{"single", "tiny"} {
		if r := res[task]; r.Action != "skipped" || r.ErrorMsg == "" {
			t.Errorf("%s: %+v", task, r)
		}
	}

	res = nightly()
	if r := res["topic"]; r.Action != "skipped" || !strings.Contains(r.Why, "unchanged") {
		t.Errorf("unchanged topic: %+v", r)
	}

	// New labelled rows: the next night retrains.
	time.Sleep(10 * time.Millisecond) // last-change timestamps must move
	f.ingestTopics("more-topics.csv", 5)
	res = nightly()
	if r := res["topic"]; r.Action != "trained" || !strings.Contains(r.Why, "labelled rows now") {
		t.Errorf("changed topic: %+v", r)
	}
}

// TestRollbackStaysInTask: a rollback can only move a task to a version
// of its own (issue 11, defect 5: {"version": "sub/<v>"} once rewrote
// current.json to another task's model, then answered 500). Every refusal
// leaves current.json as it was.
func TestRollbackStaysInTask(t *testing.T) {
	f := newFixture(t)
	f.ingestTopics("topics.csv", 0)
	f.upload("sub.csv", bytes.Replace(topicCSV(0), []byte("id,text,topic,"), []byte("id,text,sub,"), 1))
	if status, out, _ := f.trigger("sub.csv"); status != http.StatusOK {
		t.Fatalf("ingest sub.csv: %d %v", status, out.Logs)
	}
	victim := f.train("topic", map[string]any{"seed": 1})
	other := f.train("sub", map[string]any{"seed": 2})
	// A version folder of the victim holding the other task's manifest.
	if _, err := f.blobs.UploadBytes(context.Background(), f.registry.Container, "topic/"+other.Version+"/model.json",
		f.modelBlob("sub/"+other.Version+"/model.json"), "application/json"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		version string
		status  int
	}{
		{"another task's path", "sub/" + other.Version, http.StatusBadRequest},
		{"an escaping path", "../sub/" + other.Version, http.StatusBadRequest},
		{"a dot segment", "..", http.StatusBadRequest},
		{"a version of another task only", other.Version + "x", http.StatusNotFound},
		{"a manifest naming another task", other.Version, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.apiCall(app.RollbackFunction, "topic", map[string]string{"version": tt.version})
			if status != tt.status {
				t.Errorf("rollback to %q: %d %s, want %d", tt.version, status, body, tt.status)
			}
			if got := f.current("topic"); got != victim.Version {
				t.Errorf("current.json of topic moved to %q", got)
			}
			if got := f.current("sub"); got != other.Version {
				t.Errorf("current.json of sub moved to %q", got)
			}
		})
	}
}
