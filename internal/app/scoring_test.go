package app_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/app"
	"github.com/tinyhead/tinyhead/internal/catalog"
	"github.com/tinyhead/tinyhead/internal/customhandler"
	"github.com/tinyhead/tinyhead/internal/scoring"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// call plays the host for any httpTrigger function: the request's method,
// route (after /api/), route parameters, query and JSON body (nil: none);
// it returns the http output binding's status, headers and body.
func (f *fixture) call(function, method, route string, params, query map[string]string, body any) (int, map[string]string, []byte) {
	f.t.Helper()
	raw := json.RawMessage(`""`)
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			f.t.Fatal(err)
		}
	}
	if query == nil {
		query = map[string]string{}
	}
	if params == nil {
		params = map[string]string{}
	}
	res := f.httpResponse(function, customhandler.HTTPRequest{
		URL: "http://localhost:7071/api/" + route, Method: method, Query: query,
		Headers: map[string][]string{"Content-Type": {"application/json"}}, Params: params, Body: raw,
	})
	s, ok := res.Body.(string)
	if !ok {
		f.t.Fatalf("%s: body %T, want a string (the host passes it through as text)", function, res.Body)
	}
	return res.StatusCode, res.Headers, []byte(s)
}

// callJSON is call for a 200 answer decoded into v.
func (f *fixture) callJSON(v any, function, method, route string, params, query map[string]string, body any) {
	f.t.Helper()
	status, _, raw := f.call(function, method, route, params, query, body)
	if status != http.StatusOK {
		f.t.Fatalf("%s %s: %d %s", method, route, status, raw)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		f.t.Fatalf("%s %s: %v in %s", method, route, err, raw)
	}
}

func (f *fixture) score(task string, body any) scoring.Result {
	f.t.Helper()
	var res scoring.Result
	f.callJSON(&res, app.ScoreFunction, "POST", "score/"+task, map[string]string{"task": task}, nil, body)
	return res
}

// topicDocs are the documents of topicCSV by item, read from the store.
func (f *fixture) docsOf(source string, items ...string) []tinyhead.Document {
	f.t.Helper()
	out := make([]tinyhead.Document, len(items))
	for i, it := range items {
		out[i] = f.doc(source, it)
	}
	return out
}

func (f *fixture) predictions(task string, docs []tinyhead.Document) map[int64]tinyhead.Prediction {
	f.t.Helper()
	ids := make([]int64, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	got, err := f.store.PredictionsOf(context.Background(), task, ids)
	if err != nil {
		f.t.Fatal(err)
	}
	return got
}

func items(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i+1)
	}
	return out
}

// newsJSONL is n unlabelled documents for the task topic.
func newsJSONL(prefix string, n int) []byte {
	var b bytes.Buffer
	for i := range n {
		text := fmt.Sprintf("Dark clouds and rain are moving in over town number %d.", i)
		if i%2 == 1 {
			text = fmt.Sprintf("Mix the flour with %d eggs and bake the cake slowly.", i+2)
		}
		fmt.Fprintf(&b, "{\"id\": \"%s%d\", \"text\": %q}\n", prefix, i+1, text)
	}
	return b.Bytes()
}

