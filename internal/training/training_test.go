package training_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/tinyhead/tinyhead/internal/inmem"
	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/mlp/mlptest"
	"github.com/tinyhead/tinyhead/internal/registry"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
	"github.com/tinyhead/tinyhead/internal/training"
)

// These tests run the training logic on the in-memory fakes: no database,
// no blob service, no ONNX Runtime. The heads are scored in Go
// (inmem.Runtime); internal/app's tests run the same paths on the real
// components.

const dim = 16

// env is one "process": a training service over shared fakes.
type env struct {
	t     *testing.T
	store *inmem.Store
	blobs *inmem.Blobs
	reg   *registry.Registry
	emb   *inmem.Embedder
	svc   *training.Service
	// clusters is addImbalanced's number of synthetic clusters (0: 20).
	clusters int
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, store: inmem.NewStore(), blobs: inmem.NewBlobs(), emb: inmem.NewEmbedder(dim)}
	if err := e.blobs.EnsureContainer(t.Context(), "models"); err != nil {
		t.Fatal(err)
	}
	e.restart()
	return e
}

// restart builds a new service over the same store and blobs, as a new
// process after a crash would.
func (e *env) restart() {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e.reg = &registry.Registry{Blobs: e.blobs, Container: "models", Runtime: inmem.Runtime, Log: log}
	e.svc = &training.Service{Store: e.store, Registry: e.reg, Embedders: tinyhead.Embedders{e.emb}, Log: log}
}

// addRows stores n labelled documents of task from source, with
// embeddings clustered by label (separable, a little noise).
func (e *env) addRows(task, source string, labels []string, n int, seed uint64) {
	e.t.Helper()
	x, y := mlptest.Spec{N: n, Dim: dim, Classes: len(labels), Noise: 0.4, Seed: seed}.Generate()
	docs := make([]tinyhead.Document, n)
	for i := range docs {
		text := fmt.Sprintf("%s %s %d %d", task, source, seed, i)
		docs[i] = tinyhead.Document{
			Source: "incoming/" + source, Item: fmt.Sprint(i), SourceVersion: "v1",
			ContentHash: tinyhead.ContentHash(text), Text: text,
			Embeddings: map[string][]float32{e.emb.ModelID(): x[i*dim : (i+1)*dim]}, Labels: map[string]string{task: labels[y[i]]},
		}
	}
	if err := e.store.PutDocuments(e.t.Context(), docs); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) train(task string, req training.Request) *training.Outcome {
	e.t.Helper()
	out, err := e.svc.Train(e.t.Context(), task, req)
	if err != nil {
		e.t.Fatalf("train %s: %v", task, err)
	}
	return out
}

