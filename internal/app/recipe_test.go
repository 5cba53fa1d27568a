package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tinyhead/tinyhead/internal/app"
	"github.com/tinyhead/tinyhead/internal/serving"
)

// TestRecipeOverHTTP plays the host through the recipe's features on the
// real components: a CSV with group and split columns (a bad split value
// rejected, naming the row), a training whose answer has test metrics and
// a binary threshold, Classify deciding by that threshold, and Classify of
// a version that is not promoted (404 for an unknown one, 400 for a name
// that is no version).
func TestRecipeOverHTTP(t *testing.T) {
	f := newFixture(t)
	var b bytes.Buffer
	b.WriteString("id,text,topic,group,split\n")
	csv := string(topicCSV(0))
	lines := strings.Split(strings.TrimSpace(csv), "\n")[1:]
	tests := 0
	for i, line := range lines {
		// id,text,topic,single,tiny → id,text,topic,group,split: the five
		// phrasings of one sentence are a group; every eighth row is a test row.
		f := strings.Split(line, ",")
		split := ""
		if i%8 == 0 {
			split, tests = "test", tests+1
		}
		fmt.Fprintf(&b, "%s,%s,%s,sentence-%d,%s\n", f[0], f[1], f[2], i/5, split)
	}
	b.WriteString("bad,Snow is forecast for the hills.,weather,,train\n")
	f.upload("grouped.csv", b.Bytes())
	status, resp, res := f.trigger("grouped.csv")
	if status != 200 || res.RowsOK != 80 || res.RowsRejected != 1 || !strings.Contains(strings.Join(resp.Logs, "\n"), `row 81: split is "train"`) {
		t.Fatalf("ingest: status %d, %+v, logs %v", status, res, resp.Logs)
	}
	if d := f.doc("incoming/grouped.csv", "r1"); d.Group != "sentence-0" || !d.Test {
		t.Errorf("stored r1: group %q, test %v; want sentence-0, test", d.Group, d.Test)
	}

	// A slower sketch layer than the default: on 56 separable training
	// rows the default's fits the validation rows to float32 certainty,
	// a log-loss of exactly 0, and the check below would not see whether
	// the log-loss is reported.
	first := f.train("topic", map[string]any{"seed": 1, "sketch_learning_rate": 50})
	if first.Test == nil || first.Test.Rows != tests || first.Rows.Test != tests || first.Rows.Train+first.Rows.Validation != 80-tests {
		t.Fatalf("test metrics %+v, rows %+v; want %d test rows", first.Test, first.Rows, tests)
	}
	if first.Threshold == nil || first.Promotion.Metric != "accuracy" || first.Metrics.LogLoss <= 0 {
		t.Errorf("threshold %+v, promotion %+v, log-loss %v", first.Threshold, first.Promotion, first.Metrics.LogLoss)
	}
	var man struct {
		Metric  string
		Metrics struct{ Test *struct{ Rows int } }
	}
	if err := json.Unmarshal(f.modelBlob("topic/"+first.Version+"/model.json"), &man); err != nil || man.Metric != "accuracy" ||
		man.Metrics.Test == nil || man.Metrics.Test.Rows != tests {
		t.Errorf("model.json: %+v, %v", man, err)
	}

	// Classify decides by the stored threshold.
	texts := []string{rainText, soupText, "Warm soup on a rainy day.", "Cook the rice while it snows."}
	got := f.classify("topic", texts...)
	mf, err := f.registry.Manifest(context.Background(), "topic", first.Version)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range got.Predictions {
		probs := make([]float32, len(mf.Labels))
		for k, l := range mf.Labels {
			probs[k] = float32(p.Probabilities[l])
		}
		if want := mf.Labels[mf.Decide(probs)]; p.Label != want {
			t.Errorf("text %d: %s, want %s (threshold %+v, probabilities %v)", i, p.Label, want, mf.Threshold, p.Probabilities)
		}
	}

	// A worse version (one step at tiny rates, no exact sketch fit, which
	// would learn the words whatever SGD did) is kept but not promoted;
	// Classify can still run it.
	weak := f.train("topic", map[string]any{"steps": 1, "learning_rate": 1e-9, "sketch_learning_rate": 1e-9, "sketch_exact_share": -1, "seed": 7, "metric": "macro_f1"})
	if weak.Promoted || f.current("topic") != first.Version {
		t.Fatalf("weak version promoted %v (%s)", weak.Promoted, weak.Reason)
	}
	status, body := f.apiCall(app.ClassifyFunction, "topic", map[string]any{"texts": texts, "version": weak.Version})
	var byVersion serving.Classification
	if status != http.StatusOK || json.Unmarshal(body, &byVersion) != nil || byVersion.Version != weak.Version || len(byVersion.Predictions) != len(texts) {
		t.Fatalf("classify version %s: %d %s", weak.Version, status, body)
	}
	if f.classify("topic", texts...).Version != first.Version {
		t.Error("classifying a named version changed what the task serves")
	}
	for _, tc := range []struct {
		version string
		status  int
	}{{"20991231T000000.000Z", http.StatusNotFound}, {"../topic", http.StatusBadRequest}} {
		if status, body := f.apiCall(app.ClassifyFunction, "topic", map[string]any{"texts": texts, "version": tc.version}); status != tc.status {
			t.Errorf("version %q: %d %s, want %d", tc.version, status, body, tc.status)
		}
	}
	// A metric naming a label the task lacks is a bad request.
	if status, body := f.apiCall(app.TrainFunction, "topic", map[string]any{"metric": "f1:sports"}); status != http.StatusBadRequest ||
		!strings.Contains(string(body), "sports") {
		t.Errorf("metric f1:sports: %d %s", status, body)
	}
}
