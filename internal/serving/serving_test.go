package serving_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/docparse"
	"github.com/tinyhead/tinyhead/internal/inmem"
	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/registry"
	"github.com/tinyhead/tinyhead/internal/serving"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

const (
	container = "models"
	dim       = 16
)

var errThrottled = tinyhead.Errorf(tinyhead.ErrUnavailable, "storage request failed (HTTP 503 ServerBusy)")

// fixture is a Service on in-memory storage, with its registry's loads and
// its heads' lives counted.
type fixture struct {
	blobs  *inmem.Blobs
	reg    *registry.Registry
	emb    tinyhead.Embedder
	models *countingModels
	heads  *heads
	svc    *serving.Service
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{blobs: inmem.NewBlobs(container), emb: inmem.NewEmbedder(dim), heads: &heads{t: t}}
	f.reg = &registry.Registry{Blobs: f.blobs, Container: container, Runtime: f.heads.runtime, Log: slog.New(slog.DiscardHandler)}
	f.models = &countingModels{Models: f.reg}
	f.svc = &serving.Service{Models: f.models, Embedders: tinyhead.Embedders{f.emb}, Log: slog.New(slog.DiscardHandler)}
	return f
}

// save stores m as task/version, trained on the fixture's embeddings.
func (f *fixture) save(t *testing.T, task, version string, m *mlp.Model) {
	t.Helper()
	f.saveManifest(t, task, version, m, f.emb.ModelID(), f.emb.Dim())
}

func (f *fixture) saveManifest(t *testing.T, task, version string, m *mlp.Model, embModel string, embDim int) {
	t.Helper()
	man := &registry.Manifest{Task: task, Version: version, CreatedAt: time.Now().UTC(), Labels: m.Labels,
		EmbeddingModel: embModel, EmbeddingDim: embDim, Parameters: m.ParamCount()}
	if err := f.reg.Save(t.Context(), man, m.ONNX().Marshal(), nil); err != nil {
		t.Fatal(err)
	}
}

// promote points task's current.json at version.
func (f *fixture) promote(t *testing.T, task, version string) {
	t.Helper()
	etag, err := f.reg.CurrentETag(t.Context(), task)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.reg.Promote(t.Context(), task, version, "test", etag); err != nil {
		t.Fatal(err)
	}
}

// want is what m predicts for texts on the fixture's embeddings.
func (f *fixture) want(t *testing.T, m *mlp.Model, texts []string) []float32 {
	t.Helper()
	vecs, err := f.emb.Embed(t.Context(), texts)
	if err != nil {
		t.Fatal(err)
	}
	var x []float32
	for _, v := range vecs {
		x = append(x, v...)
	}
	probs := make([]float32, len(texts)*m.Classes)
	m.Predict(x, mlp.Sparse{}, len(texts), probs)
	return probs
}

// check compares a classification with what m predicts.
func (f *fixture) check(t *testing.T, got *serving.Classification, task, version string, m *mlp.Model, texts []string) {
	t.Helper()
	if got.Task != task || got.Version != version {
		t.Fatalf("classified by %s/%s, want %s/%s", got.Task, got.Version, task, version)
	}
	if len(got.Predictions) != len(texts) {
		t.Fatalf("%d predictions for %d texts", len(got.Predictions), len(texts))
	}
	want := f.want(t, m, texts)
	for i, p := range got.Predictions {
		row := want[i*m.Classes : (i+1)*m.Classes]
		if label := m.Labels[mlp.Argmax(row)]; p.Label != label {
			t.Errorf("text %d (%q): label %q, want %q", i, texts[i], p.Label, label)
		}
		if len(p.Probabilities) != m.Classes {
			t.Errorf("text %d: %d probabilities for %d classes", i, len(p.Probabilities), m.Classes)
		}
		for k, l := range m.Labels {
			if g, ok := p.Probabilities[l]; !ok || math.Abs(g-float64(row[k])) > 1e-6 {
				t.Errorf("text %d: P(%s) = %v, want %v", i, l, g, row[k])
			}
		}
	}
}

// testModel is a head with random weights.
func testModel(hidden, classes int, act mlp.Activation, seed uint64) *mlp.Model {
	rng := rand.New(rand.NewPCG(seed, 7))
	fill := func(n int, scale float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(scale * rng.NormFloat64())
		}
		return v
	}
	labels := make([]string, classes)
	for k := range labels {
		labels[k] = fmt.Sprintf("label%d", k)
	}
	return &mlp.Model{Dim: dim, Hidden: hidden, Classes: classes, Activation: act,
		W1: fill(hidden*dim, 3), B1: fill(hidden, 0.1), W2: fill(classes*hidden, 3), B2: fill(classes, 0.1), Labels: labels}
}