// TestScoring plays the host for Score, Train and Rollback: a promotion
// scores every stored document with the probabilities Classify gives the
// same texts; scoring is incremental; a new promotion and a rollback
// rescore and replace the older version's rows; {"all": true} rescores.
func TestScoring(t *testing.T) {
	f := newFixture(t)
	f.ingestTopics("topics.csv", 0)
	f.upload("news.jsonl", newsJSONL("n", 6))
	if status, resp, res := f.trigger("news.jsonl"); status != 200 || res.RowsOK != 6 {
		t.Fatalf("ingest news: %d %+v %v", status, res, resp.Logs)
	}
	all := append(f.docsOf("incoming/topics.csv", items("r", 80)...), f.docsOf("incoming/news.jsonl", items("n", 6)...)...)

	// Train answers with the scoring its promotion started.
	var first struct {
		Version  string
		Promoted bool
		Scoring  *scoring.Result
	}
	status, body := f.apiCall(app.TrainFunction, "topic", map[string]any{"seed": 1})
	if status != 200 || json.Unmarshal(body, &first) != nil {
		t.Fatalf("train: %d %s", status, body)
	}
	if !first.Promoted || first.Scoring == nil || first.Scoring.Scored != len(all) || !first.Scoring.Done || first.Scoring.Version != first.Version {
		t.Fatalf("train's scoring: %+v", first.Scoring)
	}

	// One row per document, equal to what Classify answers for its text.
	preds := f.predictions("topic", all)
	if len(preds) != len(all) {
		t.Fatalf("%d predictions for %d documents", len(preds), len(all))
	}
	texts := make([]string, len(all))
	for i, d := range all {
		texts[i] = d.Text
	}
	served := f.classify("topic", texts...)
	for i, d := range all {
		p, want := preds[d.ID], served.Predictions[i]
		var probs map[string]float64
		if err := json.Unmarshal([]byte(p.Probabilities), &probs); err != nil {
			t.Fatalf("document %s: probabilities %q: %v", d.Item, p.Probabilities, err)
		}
		if p.Version != first.Version || p.Label != want.Label || len(probs) != len(want.Probabilities) {
			t.Fatalf("document %s: %+v, Classify says %+v", d.Item, p, want)
		}
		for l, w := range want.Probabilities {
			if math.Abs(probs[l]-w) > 1e-5 {
				t.Errorf("document %s: P(%s) = %v, Classify %v", d.Item, l, probs[l], w)
			}
		}
		if math.Abs(p.Probability-want.Probabilities[p.Label]) > 1e-5 {
			t.Errorf("document %s: probability %v, Classify %v", d.Item, p.Probability, want.Probabilities[p.Label])
		}
		sorted := slices.Sorted(func(yield func(float64) bool) {
			for _, v := range probs {
				yield(v)
			}
		})
		if m := sorted[len(sorted)-1] - sorted[len(sorted)-2]; math.Abs(p.Margin-m) > 1e-6 {
			t.Errorf("document %s: margin %v, want %v", d.Item, p.Margin, m)
		}
	}

	// Nothing new: nothing scored. New documents: only they are.
	if res := f.score("topic", nil); res.Scored != 0 || !res.Done || res.Remaining != 0 {
		t.Errorf("second scoring: %+v", res)
	}
	f.upload("more.jsonl", newsJSONL("m", 3))
	if status, _, res := f.trigger("more.jsonl"); status != 200 || res.RowsOK != 3 {
		t.Fatalf("ingest more: %d %+v", status, res)
	}
	more := f.docsOf("incoming/more.jsonl", items("m", 3)...)
	if res := f.score("topic", nil); res.Scored != 3 || !res.Done {
		t.Errorf("incremental scoring: %+v, want the 3 new documents", res)
	}
	all = append(all, more...)
	after := f.predictions("topic", all)
	for id, p := range preds {
		if !after[id].ScoredAt.Equal(p.ScoredAt) {
			t.Errorf("document %d was scored again: %v then %v", id, p.ScoredAt, after[id].ScoredAt)
		}
	}

	// A forced promotion rescores every document and replaces the rows.
	var second struct {
		Version string
		Scoring *scoring.Result
	}
	status, body = f.apiCall(app.TrainFunction, "topic", map[string]any{"seed": 2, "force": true})
	if status != 200 || json.Unmarshal(body, &second) != nil || second.Scoring == nil {
		t.Fatalf("second training: %d %s", status, body)
	}
	if second.Scoring.Scored != len(all) || second.Scoring.Version != second.Version {
		t.Errorf("second training's scoring: %+v, want %d documents", second.Scoring, len(all))
	}
	for _, p := range f.predictions("topic", all) {
		if p.Version != second.Version {
			t.Fatalf("after the promotion a row of %s: %+v", p.Version, p)
		}
	}

	// A rollback rescores with the version rolled back to.
	var back struct {
		Scoring *scoring.Result
	}
	status, body = f.apiCall(app.RollbackFunction, "topic", map[string]string{"version": first.Version})
	if status != 200 || json.Unmarshal(body, &back) != nil || back.Scoring == nil || back.Scoring.Scored != len(all) {
		t.Fatalf("rollback: %d %s", status, body)
	}
	if res := f.score("topic", map[string]bool{"all": true}); res.Scored != len(all) || res.Removed != len(all) || !res.Done {
		t.Errorf(`{"all": true}: %+v`, res)
	}
	for _, p := range f.predictions("topic", all) {
		if p.Version != first.Version {
			t.Fatalf("after the rollback a row of %s: %+v", p.Version, p)
		}
	}

	// Errors: no model, bad body.
	if status, _, raw := f.call(app.ScoreFunction, "POST", "score/nothing", map[string]string{"task": "nothing"}, nil, nil); status != 404 {
		t.Errorf("task without a model: %d %s", status, raw)
	}
	if status, _, raw := f.call(app.ScoreFunction, "POST", "score/topic", map[string]string{"task": "topic"}, nil, map[string]any{"everything": 1}); status != 400 {
		t.Errorf("unknown field: %d %s", status, raw)
	}
}