// current is the version current.json names ("" if none).
func (e *env) current(task string) string {
	e.t.Helper()
	cur, _, err := e.reg.Current(e.t.Context(), task)
	if errors.Is(err, tinyhead.ErrNotFound) {
		return ""
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return cur.Version
}

// mirror is the version the models table flags as promoted ("" if none),
// and how many versions it has.
func (e *env) mirror(task string) (promoted string, versions int) {
	e.t.Helper()
	recs, err := e.store.Models(e.t.Context(), task)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range recs {
		if r.Promoted {
			if promoted != "" {
				e.t.Fatalf("two promoted versions of %s: %s and %s", task, promoted, r.Version)
			}
			promoted = r.Version
		}
	}
	return promoted, len(recs)
}

func (e *env) versions(task string) []string {
	e.t.Helper()
	v, err := e.reg.Versions(e.t.Context(), task)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *env) put(name string, data []byte) {
	e.t.Helper()
	if _, err := e.blobs.UploadBytes(e.t.Context(), "models", name, data, ""); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) manifest(task, version string) *registry.Manifest {
	e.t.Helper()
	m, err := e.reg.Manifest(e.t.Context(), task, version)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// faultOn makes the blob operation op on name fail with err.
func (e *env) faultOn(op, name string, err error) {
	e.blobs.Fault = func(gotOp, _, gotName string) error {
		if gotOp == op && gotName == name {
			return err
		}
		return nil
	}
}

var binary = []string{"ham", "spam"}

func TestTrainPromotesFirstThenNotWorse(t *testing.T) {
	e := newEnv(t)
	e.addRows("spam", "a.jsonl", binary, 200, 1)
	first := e.train("spam", training.Request{})
	if !first.Promoted || first.Reason != "first model of the task" || first.Previous != nil {
		t.Fatalf("first version: promoted %v, %q, previous %+v", first.Promoted, first.Reason, first.Previous)
	}
	if first.Metrics.Accuracy < 0.9 {
		t.Errorf("accuracy %.3f on separable data", first.Metrics.Accuracy)
	}
	if got := e.current("spam"); got != first.Version {
		t.Errorf("current.json names %q, want %q", got, first.Version)
	}
	if p, n := e.mirror("spam"); p != first.Version || n != 1 {
		t.Errorf("models table: promoted %q of %d versions", p, n)
	}
	man := e.manifest("spam", first.Version)
	if man.EmbeddingModel != e.emb.ModelID() || man.EmbeddingDim != dim || man.Data.Rows != 200 || len(man.Labels) != 2 {
		t.Errorf("manifest %+v", man)
	}

	second := e.train("spam", training.Request{})
	if !second.Promoted || second.Previous == nil || second.Previous.Version != first.Version ||
		second.Previous.Accuracy != first.Metrics.Accuracy || !strings.Contains(second.Reason, "not worse") {
		t.Fatalf("same data, same seed: promoted %v, %q, previous %+v", second.Promoted, second.Reason, second.Previous)
	}
	if p, _ := e.mirror("spam"); p != second.Version || e.current("spam") != second.Version {
		t.Errorf("after the second promotion: current %s, models table %s", e.current("spam"), p)
	}
}

func TestWorseIsKeptButNotPromotedUnlessForced(t *testing.T) {
	e := newEnv(t)
	e.addRows("spam", "a.jsonl", binary, 200, 1)
	good := e.train("spam", training.Request{})
	// One tiny step leaves the head near chance.
	weak := training.Request{Config: mlp.Config{Steps: 1, LearningRate: 1e-9, Seed: 7}}
	bad := e.train("spam", weak)
	if bad.Promoted || !strings.Contains(bad.Reason, "worse") || bad.Metrics.Accuracy >= good.Metrics.Accuracy {
		t.Fatalf("weak version: promoted %v, %q, accuracy %.3f vs %.3f", bad.Promoted, bad.Reason, bad.Metrics.Accuracy, good.Metrics.Accuracy)
	}
	if e.current("spam") != good.Version {
		t.Errorf("current moved to %s", e.current("spam"))
	}
	if p, n := e.mirror("spam"); p != good.Version || n != 2 {
		t.Errorf("models table: promoted %q of %d versions; the weak version is recorded, not promoted", p, n)
	}
	weak.Force = true
	forced := e.train("spam", weak)
	if !forced.Promoted || forced.Reason != "forced" || e.current("spam") != forced.Version {
		t.Errorf("forced: promoted %v, %q, current %s", forced.Promoted, forced.Reason, e.current("spam"))
	}
}

// TestUnusableCurrentIsReplaced: a current model that is gone or unreadable
// for good is replaced, and the reason is recorded in current.json.
func TestUnusableCurrentIsReplaced(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(e *env, version string)
		want   string
	}{
		{"model.onnx missing", func(e *env, v string) {
			if err := e.blobs.Delete(e.t.Context(), "models", "spam/"+v+"/model.onnx"); err != nil {
				e.t.Fatal(err)
			}
		}, "not found"},
		{"model.onnx corrupt", func(e *env, v string) { e.put("spam/"+v+"/model.onnx", []byte("garbage")) }, "load model"},
		{"model.json corrupt", func(e *env, v string) { e.put("spam/"+v+"/model.json", []byte("{")) }, "parse manifest"},
		{"model.json of another task", func(e *env, v string) {
			m := e.manifest("spam", v)
			m.Task = "other"
			raw, _ := json.Marshal(m)
			e.put("spam/"+v+"/model.json", raw)
		}, "names other/"},
		{"other embeddings", func(e *env, v string) {
			m := e.manifest("spam", v)
			m.EmbeddingModel = "bert-base@1"
			raw, _ := json.Marshal(m)
			e.put("spam/"+v+"/model.json", raw)
		}, "bert-base@1"},
		{"current.json corrupt", func(e *env, _ string) { e.put("spam/current.json", []byte("not json")) }, "pointer is unreadable"},
		{"current.json of another task", func(e *env, v string) {
			e.put("spam/current.json", []byte(`{"task": "victim", "version": "`+v+`"}`))
		}, "pointer is unreadable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.addRows("spam", "a.jsonl", binary, 200, 1)
			old := e.train("spam", training.Request{})
			tt.break_(e, old.Version)
			out := e.train("spam", training.Request{})
			if !out.Promoted || !strings.Contains(out.Reason, "replaced") || !strings.Contains(out.Reason, tt.want) {
				t.Fatalf("promoted %v, reason %q; want a replacement mentioning %q", out.Promoted, out.Reason, tt.want)
			}
			cur, _, err := e.reg.Current(t.Context(), "spam")
			if err != nil || cur.Version != out.Version || cur.Reason != out.Reason {
				t.Errorf("current.json %+v (%v); want version %s with the reason", cur, err, out.Version)
			}
			if p, _ := e.mirror("spam"); p != out.Version {
				t.Errorf("models table promotes %s", p)
			}
		})
	}
}