var texts = []string{
	"win a free prize now",
	"meeting moved to thursday",
	"cheap pills online",
	"the quarterly report is attached",
	"click here to claim your reward",
	"lunch tomorrow?",
	"  leading and trailing spaces  ",
	"ünïcödé text",
}

func wantKind(t *testing.T, what string, err, kind error) {
	t.Helper()
	if got := tinyhead.KindOf(err); got != kind || err == nil {
		t.Errorf("%s: error %v of kind %v, want kind %v", what, err, got, kind)
	}
}

// countingModels counts the registry calls the Service makes.
type countingModels struct {
	serving.Models
	etags, currents, loads atomic.Int64
}

func (c *countingModels) CurrentETag(ctx context.Context, task string) (string, error) {
	c.etags.Add(1)
	return c.Models.CurrentETag(ctx, task)
}

func (c *countingModels) Current(ctx context.Context, task string) (registry.Current, string, error) {
	c.currents.Add(1)
	return c.Models.Current(ctx, task)
}

func (c *countingModels) LoadHead(ctx context.Context, task, version string) (*registry.Head, error) {
	c.loads.Add(1)
	return c.Models.LoadHead(ctx, task, version)
}

// heads is a registry.Runtime (inmem.Runtime underneath) that tracks the
// heads it loaded: a Predict on a closed head, or a second Close, fails
// the test.
type heads struct {
	t *testing.T
	// predict, if set, runs at the start of every Predict.
	predict func()
	// closeErr is what Close returns.
	closeErr error

	mu     sync.Mutex
	loaded []*trackedHead
}

func (h *heads) runtime(model []byte, dim, classes int) (registry.Predictor, error) {
	p, err := inmem.Runtime(model, dim, classes)
	if err != nil {
		return nil, err
	}
	th := &trackedHead{Predictor: p, heads: h}
	h.mu.Lock()
	h.loaded = append(h.loaded, th)
	h.mu.Unlock()
	return th, nil
}

// counts returns how many heads were loaded and how many closed.
func (h *heads) counts() (loaded, closed int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, th := range h.loaded {
		if th.closes.Load() > 0 {
			closed++
		}
	}
	return len(h.loaded), closed
}

// closedAt reports whether the i-th head loaded is closed.
func (h *heads) closedAt(i int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.loaded[i].closes.Load() > 0
}

type trackedHead struct {
	registry.Predictor
	heads  *heads
	closes atomic.Int64
}

func (th *trackedHead) Predict(x []float32, sk mlp.Sparse, n int) ([]float32, error) {
	if f := th.heads.predict; f != nil {
		f()
	}
	if th.closes.Load() > 0 {
		th.heads.t.Error("Predict on a closed head")
		return nil, errors.New("closed")
	}
	return th.Predictor.Predict(x, sk, n)
}

func (th *trackedHead) Close() error {
	if th.closes.Add(1) > 1 {
		th.heads.t.Error("a head was closed twice")
	}
	return th.heads.closeErr
}

// TestClassify: the Service's predictions are the model's on the
// embedder's vectors, text by text, in order.
func TestClassify(t *testing.T) {
	many := make([]string, serving.MaxTexts)
	for i := range many {
		many[i] = fmt.Sprintf("text number %d about %d", i, i%7)
	}
	for _, tt := range []struct {
		name  string
		model *mlp.Model
		texts []string
	}{
		{"relu, 3 classes", testModel(8, 3, mlp.ReLU, 1), texts},
		{"no activation, 2 classes", testModel(4, 2, mlp.None, 2), texts},
		{"one text, 5 classes", testModel(8, 5, mlp.ReLU, 3), texts[:1]},
		{"MaxTexts texts", testModel(8, 4, mlp.ReLU, 4), many},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.save(t, "spam", "v1", tt.model)
			f.promote(t, "spam", "v1")
			got, err := f.svc.Classify(t.Context(), "spam", tt.texts)
			if err != nil {
				t.Fatal(err)
			}
			f.check(t, got, "spam", "v1", tt.model, tt.texts)
			// Texts in the wrong order would show.
			distinct := map[float64]bool{}
			for _, p := range got.Predictions {
				distinct[p.Probabilities[tt.model.Labels[0]]] = true
			}
			if len(tt.texts) > 1 && len(distinct) < 2 {
				t.Error("every text got the same probabilities: the test cannot tell texts apart")
			}
		})
	}
}

