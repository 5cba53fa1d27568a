package training_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/mlp/mlptest"
	"github.com/tinyhead/tinyhead/internal/registry"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
	"github.com/tinyhead/tinyhead/internal/training"
)

// addImbalanced stores n documents of a binary task whose class "yes" is
// one of e.clusters synthetic clusters (default 20: about 5% of the rows)
// and "no" the others; noise makes the classes overlap. test marks every test-th row a test
// row (0: none); flip gives the test rows the wrong label, so that a
// model trained on them would differ.
func (e *env) addImbalanced(task string, n int, noise float64, seed uint64, test int, flip bool) {
	e.t.Helper()
	clusters := e.clusters
	if clusters == 0 {
		clusters = 20
	}
	x, y := mlptest.Spec{N: n, Dim: dim, Classes: clusters, Noise: noise, Seed: seed}.Generate()
	docs := make([]tinyhead.Document, n)
	for i := range docs {
		label := "no"
		if y[i] == 0 {
			label = "yes"
		}
		isTest := test > 0 && i%test == 0
		if isTest && flip {
			label = map[string]string{"no": "yes", "yes": "no"}[label]
		}
		text := fmt.Sprintf("%s %d %d", task, seed, i)
		docs[i] = tinyhead.Document{
			Source: "incoming/imbalanced.jsonl", Item: fmt.Sprint(i), SourceVersion: "v1",
			ContentHash: tinyhead.ContentHash(text), Text: text,
			Embeddings: map[string][]float32{e.emb.ModelID(): x[i*dim : (i+1)*dim]}, Labels: map[string]string{task: label}, Test: isTest,
		}
	}
	if err := e.store.PutDocuments(e.t.Context(), docs); err != nil {
		e.t.Fatal(err)
	}
}

// TestTestRowsNeverTrainedOn: a task with test rows (labelled wrongly on
// purpose) trains the same model bit for bit, with the same validation
// scores and threshold, as the task without them; the test rows are only
// scored, in the answer, model.json and the models table.
func TestTestRowsNeverTrainedOn(t *testing.T) {
	with, without := newEnv(t), newEnv(t)
	with.addImbalanced("t", 600, 1, 3, 7, true)
	without.addImbalancedExcept("t", 600, 1, 3, 7) // the same rows but the test ones
	req := training.Request{Config: mlp.Config{Seed: 5, Steps: 200}}
	a, b := with.train("t", req), without.train("t", req)
	onnxA, onnxB := with.download(a.Files.ONNX), without.download(b.Files.ONNX)
	if !bytes.Equal(onnxA, onnxB) {
		t.Error("the test rows changed the trained model")
	}
	if fmt.Sprint(a.Metrics) != fmt.Sprint(b.Metrics) || fmt.Sprint(a.Threshold) != fmt.Sprint(b.Threshold) || a.Rows.Train != b.Rows.Train ||
		a.Rows.Validation != b.Rows.Validation {
		t.Errorf("validation differs with test rows:\n%+v %v %+v\n%+v %v %+v", a.Metrics, a.Threshold, a.Rows, b.Metrics, b.Threshold, b.Rows)
	}
	wantTest := (600 + 6) / 7
	if a.Test == nil || a.Test.Rows != wantTest || a.Rows.Test != wantTest || b.Test != nil || b.Rows.Test != 0 {
		t.Fatalf("test metrics: with %+v (rows %+v), without %+v", a.Test, a.Rows, b.Test)
	}
	// The wrong labels show: the test rows score far below validation.
	if a.Test.Accuracy > a.Metrics.Accuracy-0.3 {
		t.Errorf("test accuracy %.3f on flipped labels vs validation %.3f: are the test rows scored?", a.Test.Accuracy, a.Metrics.Accuracy)
	}
	var stored struct {
		Accuracy float64
		Test     *mlp.Metrics
	}
	if err := json.Unmarshal(with.manifest("t", a.Version).Metrics, &stored); err != nil || stored.Test == nil || stored.Test.Rows != wantTest {
		t.Errorf("model.json metrics: %+v, %v; want test metrics of %d rows", stored, err, wantTest)
	}
	recs, err := with.store.Models(t.Context(), "t")
	if err != nil || len(recs) != 1 || !strings.Contains(recs[0].Metrics, `"test":{`) || recs[0].Rows != 600 {
		t.Errorf("models table: %+v, %v", recs, err)
	}
	// A retrain scores the current version on the test rows too.
	again := with.train("t", req)
	if again.Previous == nil || again.Previous.Test == nil || again.Previous.Test.Accuracy != a.Test.Accuracy {
		t.Errorf("retrain: previous %+v; want the current version's test scores", again.Previous)
	}
}