// TestPassingErrorPromotesNothing: when the current model cannot be read
// for a reason that may pass, the training fails as unavailable (503,
// retry) and nothing is stored or promoted.
func TestPassingErrorPromotesNothing(t *testing.T) {
	tests := []struct {
		name, op, blob string
		err            error
	}{
		{"current model download", "Download", "model.onnx", tinyhead.Errorf(tinyhead.ErrUnavailable, "storage unavailable (HTTP 503)")},
		{"current manifest download", "Download", "model.json", tinyhead.Errorf(tinyhead.ErrUnavailable, "storage unavailable (HTTP 503)")},
		{"an error of no kind", "Download", "model.onnx", errors.New("connection reset by peer")},
		{"current.json properties", "Props", "current.json", tinyhead.Errorf(tinyhead.ErrUnavailable, "storage unavailable (HTTP 500)")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.addRows("spam", "a.jsonl", binary, 200, 1)
			old := e.train("spam", training.Request{})
			_, etag, err := e.reg.Current(t.Context(), "spam")
			if err != nil {
				t.Fatal(err)
			}
			name := "spam/" + old.Version + "/" + tt.blob
			if tt.blob == "current.json" {
				name = "spam/current.json"
			}
			e.faultOn(tt.op, name, tt.err)
			out, err := e.svc.Train(t.Context(), "spam", training.Request{Config: mlp.Config{Seed: 3}, Force: true})
			if !errors.Is(err, tinyhead.ErrUnavailable) {
				t.Fatalf("Train = %+v, %v; want an unavailable error", out, err)
			}
			e.blobs.Fault = nil
			if _, now, _ := e.reg.Current(t.Context(), "spam"); now != etag {
				t.Error("current.json was rewritten")
			}
			if v := e.versions("spam"); len(v) != 1 {
				t.Errorf("versions %v; the failed training stored one", v)
			}
			if p, n := e.mirror("spam"); p != old.Version || n != 1 {
				t.Errorf("models table: promoted %s of %d", p, n)
			}
		})
	}
}