// TestClassifyInvalid: malformed requests are ErrInvalid, and refused
// before storage is read.
func TestClassifyInvalid(t *testing.T) {
	tooMany := make([]string, serving.MaxTexts+1)
	for i := range tooMany {
		tooMany[i] = "text"
	}
	for _, tt := range []struct {
		name  string
		task  string
		texts []string
	}{
		{"no texts", "spam", nil},
		{"empty list", "spam", []string{}},
		{"more than MaxTexts", "spam", tooMany},
		{"an empty text", "spam", []string{"fine", ""}},
		{"a blank text", "spam", []string{" \t\n", "fine"}},
		{"empty task", "", texts},
		{"task with a slash", "spam/v1", texts},
		{"task escaping", "../spam", texts},
		{"task ..", "..", texts},
		{"task with a backslash", `spam\x`, texts},
		{"task with spaces around", " spam", texts},
		{"a text over the byte limit", "spam", []string{"fine", strings.Repeat("x", docparse.DefaultMaxTextBytes+1)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.save(t, "spam", "v1", testModel(4, 2, mlp.ReLU, 1))
			f.promote(t, "spam", "v1")
			got, err := f.svc.Classify(t.Context(), tt.task, tt.texts)
			wantKind(t, "Classify", err, tinyhead.ErrInvalid)
			if got != nil {
				t.Errorf("Classify returned %+v with its error", got)
			}
			if strings.HasPrefix(tt.name, "a text") && !strings.Contains(fmt.Sprint(err), "text 1 ") {
				t.Errorf("the error %q does not name text 1", err)
			}
			if n := f.models.etags.Load() + f.models.currents.Load() + f.models.loads.Load(); n != 0 {
				t.Errorf("%d registry calls for an invalid request", n)
			}
		})
	}
}

// TestClassifyNoModel: a task without a promoted version is ErrNotFound,
// also when it has versions.
func TestClassifyNoModel(t *testing.T) {
	f := newFixture(t)
	f.save(t, "saved", "v1", testModel(4, 2, mlp.ReLU, 1))
	for _, task := range []string{"never-trained", "saved"} {
		_, err := f.svc.Classify(t.Context(), task, texts)
		wantKind(t, task, err, tinyhead.ErrNotFound)
	}
	if n := f.models.loads.Load(); n != 0 {
		t.Errorf("%d loads without a promoted model", n)
	}
}