// addImbalancedExcept stores addImbalanced's rows without its test rows.
func (e *env) addImbalancedExcept(task string, n int, noise float64, seed uint64, test int) {
	e.t.Helper()
	tmp := newEnv(e.t)
	tmp.addImbalanced(task, n, noise, seed, test, true)
	var docs []tinyhead.Document
	for i := range n {
		if i%test == 0 {
			continue
		}
		d, err := tmp.store.GetDocument(e.t.Context(), "incoming/imbalanced.jsonl", fmt.Sprint(i))
		if err != nil {
			e.t.Fatal(err)
		}
		docs = append(docs, d)
	}
	if err := e.store.PutDocuments(e.t.Context(), docs); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) download(name string) []byte {
	e.t.Helper()
	b, err := e.blobs.Download(e.t.Context(), "models", name)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// saveConstant stores and promotes a version of a binary task that always
// answers labels[0] (P = 0.98): the majority-class model.
func (e *env) saveConstant(task, version string, labels []string) {
	e.t.Helper()
	m := &mlp.Model{Dim: dim, Hidden: 1, Classes: 2, Activation: mlp.ReLU, Labels: labels,
		W1: make([]float32, dim), B1: []float32{0}, W2: []float32{0, 0}, B2: []float32{2, -2}}
	man := &registry.Manifest{Task: task, Version: version, CreatedAt: time.Now().UTC(), Labels: labels,
		EmbeddingModel: e.emb.ModelID(), EmbeddingDim: dim, Parameters: m.ParamCount()}
	if err := e.reg.Save(e.t.Context(), man, m.ONNX().Marshal(), nil); err != nil {
		e.t.Fatal(err)
	}
	if err := e.reg.Promote(e.t.Context(), task, version, "test", ""); err != nil {
		e.t.Fatal(err)
	}
}

// TestPromotionByMetric: on an imbalanced task the default metric is
// macro-F1, so a head that finds the rare class replaces the
// majority-class model even though its accuracy is lower, and the
// majority-class model is never promoted over it; compared by accuracy
// (requested) the majority-class model would stay. Both are scored on the
// same validation rows; the metric, its reason and both scores are
// recorded, and a retrain without a metric keeps the task's.
func TestPromotionByMetric(t *testing.T) {
	const noise = 5
	for _, tc := range []struct {
		name        string
		metric      string
		wantMetric  mlp.Metric
		wantPromote bool
	}{
		{"default on an imbalanced task", "", mlp.MetricMacroF1, true},
		{"requested macro-F1", "macro_f1", mlp.MetricMacroF1, true},
		{"requested F1 of the rare class", "f1:yes", "f1:yes", true},
		// By accuracy the head may tie at best (its threshold can answer
		// "no" always); it is not worse, so it replaces the old model too.
		{"requested accuracy", "accuracy", mlp.MetricAccuracy, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.addImbalanced("t", 1500, noise, 11, 0, false)
			e.saveConstant("t", "00000000T000000.000Z", []string{"no", "yes"})
			// The embedding only: the premise below is about the MLP's
			// head on these rows (their texts hold no signal).
			out := e.train("t", training.Request{Metric: tc.metric, Config: mlp.Config{Seed: 1, Features: mlp.FeatureEmbedding}})
			p := out.Promotion
			if out.Previous == nil || p.Previous == nil || *p.Previous != out.Previous.Score {
				t.Fatalf("no comparison with the current version: %+v", out)
			}
			// The premise: the majority-class model is more accurate than
			// the head chosen for macro-F1, which is better by macro-F1.
			if tc.wantMetric != mlp.MetricAccuracy && (out.Previous.Accuracy <= out.Metrics.Accuracy || out.Previous.MacroF1 >= out.Metrics.MacroF1) {
				t.Fatalf("majority-class model: accuracy %.4f, macro-F1 %.4f; the head %.4f, %.4f: the test needs the first more accurate, the second better by macro-F1",
					out.Previous.Accuracy, out.Previous.MacroF1, out.Metrics.Accuracy, out.Metrics.MacroF1)
			}
			if p.Metric != tc.wantMetric || out.Promoted != tc.wantPromote {
				t.Errorf("metric %s (%s), promoted %v (%s); want %s, promoted %v", p.Metric, p.MetricReason, out.Promoted, out.Reason, tc.wantMetric, tc.wantPromote)
			}
			if !strings.Contains(p.Imbalance, "imbalanced") || !strings.Contains(out.Reason, strings.ReplaceAll(string(p.Metric), "_", "-")) {
				t.Errorf("imbalance %q, reason %q", p.Imbalance, out.Reason)
			}
			if p.Score != p.Metric.Score(out.Metrics, out.Labels) {
				t.Errorf("score %v of %+v", p.Score, out.Metrics)
			}
			man := e.manifest("t", out.Version)
			if man.Metric != string(tc.wantMetric) || !bytes.Contains(man.Promotion, []byte(`"metric_reason"`)) {
				t.Errorf("model.json: metric %q, promotion %s", man.Metric, man.Promotion)
			}
		})
	}
}