// TestPromotionCrashPoints: the two writes of a promotion are current.json
// (the truth) and then the models table's mirror. A failure at either point
// leaves current.json right, and the mirror is repaired by the next run.
func TestPromotionCrashPoints(t *testing.T) {
	t.Run("before current.json", func(t *testing.T) {
		e := newEnv(t)
		e.addRows("spam", "a.jsonl", binary, 200, 1)
		old := e.train("spam", training.Request{})
		e.faultOn("UploadIf", "spam/current.json", tinyhead.Errorf(tinyhead.ErrUnavailable, "storage unavailable"))
		if _, err := e.svc.Train(t.Context(), "spam", training.Request{Force: true}); !errors.Is(err, tinyhead.ErrUnavailable) {
			t.Fatalf("Train error %v, want unavailable", err)
		}
		e.blobs.Fault = nil
		e.restart()
		if cur, p := e.current("spam"), first(e.mirror("spam")); cur != old.Version || p != old.Version {
			t.Fatalf("after the crash: current.json %s, models table %s; want both %s", cur, p, old.Version)
		}
		again := e.train("spam", training.Request{Force: true})
		if cur, p := e.current("spam"), first(e.mirror("spam")); cur != again.Version || p != again.Version {
			t.Errorf("retry: current.json %s, models table %s; want %s", cur, p, again.Version)
		}
	})
	t.Run("after current.json", func(t *testing.T) {
		for _, repair := range []string{"nightly", "train", "rollback"} {
			t.Run("repaired by "+repair, func(t *testing.T) {
				e := newEnv(t)
				e.addRows("spam", "a.jsonl", binary, 200, 1)
				old := e.train("spam", training.Request{})
				e.store.Fault = func(op string) error {
					if op == "PromoteModel" {
						return errors.New("database connection lost")
					}
					return nil
				}
				out := e.train("spam", training.Request{Force: true})
				if !out.Promoted || out.Warning == "" {
					t.Fatalf("promoted %v, warning %q; the promotion stands and the answer says the mirror lags", out.Promoted, out.Warning)
				}
				e.store.Fault = nil
				e.restart()
				if cur, p := e.current("spam"), first(e.mirror("spam")); cur != out.Version || p != old.Version {
					t.Fatalf("after the crash: current.json %s (want %s), models table %s (want the stale %s)", cur, out.Version, p, old.Version)
				}
				want := out.Version
				switch repair {
				case "nightly":
					res, err := e.svc.RetrainChanged(t.Context())
					if err != nil || len(res) != 1 || res[0].Action != "skipped" {
						t.Fatalf("nightly %+v, %v; want the unchanged task skipped", res, err)
					}
				case "train":
					want = e.train("spam", training.Request{Force: true}).Version
				case "rollback":
					if err := e.svc.Rollback(t.Context(), "spam", out.Version); err != nil {
						t.Fatal(err)
					}
				}
				if cur, p := e.current("spam"), first(e.mirror("spam")); cur != want || p != want {
					t.Errorf("after the %s: current.json %s, models table %s; want both %s", repair, cur, p, want)
				}
			})
		}
	})
}

func first(s string, _ int) string { return s }

func TestRollback(t *testing.T) {
	e := newEnv(t)
	e.addRows("spam", "a.jsonl", binary, 200, 1)
	e.addRows("other", "b.jsonl", binary, 200, 2)
	v1 := e.train("spam", training.Request{})
	v2 := e.train("spam", training.Request{Force: true})
	foreign := e.train("other", training.Request{})
	ctx := t.Context()

	errs := []struct {
		name, task, version string
		kind                error
	}{
		{"missing version", "spam", "19990101T000000.000Z", tinyhead.ErrNotFound},
		{"another task's version", "spam", foreign.Version, tinyhead.ErrNotFound},
		{"a path", "spam", "../other/" + foreign.Version, tinyhead.ErrInvalid},
		{"a sub-folder", "spam", "sub/" + v1.Version, tinyhead.ErrInvalid},
		{"a bad task", "../other", v1.Version, tinyhead.ErrInvalid},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			if err := e.svc.Rollback(ctx, tt.task, tt.version); !errors.Is(err, tt.kind) {
				t.Errorf("Rollback(%q, %q) = %v, want %v", tt.task, tt.version, err, tt.kind)
			}
			if e.current("spam") != v2.Version || e.current("other") != foreign.Version {
				t.Error("a refused rollback moved a pointer")
			}
		})
	}
	if err := e.svc.Rollback(ctx, "spam", v1.Version); err != nil {
		t.Fatal(err)
	}
	cur, _, err := e.reg.Current(ctx, "spam")
	if err != nil || cur.Version != v1.Version || cur.Reason != "rollback" {
		t.Errorf("current.json %+v, %v", cur, err)
	}
	if p, _ := e.mirror("spam"); p != v1.Version {
		t.Errorf("models table promotes %s", p)
	}
	unlock, err := e.reg.Lock(ctx, "spam")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if err := e.svc.Rollback(ctx, "spam", v2.Version); !errors.Is(err, tinyhead.ErrConflict) {
		t.Errorf("rollback during a training: %v, want a conflict", err)
	}
}