// TestClassifyOtherEmbeddings: a model trained on another embedding model
// or dimension is ErrUnprocessable, and the head it loaded is released.
func TestClassifyOtherEmbeddings(t *testing.T) {
	for _, tt := range []struct {
		name     string
		embModel func(own string) string
		embDim   int
		model    *mlp.Model
	}{
		{"other model", func(own string) string { return own + "-v2" }, dim, testModel(4, 2, mlp.ReLU, 1)},
		{"other dimension", func(own string) string { return own }, 8, &mlp.Model{Dim: 8, Hidden: 1, Classes: 2,
			Activation: mlp.ReLU, W1: make([]float32, 8), B1: make([]float32, 1), W2: make([]float32, 2), B2: make([]float32, 2),
			Labels: []string{"a", "b"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.saveManifest(t, "spam", "v1", tt.model, tt.embModel(f.emb.ModelID()), tt.embDim)
			f.promote(t, "spam", "v1")
			_, err := f.svc.Classify(t.Context(), "spam", texts)
			wantKind(t, "Classify", err, tinyhead.ErrUnprocessable)

			// Once a good model replaces it, the old head is closed: the
			// failed request released it.
			good := testModel(4, 2, mlp.ReLU, 2)
			f.save(t, "spam", "v2", good)
			f.promote(t, "spam", "v2")
			got, err := f.svc.Classify(t.Context(), "spam", texts)
			if err != nil {
				t.Fatal(err)
			}
			f.check(t, got, "spam", "v2", good, texts)
			if !f.heads.closedAt(0) {
				t.Error("the replaced head of other embeddings was not closed")
			}
		})
	}
}

// TestCache: the current head is loaded once and reused while current.json
// stays; a promotion or a rollback makes the next call serve the version it
// names, and the replaced head is closed.
func TestCache(t *testing.T) {
	ctx := t.Context()
	f := newFixture(t)
	m1, m2 := testModel(8, 3, mlp.ReLU, 1), testModel(8, 3, mlp.ReLU, 2)
	f.save(t, "spam", "v1", m1)
	f.save(t, "spam", "v2", m2)
	f.save(t, "other", "v1", m2)
	f.promote(t, "spam", "v1")
	f.promote(t, "other", "v1")

	steps := []struct {
		name    string
		promote string // the version to promote first, if any
		task    string
		version string // served
		model   *mlp.Model
		loads   int64 // LoadHead calls so far
		closed  int   // heads closed so far
	}{
		{"first call loads", "", "spam", "v1", m1, 1, 0},
		{"second call reuses", "", "spam", "v1", m1, 1, 0},
		{"third call reuses", "", "spam", "v1", m1, 1, 0},
		{"another task has its own head", "", "other", "v1", m2, 2, 0},
		{"promotion", "v2", "spam", "v2", m2, 3, 1},
		{"after the promotion", "", "spam", "v2", m2, 3, 1},
		{"rollback", "v1", "spam", "v1", m1, 4, 2},
		{"the same version promoted again", "v1", "spam", "v1", m1, 5, 3},
		{"the other task kept its head", "", "other", "v1", m2, 5, 3},
	}
	for _, s := range steps {
		if s.promote != "" {
			f.promote(t, s.task, s.promote)
		}
		got, err := f.svc.Classify(ctx, s.task, texts)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		f.check(t, got, s.task, s.version, s.model, texts)
		if n := f.models.loads.Load(); n != s.loads {
			t.Errorf("%s: %d loads, want %d", s.name, n, s.loads)
		}
		if loaded, closed := f.heads.counts(); closed != s.closed || int64(loaded) != s.loads {
			t.Errorf("%s: %d heads loaded, %d closed; want %d, %d", s.name, loaded, closed, s.loads, s.closed)
		}
	}
}

// TestStorageErrors: a storage error keeps its kind, a transient one
// passes, and a failed reload leaves the cache usable.
func TestStorageErrors(t *testing.T) {
	for _, tt := range []struct {
		name     string
		op, blob string
		promote  bool // promote v2 before the failing call (so it reloads)
	}{
		{"current.json properties", "Props", "spam/current.json", false},
		{"current.json properties, after a promotion", "Props", "spam/current.json", true},
		{"current.json content", "OpenETag", "spam/current.json", true},
		{"manifest", "Download", "spam/v2/model.json", true},
		{"model", "Download", "spam/v2/model.onnx", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			f := newFixture(t)
			m1, m2 := testModel(8, 3, mlp.ReLU, 1), testModel(8, 3, mlp.ReLU, 2)
			f.save(t, "spam", "v1", m1)
			f.save(t, "spam", "v2", m2)
			f.promote(t, "spam", "v1")
			if _, err := f.svc.Classify(ctx, "spam", texts); err != nil {
				t.Fatal(err)
			}
			if tt.promote {
				f.promote(t, "spam", "v2")
			}
			failed := 0
			f.blobs.SetFault(func(op, _, name string) error {
				if op == tt.op && name == tt.blob {
					failed++
					return errThrottled
				}
				return nil
			})
			got, err := f.svc.Classify(ctx, "spam", texts)
			if failed == 0 {
				t.Fatalf("Classify did no %s of %s", tt.op, tt.blob)
			}
			wantKind(t, "Classify", err, tinyhead.ErrUnavailable)
			if got != nil {
				t.Errorf("Classify returned %+v with its error", got)
			}
			if _, closed := f.heads.counts(); closed != 0 {
				t.Error("a failed reload closed the cached head")
			}

			f.blobs.SetFault(nil)
			got, err = f.svc.Classify(ctx, "spam", texts)
			if err != nil {
				t.Fatal(err)
			}
			if tt.promote {
				f.check(t, got, "spam", "v2", m2, texts)
			} else {
				f.check(t, got, "spam", "v1", m1, texts)
				if n := f.models.loads.Load(); n != 1 {
					t.Errorf("%d loads; the cached head was not reused", n)
				}
			}
		})
	}
}