// TestRecipeDefaults: class weights follow the imbalance rule unless the
// request says otherwise, a binary task gets a threshold and others none,
// and the probabilities' calibration is reported.
func TestRecipeDefaults(t *testing.T) {
	for _, tc := range []struct {
		name        string
		clusters    int // of which "yes" is one; 0: balanced labels
		labels      []string
		classWeight string
		wantWeight  string
		wantMetric  mlp.Metric
	}{
		{"balanced binary", 0, binary, "", mlp.ClassWeightNone, mlp.MetricAccuracy},
		{"imbalanced binary, 5%", 20, nil, "", mlp.ClassWeightNone, mlp.MetricMacroF1},
		{"imbalanced binary, under 1%", 150, nil, "", mlp.ClassWeightBalanced, mlp.MetricMacroF1},
		{"under 1%, weights off", 150, nil, mlp.ClassWeightNone, mlp.ClassWeightNone, mlp.MetricMacroF1},
		{"balanced, weights on", 0, binary, mlp.ClassWeightBalanced, mlp.ClassWeightBalanced, mlp.MetricAccuracy},
		{"three classes", 0, []string{"a", "b", "c"}, "", mlp.ClassWeightNone, mlp.MetricAccuracy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			imbalanced := tc.clusters > 0
			if imbalanced {
				e.clusters = tc.clusters
				e.addImbalanced("t", 4000, 1, 2, 0, false)
			} else {
				e.addRows("t", "a.jsonl", tc.labels, 300, 2)
			}
			out := e.train("t", training.Request{Config: mlp.Config{ClassWeight: tc.classWeight, Steps: 100}})
			hp := out.Hyperparams
			if hp.ClassWeight != tc.wantWeight || out.Promotion.Metric != tc.wantMetric {
				t.Errorf("class_weight %q, metric %s; want %q, %s", hp.ClassWeight, out.Promotion.Metric, tc.wantWeight, tc.wantMetric)
			}
			if tc.wantWeight == mlp.ClassWeightNone && hp.ClassWeights != nil {
				t.Errorf("class_weights %v without weighting", hp.ClassWeights)
			}
			if tc.wantWeight == mlp.ClassWeightBalanced {
				// n/(2·n_c): about 75 for "yes" at 1/150 of the rows.
				if len(hp.ClassWeights) != 2 || imbalanced && (hp.ClassWeights[1] < 40 || hp.ClassWeights[0] > 0.6) {
					t.Errorf("class_weights %v (%s)", hp.ClassWeights, out.Promotion.Imbalance)
				}
			}
			if (out.Threshold != nil) != (len(out.Labels) == 2) {
				t.Errorf("%d labels, threshold %+v", len(out.Labels), out.Threshold)
			}
			if out.Threshold != nil && imbalanced && out.Threshold.Label != "yes" {
				t.Errorf("threshold on %q, want the rare class", out.Threshold.Label)
			}
			if m := out.Metrics; !(m.LogLoss > 0 && m.Brier > 0 && m.Brier < 2) {
				t.Errorf("log-loss %v, Brier %v", m.LogLoss, m.Brier)
			}
			man := e.manifest("t", out.Version)
			var stored mlp.Config
			if err := json.Unmarshal(man.Hyperparams, &stored); err != nil || fmt.Sprint(man.Threshold) != fmt.Sprint(out.Threshold) ||
				stored.ClassWeight != tc.wantWeight || fmt.Sprint(stored.ClassWeights) != fmt.Sprint(hp.ClassWeights) {
				t.Errorf("model.json: threshold %+v, hyperparameters %s (%v)", man.Threshold, man.Hyperparams, err)
			}
		})
	}
}