func TestTrainErrors(t *testing.T) {
	e := newEnv(t)
	e.addRows("spam", "a.jsonl", binary, 200, 1)
	e.addRows("single", "b.jsonl", []string{"x"}, 50, 2)
	e.addRows("tiny", "c.jsonl", binary, 6, 3)
	// A label with one row cannot have rows on both sides of the split.
	e.addRows("lonely", "d.jsonl", binary, 60, 4)
	lone := tinyhead.Document{Source: "incoming/e.jsonl", Item: "1", SourceVersion: "v1", ContentHash: tinyhead.ContentHash("lone"),
		Text: "lone", Embeddings: map[string][]float32{e.emb.ModelID(): make([]float32, dim)}, Labels: map[string]string{"lonely": "rare"}}
	if err := e.store.PutDocuments(t.Context(), []tinyhead.Document{lone}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, task string
		req        training.Request
		kind       error
		message    string
	}{
		{"unknown task", "nosuch", training.Request{}, tinyhead.ErrNotFound, "no labelled documents"},
		{"one class", "single", training.Request{}, tinyhead.ErrUnprocessable, "one class"},
		{"too few rows", "tiny", training.Request{}, tinyhead.ErrUnprocessable, "6 labelled rows"},
		{"a label on one side only", "lonely", training.Request{}, tinyhead.ErrUnprocessable, `label "rare"`},
		{"bad hyperparameter", "spam", training.Request{Config: mlp.Config{Hidden: -1}}, tinyhead.ErrInvalid, "hidden"},
		{"bad task name", "a/b", training.Request{}, tinyhead.ErrInvalid, "slash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.Train(t.Context(), tt.task, tt.req)
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.message) {
				t.Errorf("Train(%s) = %v; want %v mentioning %q", tt.task, err, tt.kind, tt.message)
			}
		})
	}
	t.Run("busy", func(t *testing.T) {
		unlock, err := e.reg.Lock(t.Context(), "spam")
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
		if _, err := e.svc.Train(t.Context(), "spam", training.Request{}); !errors.Is(err, tinyhead.ErrConflict) {
			t.Errorf("Train during another = %v, want a conflict", err)
		}
	})
	t.Run("store down", func(t *testing.T) {
		e.store.Fault = func(op string) error { return tinyhead.Errorf(tinyhead.ErrUnavailable, "database paused") }
		defer func() { e.store.Fault = nil }()
		if _, err := e.svc.Train(t.Context(), "spam", training.Request{}); !errors.Is(err, tinyhead.ErrUnavailable) {
			t.Errorf("Train = %v, want unavailable", err)
		}
		if _, err := e.svc.RetrainChanged(t.Context()); !errors.Is(err, tinyhead.ErrUnavailable) {
			t.Errorf("RetrainChanged = %v, want unavailable", err)
		}
	})
}

// TestFromSQLMatchesInMemory: batches sampled from the store by id train a
// model as good as the in-memory matrix, and are scored on the same rows.
func TestFromSQLMatchesInMemory(t *testing.T) {
	e := newEnv(t)
	e.addRows("topic", "a.jsonl", []string{"a", "b", "c"}, 300, 5)
	mem := e.train("topic", training.Request{})
	sql := e.train("topic", training.Request{FromSQL: true, Force: true})
	if sql.Rows != mem.Rows || sql.Metrics.Accuracy < 0.9 {
		t.Errorf("from SQL: rows %+v (in memory %+v), accuracy %.3f", sql.Rows, mem.Rows, sql.Metrics.Accuracy)
	}
}

// TestRetrainChanged: the nightly run trains what changed or has no model,
// skips the rest, and one failing task does not stop the others.
func TestRetrainChanged(t *testing.T) {
	e := newEnv(t)
	e.addRows("same", "same.jsonl", binary, 100, 1)
	e.addRows("grown", "grown.jsonl", binary, 100, 2)
	e.addRows("broken", "broken.jsonl", binary, 100, 3)
	e.train("same", training.Request{})
	grownV := e.train("grown", training.Request{})
	e.train("broken", training.Request{})
	e.addRows("grown", "grown-more.jsonl", binary, 20, 4)
	e.addRows("fresh", "fresh.jsonl", binary, 100, 5)
	e.addRows("single", "single.jsonl", []string{"x"}, 20, 6)
	// Labels stored before ingest checked task names: never trained.
	for i, bad := range []string{"../escape", "victim/..", "x/../victim", "victim/sub"} {
		e.addRows(bad, fmt.Sprintf("bad%d.jsonl", i), binary, 100, uint64(10+i))
	}
	e.faultOn("Props", "broken/current.json", tinyhead.Errorf(tinyhead.ErrUnavailable, "storage unavailable"))

	results, err := e.svc.RetrainChanged(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"same": "skipped", "grown": "trained", "broken": "failed", "fresh": "trained", "single": "skipped",
		"../escape": "skipped", "victim/..": "skipped", "x/../victim": "skipped", "victim/sub": "skipped"}
	for _, r := range results {
		if strings.Contains(r.Task, "/") && !strings.Contains(r.Why, "not allowed") {
			t.Errorf("%s: %s because %q, want the name refused", r.Task, r.Action, r.Why)
		}
	}
	if len(results) != len(want) {
		t.Fatalf("%d results, want %d: %+v", len(results), len(want), results)
	}
	for _, r := range results {
		if r.Action != want[r.Task] {
			t.Errorf("%s: %s (%s %s), want %s", r.Task, r.Action, r.Why, r.ErrorMsg, want[r.Task])
		}
		if r.Action == "trained" && (r.Outcome == nil || e.current(r.Task) != r.Outcome.Version) {
			t.Errorf("%s: trained but not current", r.Task)
		}
	}
	if e.current("grown") == grownV.Version {
		t.Error("grown: the nightly run did not replace the stale version")
	}
	// A second run finds nothing changed (broken still fails).
	e.blobs.Fault = nil
	results, err = e.svc.RetrainChanged(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Action == "trained" {
			t.Errorf("%s retrained again: %s", r.Task, r.Why)
		}
	}
}