// TestBrokenVersion: a promoted version that cannot be loaded fails the
// request (every time, until a good version is promoted).
func TestBrokenVersion(t *testing.T) {
	ctx := t.Context()
	f := newFixture(t)
	good := testModel(8, 3, mlp.ReLU, 1)
	f.save(t, "spam", "v1", good)
	f.promote(t, "spam", "v1")
	if _, err := f.svc.Classify(ctx, "spam", texts); err != nil {
		t.Fatal(err)
	}
	f.save(t, "spam", "v2", good)
	if _, err := f.blobs.UploadBytes(ctx, container, "spam/v2/model.onnx", []byte("garbage"), ""); err != nil {
		t.Fatal(err)
	}
	f.promote(t, "spam", "v2")
	for range 2 {
		got, err := f.svc.Classify(ctx, "spam", texts)
		if err == nil {
			t.Fatalf("Classify with a broken current version served %s", got.Version)
		}
		// The stored model is at fault, not the request: no client kind.
		if k := tinyhead.KindOf(err); k != nil {
			t.Errorf("error %v is of kind %v; want an internal error", err, k)
		}
	}
	f.promote(t, "spam", "v1")
	got, err := f.svc.Classify(ctx, "spam", texts)
	if err != nil {
		t.Fatal(err)
	}
	f.check(t, got, "spam", "v1", good, texts)
}

// failingEmbedder fails every Embed.
type failingEmbedder struct{ tinyhead.Embedder }

var errEmbed = errors.New("embedder failed")

func (failingEmbedder) Embed(context.Context, []string) ([][]float32, error) { return nil, errEmbed }

// TestRequestFailuresReleaseTheHead: a request that fails after it took
// the head (embedding or prediction) still releases it, so that a
// promotion closes it.
func TestRequestFailuresReleaseTheHead(t *testing.T) {
	errPredict := errors.New("predict failed")
	for _, tt := range []struct {
		name  string
		setup func(f *fixture)
		want  error
	}{
		{"embedding fails", func(f *fixture) { f.svc.Embedders = tinyhead.Embedders{failingEmbedder{f.emb}} }, errEmbed},
		{"prediction fails", func(f *fixture) {
			f.reg.Runtime = func(model []byte, dim, classes int) (registry.Predictor, error) {
				p, err := f.heads.runtime(model, dim, classes)
				return failingPredictor{p, errPredict}, err
			}
		}, errPredict},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			f := newFixture(t)
			good := testModel(8, 3, mlp.ReLU, 1)
			f.save(t, "spam", "v1", good)
			f.save(t, "spam", "v2", good)
			f.promote(t, "spam", "v1")
			tt.setup(f)
			if _, err := f.svc.Classify(ctx, "spam", texts); !errors.Is(err, tt.want) {
				t.Fatalf("Classify: %v, want %v", err, tt.want)
			}
			f.svc.Embedders = tinyhead.Embedders{f.emb}
			f.reg.Runtime = f.heads.runtime
			f.promote(t, "spam", "v2")
			got, err := f.svc.Classify(ctx, "spam", texts)
			if err != nil {
				t.Fatal(err)
			}
			f.check(t, got, "spam", "v2", good, texts)
			if !f.heads.closedAt(0) {
				t.Error("the head of the failed request was not closed when replaced")
			}
		})
	}
}

type failingPredictor struct {
	registry.Predictor
	err error
}

func (p failingPredictor) Predict([]float32, mlp.Sparse, int) ([]float32, error) { return nil, p.err }

// TestReplacedHeadClosedAfterLastUser: a head replaced while a request
// uses it is closed when that request ends, not before.
func TestReplacedHeadClosedAfterLastUser(t *testing.T) {
	ctx := t.Context()
	f := newFixture(t)
	m1, m2 := testModel(8, 3, mlp.ReLU, 1), testModel(8, 3, mlp.ReLU, 2)
	f.save(t, "spam", "v1", m1)
	f.save(t, "spam", "v2", m2)
	f.promote(t, "spam", "v1")

	entered := make(chan struct{})
	proceed := make(chan struct{})
	var block atomic.Bool
	block.Store(true)
	f.heads.predict = func() {
		if block.CompareAndSwap(true, false) {
			close(entered)
			<-proceed
		}
	}
	type result struct {
		c   *serving.Classification
		err error
	}
	slow := make(chan result)
	go func() {
		c, err := f.svc.Classify(ctx, "spam", texts)
		slow <- result{c, err}
	}()
	<-entered // the slow request holds v1's head

	f.promote(t, "spam", "v2")
	got, err := f.svc.Classify(ctx, "spam", texts)
	if err != nil {
		t.Fatal(err)
	}
	f.check(t, got, "spam", "v2", m2, texts)
	if f.heads.closedAt(0) {
		t.Fatal("v1's head was closed while a request used it")
	}

	close(proceed)
	r := <-slow
	if r.err != nil {
		t.Fatal(r.err)
	}
	f.check(t, r.c, "spam", "v1", m1, texts)
	if !f.heads.closedAt(0) {
		t.Error("v1's head was not closed after its last user")
	}
	if f.heads.closedAt(1) {
		t.Error("the current head was closed")
	}
}