// TestRecipeRequestErrors: a metric naming a label the task lacks, an
// unknown metric or class weighting, and class weights given by hand are
// bad requests, refused before anything is trained.
func TestRecipeRequestErrors(t *testing.T) {
	e := newEnv(t)
	e.addRows("spam", "a.jsonl", binary, 100, 1)
	for _, req := range []training.Request{
		{Metric: "f1:eggs"},
		{Metric: "recall"},
		{Config: mlp.Config{ClassWeight: "inverse"}},
		{Config: mlp.Config{ClassWeights: []float64{1, 2}}},
	} {
		_, err := e.svc.Train(t.Context(), "spam", req)
		if !errors.Is(err, tinyhead.ErrInvalid) {
			t.Errorf("%+v: %v; want ErrInvalid", req, err)
		}
	}
	if v := e.versions("spam"); len(v) != 0 {
		t.Errorf("versions %v after bad requests", v)
	}
}

// TestNightlyKeepsTheMetric: a retrain without a metric (the nightly run's)
// compares by the metric the current version recorded.
func TestNightlyKeepsTheMetric(t *testing.T) {
	e := newEnv(t)
	e.addRows("spam", "a.jsonl", binary, 200, 1)
	first := e.train("spam", training.Request{Metric: "f1:spam"})
	if first.Promotion.Metric != "f1:spam" || first.Threshold == nil || first.Threshold.Label != "spam" {
		t.Fatalf("first: metric %s, threshold %+v", first.Promotion.Metric, first.Threshold)
	}
	e.addRows("spam", "b.jsonl", binary, 50, 2)
	results, err := e.svc.RetrainChanged(t.Context())
	if err != nil || len(results) != 1 || results[0].Outcome == nil {
		t.Fatalf("nightly: %+v, %v", results, err)
	}
	p := results[0].Outcome.Promotion
	if p.Metric != "f1:spam" || !strings.Contains(p.MetricReason, first.Version) {
		t.Errorf("nightly compared by %s (%s); want f1:spam, the current version's", p.Metric, p.MetricReason)
	}
}