// TestNightlyStopsOnCancel: a canceled context ends the run between tasks.
func TestNightlyStopsOnCancel(t *testing.T) {
	e := newEnv(t)
	e.addRows("a", "a.jsonl", binary, 50, 1)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := e.svc.RetrainChanged(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("RetrainChanged on a canceled context = %v", err)
	}
}

// TestTrainOnAnotherEmbeddingModel: a task trains on the embedding model a
// request names, the version records it, the current version (of the
// default model) is scored on its own vectors of the same validation rows,
// an unconfigured model is refused, and the nightly run retrains the task
// on its current version's model.
func TestTrainOnAnotherEmbeddingModel(t *testing.T) {
	e := newEnv(t)
	other := inmem.NewEmbedder(dim / 2)
	e.svc.Embedders = tinyhead.Embedders{e.emb, other}
	labels := []string{"ham", "spam"}
	x, y := mlptest.Spec{N: 200, Dim: dim, Classes: 2, Noise: 0.4, Seed: 3}.Generate()
	docs := make([]tinyhead.Document, 200)
	for i := range docs {
		text := fmt.Sprint("text ", i)
		docs[i] = tinyhead.Document{Source: "incoming/two.jsonl", Item: fmt.Sprint(i), SourceVersion: "v1", Text: text,
			Embeddings: map[string][]float32{
				e.emb.ModelID(): x[i*dim : (i+1)*dim],
				other.ModelID(): x[i*dim : i*dim+dim/2], // half the dimensions: still separable
			},
			Labels: map[string]string{"spam": labels[y[i]]}}
	}
	if err := e.store.PutDocuments(t.Context(), docs); err != nil {
		t.Fatal(err)
	}
	first := e.train("spam", training.Request{})
	if first.EmbeddingModel != e.emb.ModelID() {
		t.Fatalf("default training used %s, want %s", first.EmbeddingModel, e.emb.ModelID())
	}
	second := e.train("spam", training.Request{EmbeddingModel: other.ModelID(), Force: true})
	if second.EmbeddingModel != other.ModelID() || e.manifest("spam", second.Version).EmbeddingDim != dim/2 {
		t.Fatalf("training on %s recorded %s", other.ModelID(), second.EmbeddingModel)
	}
	if second.Previous == nil || second.Previous.Version != first.Version || second.Previous.Accuracy != first.Metrics.Accuracy {
		t.Errorf("previous = %+v; want %s scored on the same validation rows (accuracy %v)", second.Previous, first.Version, first.Metrics.Accuracy)
	}
	if _, err := e.svc.Train(t.Context(), "spam", training.Request{EmbeddingModel: "nope"}); !errors.Is(err, tinyhead.ErrInvalid) || !strings.Contains(err.Error(), "nope") {
		t.Errorf("training on an unconfigured model: %v, want ErrInvalid naming it", err)
	}
	e.addRows("spam", "more.jsonl", labels, 20, 9) // the default model's vectors only
	res, err := e.svc.RetrainChanged(t.Context())
	if err != nil || len(res) != 1 {
		t.Fatalf("nightly = %+v, %v", res, err)
	}
	if res[0].Action != "skipped" {
		t.Errorf("nightly: %+v; want skipped: the task's model (%s) has no new rows", res[0], other.ModelID())
	}
}