// TestConcurrentPromotions: requests racing with promotions each get a
// whole answer of one version, no head is used after it is closed, and
// every head but the cached one is closed exactly once. Run with -race.
func TestConcurrentPromotions(t *testing.T) {
	ctx := t.Context()
	f := newFixture(t)
	models := map[string]*mlp.Model{"v1": testModel(8, 3, mlp.ReLU, 1), "v2": testModel(8, 3, mlp.ReLU, 2)}
	for v, m := range models {
		f.save(t, "spam", v, m)
	}
	f.promote(t, "spam", "v1")
	want := map[string][]float32{}
	for v, m := range models {
		want[v] = f.want(t, m, texts)
	}

	const workers, calls, promotions = 4, 30, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*calls)
	for range workers {
		wg.Go(func() {
			for range calls {
				c, err := f.svc.Classify(ctx, "spam", texts)
				if err != nil {
					errs <- err
					continue
				}
				w, ok := want[c.Version]
				if !ok {
					errs <- fmt.Errorf("served version %q", c.Version)
					continue
				}
				for i, p := range c.Predictions {
					for k, l := range models[c.Version].Labels {
						if math.Abs(p.Probabilities[l]-float64(w[i*3+k])) > 1e-6 {
							errs <- fmt.Errorf("text %d: P(%s) = %v mixes versions (%s: %v)", i, l, p.Probabilities[l], c.Version, w[i*3+k])
						}
					}
				}
			}
		})
	}
	for i := range promotions {
		f.promote(t, "spam", []string{"v2", "v1"}[i%2])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// Once all is quiet, the current version is served and the cache
	// holds one open head.
	got, err := f.svc.Classify(ctx, "spam", texts)
	if err != nil {
		t.Fatal(err)
	}
	f.check(t, got, "spam", "v1", models["v1"], texts) // promotions is even
	loaded, closed := f.heads.counts()
	if closed != loaded-1 {
		t.Errorf("%d heads loaded, %d closed; want all but the cached one closed", loaded, closed)
	}
}

// TestCloseErrorLogged: a replaced head that fails to close is logged, to
// slog's default logger when the Service has none.
func TestCloseErrorLogged(t *testing.T) {
	var log bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&log, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })

	ctx := t.Context()
	f := newFixture(t)
	f.svc.Log = nil
	f.heads.closeErr = errors.New("close failed")
	m := testModel(8, 3, mlp.ReLU, 1)
	f.save(t, "spam", "v1", m)
	f.save(t, "spam", "v2", m)
	f.promote(t, "spam", "v1")
	if _, err := f.svc.Classify(ctx, "spam", texts); err != nil {
		t.Fatal(err)
	}
	f.promote(t, "spam", "v2")
	if _, err := f.svc.Classify(ctx, "spam", texts); err != nil {
		t.Fatal(err)
	}
	if s := log.String(); !strings.Contains(s, "closing a replaced model failed") || !strings.Contains(s, "v1") {
		t.Errorf("the failed close was not logged:\n%s", s)
	}
}