// TestReadAPI plays the host for Tasks, Models, Report and Suggest.
func TestReadAPI(t *testing.T) {
	f := newFixture(t)
	f.ingestTopics("topics.csv", 0)
	f.upload("news.jsonl", newsJSONL("n", 6))
	if status, _, res := f.trigger("news.jsonl"); status != 200 || res.RowsOK != 6 {
		t.Fatalf("ingest news: %d %+v", status, res)
	}

	var tasks struct{ Tasks []catalog.Task }
	f.callJSON(&tasks, app.TasksFunction, "GET", "tasks", nil, nil, nil)
	byName := map[string]catalog.Task{}
	for _, tk := range tasks.Tasks {
		byName[tk.Task] = tk
	}
	topic := byName["topic"]
	if topic.Rows != 80 || topic.Labels["weather"] != 40 || topic.Current != nil || !topic.Changed || topic.EmbeddingModel != f.model {
		t.Fatalf("untrained task: %+v", topic)
	}

	first := f.train("topic", map[string]any{"seed": 1})
	second := f.train("topic", map[string]any{"seed": 2, "force": true})
	f.callJSON(&tasks, app.TasksFunction, "GET", "tasks", nil, nil, nil)
	for _, tk := range tasks.Tasks {
		byName[tk.Task] = tk
	}
	topic = byName["topic"]
	var metrics struct{ Accuracy float64 }
	if topic.Current == nil || topic.Current.Version != second.Version || topic.Changed || topic.Current.Reason != "forced" ||
		json.Unmarshal(topic.Current.Metrics, &metrics) != nil || metrics.Accuracy != second.Metrics.Accuracy || topic.Current.TrainedAt.IsZero() {
		t.Fatalf("trained task: %+v (%s)", topic, topic.Why)
	}

	var models struct {
		Task, Current, Reason string
		Versions              []struct {
			Version         string
			Current         bool
			Metrics         struct{ Accuracy float64 }
			Hyperparameters struct{ Seed uint64 }
			Rows            struct{ Train, Validation int }
			Decision        struct {
				Promoted bool
				Reason   string
			}
		}
	}
	f.callJSON(&models, app.ModelsFunction, "GET", "models/topic", map[string]string{"task": "topic"}, nil, nil)
	if models.Current != second.Version || len(models.Versions) != 2 {
		t.Fatalf("models: %+v", models)
	}
	v1, v2 := models.Versions[0], models.Versions[1]
	if v1.Version != first.Version || v1.Current || !v1.Decision.Promoted || v1.Decision.Reason != "first model of the task" ||
		v1.Hyperparameters.Seed != 1 || v1.Rows.Train+v1.Rows.Validation != 80 || v1.Metrics.Accuracy != first.Metrics.Accuracy {
		t.Errorf("first version: %+v", v1)
	}
	if v2.Version != second.Version || !v2.Current || v2.Decision.Reason != "forced" {
		t.Errorf("second version: %+v", v2)
	}
	if status, _, raw := f.call(app.ModelsFunction, "GET", "models/none", map[string]string{"task": "none"}, nil, nil); status != 404 {
		t.Errorf("models of an unknown task: %d %s", status, raw)
	}

	var rep struct {
		ContentType string `json:"content_type"`
		Base64      string
	}
	f.callJSON(&rep, app.ReportFunction, "GET", "models/topic/"+first.Version+"/report",
		map[string]string{"task": "topic", "version": first.Version}, nil, nil)
	png, err := base64.StdEncoding.DecodeString(rep.Base64)
	if err != nil || rep.ContentType != "image/png" || !bytes.Equal(png, f.modelBlob("topic/"+first.Version+"/report.png")) {
		t.Errorf("report: %s, %d bytes, %v", rep.ContentType, len(png), err)
	}
	if status, _, raw := f.call(app.ReportFunction, "GET", "models/topic/nope/report", map[string]string{"task": "topic", "version": "nope"}, nil, nil); status != 404 {
		t.Errorf("report of an unknown version: %d %s", status, raw)
	}

	// Suggest: the unlabelled documents, least sure first, with their text
	// and the model's guess.
	var sg scoring.Suggestions
	f.callJSON(&sg, app.SuggestFunction, "GET", "tasks/topic/suggest", map[string]string{"task": "topic"}, map[string]string{"n": "4"}, nil)
	if sg.Version != second.Version || len(sg.Documents) != 4 {
		t.Fatalf("suggest: %+v", sg)
	}
	for i, d := range sg.Documents {
		if d.Source != "incoming/news.jsonl" || !strings.HasPrefix(d.Item, "n") || d.Text == "" || d.Label == "" || len(d.Probabilities) == 0 {
			t.Errorf("suggestion %d: %+v", i, d)
		}
		if i > 0 && d.Margin < sg.Documents[i-1].Margin {
			t.Errorf("suggestions not by margin: %v after %v", d.Margin, sg.Documents[i-1].Margin)
		}
		if doc := f.doc(d.Source, d.Item); doc.ID != d.Document {
			t.Errorf("suggestion %d: document %d, stored as %d", i, d.Document, doc.ID)
		}
	}
	// A labelled document drops out of the list.
	top := sg.Documents[0]
	if err := f.store.SetLabel(context.Background(), top.Source, top.Item, "topic", "weather"); err != nil {
		t.Fatal(err)
	}
	f.callJSON(&sg, app.SuggestFunction, "GET", "tasks/topic/suggest", map[string]string{"task": "topic"}, nil, nil)
	if len(sg.Documents) != 5 || slices.ContainsFunc(sg.Documents, func(s scoring.Suggestion) bool { return s.Document == top.Document }) {
		t.Errorf("after labelling %d: %+v", top.Document, sg.Documents)
	}
	for _, n := range []string{"0", "x", "100000"} {
		if status, _, raw := f.call(app.SuggestFunction, "GET", "tasks/topic/suggest", map[string]string{"task": "topic"}, map[string]string{"n": n}, nil); status != 400 {
			t.Errorf("n=%s: %d %s", n, status, raw)
		}
	}

	// The label changed the data: the task says so.
	time.Sleep(5 * time.Millisecond)
	f.callJSON(&tasks, app.TasksFunction, "GET", "tasks", nil, nil, nil)
	for _, tk := range tasks.Tasks {
		if tk.Task == "topic" && (!tk.Changed || tk.Rows != 81) {
			t.Errorf("after a new label: %+v", tk)
		}
	}
}

// TestDashboard: the page is served as HTML with its script inlined.
func TestDashboard(t *testing.T) {
	f := newFixture(t)
	status, headers, body := f.call(app.DashboardFunction, "GET", "dashboard", nil, nil, nil)
	if status != 200 || !strings.HasPrefix(headers["Content-Type"], "text/html") || !bytes.Contains(body, []byte("<script>")) {
		t.Errorf("dashboard: %d %v %.200s", status, headers, body)
	}
}