// TestClassifyThreshold: a binary version's threshold decides the label
// (by the manifest's rule), not the most probable class; the
// probabilities are the graph's, unchanged.
func TestClassifyThreshold(t *testing.T) {
	m := testModel(4, 2, mlp.ReLU, 7)
	texts := []string{"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu"}
	f := newFixture(t)
	probs := f.want(t, m, texts)
	// Thresholds on the first label that flip the text where it is least
	// probable to it (a low one), and the one where it is most probable
	// away from it (a high one).
	p0 := make([]float64, len(texts))
	for i := range texts {
		p0[i] = float64(probs[2*i])
	}
	lo, hi := slices.Min(p0), slices.Max(p0)
	for _, tc := range []struct {
		name      string
		threshold float64
	}{{"low", lo}, {"high", hi + 1e-6}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			man := &registry.Manifest{Task: "spam", Version: "v1", CreatedAt: time.Now().UTC(), Labels: m.Labels,
				EmbeddingModel: f.emb.ModelID(), EmbeddingDim: f.emb.Dim(), Parameters: m.ParamCount(),
				Threshold: &registry.Threshold{Label: m.Labels[0], Value: tc.threshold}}
			if err := f.reg.Save(t.Context(), man, m.ONNX().Marshal(), nil); err != nil {
				t.Fatal(err)
			}
			f.promote(t, "spam", "v1")
			got, err := f.svc.Classify(t.Context(), "spam", texts)
			if err != nil {
				t.Fatal(err)
			}
			flipped := 0
			for i, p := range got.Predictions {
				want := m.Labels[1]
				if p0[i] >= tc.threshold {
					want = m.Labels[0]
				}
				if p.Label != want || math.Abs(p.Probabilities[m.Labels[0]]-p0[i]) > 1e-6 {
					t.Errorf("text %d: %s with P(%s) = %v; want %s at threshold %v (P %v)", i, p.Label, m.Labels[0],
						p.Probabilities[m.Labels[0]], want, tc.threshold, p0[i])
				}
				if want != m.Labels[mlp.Argmax(probs[2*i:2*i+2])] {
					flipped++
				}
			}
			if flipped == 0 {
				t.Errorf("threshold %v: no text's label differs from its most probable class; the test shows nothing", tc.threshold)
			}
		})
	}
}

// TestClassifyVersion: a version that is not promoted serves when asked
// for by name, without changing what the task serves; an unknown version
// is ErrNotFound and a name that is no version ErrInvalid.
func TestClassifyVersion(t *testing.T) {
	f := newFixture(t)
	v1, v2 := testModel(8, 3, mlp.ReLU, 1), testModel(8, 3, mlp.ReLU, 2)
	f.save(t, "spam", "v1", v1)
	f.save(t, "spam", "v2", v2)
	f.promote(t, "spam", "v1")
	texts := []string{"one text", "another", "a third"}
	got, err := f.svc.ClassifyVersion(t.Context(), "spam", "v2", texts)
	if err != nil {
		t.Fatal(err)
	}
	f.check(t, got, "spam", "v2", v2, texts)
	got, err = f.svc.Classify(t.Context(), "spam", texts)
	if err != nil {
		t.Fatal(err)
	}
	f.check(t, got, "spam", "v1", v1, texts)
	if loaded, closed := f.heads.counts(); loaded != 2 || closed != 1 {
		t.Errorf("%d heads loaded, %d closed; want the named version's closed after its request, the current one cached", loaded, closed)
	}
	for _, tc := range []struct {
		version string
		kind    error
	}{
		{"v9", tinyhead.ErrNotFound},
		{"../v1", tinyhead.ErrInvalid},
		{"..", tinyhead.ErrInvalid},
	} {
		_, err := f.svc.ClassifyVersion(t.Context(), "spam", tc.version, texts)
		wantKind(t, "version "+tc.version, err, tc.kind)
	}
}

// TestServesWithTheVersionsEmbeddingModel: among several configured
// embedding models, a version is served with the one it was trained on
// (here not the default, which fails if used); without it, 422 names it.
func TestServesWithTheVersionsEmbeddingModel(t *testing.T) {
	f := newFixture(t)
	f.svc.Embedders = tinyhead.Embedders{failingEmbedder{inmem.NewEmbedder(dim + 1)}, f.emb}
	m := testModel(4, 2, mlp.ReLU, 1)
	f.save(t, "spam", "v1", m)
	f.promote(t, "spam", "v1")
	got, err := f.svc.Classify(t.Context(), "spam", texts)
	if err != nil {
		t.Fatal(err)
	}
	f.check(t, got, "spam", "v1", m, texts)

	f.svc.Embedders = tinyhead.Embedders{inmem.NewEmbedder(dim + 1)}
	_, err = f.svc.Classify(t.Context(), "spam", texts)
	wantKind(t, "a version of an unconfigured model", err, tinyhead.ErrUnprocessable)
	if err == nil || !strings.Contains(err.Error(), f.emb.ModelID()) {
		t.Errorf("error %v does not name %s", err, f.emb.ModelID())
	}
}
