package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/inmem"
	"github.com/tinyhead/tinyhead/internal/logbuf"
	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/registry"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

const container = "models"

// errThrottled is a transient storage error, as the blob client reports a
// 503 from the service.
var errThrottled = tinyhead.Errorf(tinyhead.ErrUnavailable, "storage request failed (HTTP 503 ServerBusy)")

func newRegistry(t *testing.T) (*registry.Registry, *inmem.Blobs) {
	t.Helper()
	b := inmem.NewBlobs(container)
	return &registry.Registry{Blobs: b, Container: container, Runtime: inmem.Runtime, Log: slog.New(slog.DiscardHandler)}, b
}

// testModel is a head with random weights: every weight matters to its
// predictions, so a head that was stored or loaded wrong predicts
// differently.
func testModel(dim, hidden, classes int, act mlp.Activation, seed uint64) *mlp.Model {
	rng := rand.New(rand.NewPCG(seed, 7))
	fill := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	labels := make([]string, classes)
	for k := range labels {
		labels[k] = fmt.Sprintf("class%d", k)
	}
	return &mlp.Model{Dim: dim, Hidden: hidden, Classes: classes, Activation: act,
		W1: fill(hidden * dim), B1: fill(hidden), W2: fill(classes * hidden), B2: fill(classes), Labels: labels}
}

// manifestOf is a complete manifest of m as task/version.
func manifestOf(task, version string, m *mlp.Model) *registry.Manifest {
	return &registry.Manifest{
		Task: task, Version: version,
		CreatedAt:      time.Date(2025, 3, 4, 5, 6, 7, 8_000_000, time.UTC),
		Labels:         m.Labels,
		EmbeddingModel: "test-embedder",
		EmbeddingDim:   m.Dim,
		Parameters:     m.ParamCount(),
		Hyperparams:    json.RawMessage(`{"hidden":` + fmt.Sprint(m.Hidden) + `}`),
		Metrics:        json.RawMessage(`{"accuracy":0.75}`),
		Rows:           registry.Rows{Train: 80, Validation: 20},
		Data:           registry.DataVersion{Rows: 100, LastChange: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)},
		Timings:        registry.Timings{Load: 0.5, Train: 1.5, Total: 2},
	}
}

// save stores m as task/version and returns its manifest.
func save(t *testing.T, reg *registry.Registry, task, version string, m *mlp.Model) *registry.Manifest {
	t.Helper()
	man := manifestOf(task, version, m)
	if err := reg.Save(t.Context(), man, m.ONNX().Marshal(), []byte("png of "+version)); err != nil {
		t.Fatalf("Save %s/%s: %v", task, version, err)
	}
	return man
}

func put(t *testing.T, b *inmem.Blobs, name string, data []byte) {
	t.Helper()
	if _, err := b.UploadBytes(t.Context(), container, name, data, ""); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, b *inmem.Blobs, name string) []byte {
	t.Helper()
	data, err := b.Download(t.Context(), container, name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// blobNames lists every blob in the container.
func blobNames(t *testing.T, b *inmem.Blobs) []string {
	t.Helper()
	var names []string
	if err := b.List(t.Context(), container, "", func(it blobstore.Item) error {
		names = append(names, it.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return names
}

func wantKind(t *testing.T, what string, err, kind error) {
	t.Helper()
	if got := tinyhead.KindOf(err); got != kind || err == nil {
		t.Errorf("%s: error %v of kind %v, want kind %v", what, err, got, kind)
	}
}

// sameJSON compares two values by their JSON encoding (json.RawMessage
// fields are re-indented when written, so they differ as bytes).
func sameJSON(t *testing.T, got, want any) bool {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(g, w)
}

func randomRows(n, dim int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 11))
	x := make([]float32, n*dim)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// TestRoundTrip: what Save writes, Manifest, Versions and LoadHead read
// back, and the loaded head predicts what the model does.
func TestRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name                 string
		dim, hidden, classes int
		act                  mlp.Activation
	}{
		{"relu, 3 classes", 8, 5, 3, mlp.ReLU},
		{"no activation, 2 classes", 6, 4, 2, mlp.None},
		{"one hidden unit, 7 classes", 16, 1, 7, mlp.ReLU},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			reg, b := newRegistry(t)
			m := testModel(tt.dim, tt.hidden, tt.classes, tt.act, 1)
			other := testModel(tt.dim, tt.hidden, tt.classes, tt.act, 2)
			v1 := registry.NewVersion(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
			v2 := registry.NewVersion(time.Date(2025, 1, 2, 3, 4, 5, 1_000_000, time.UTC))
			// Saved newest first: Versions sorts them.
			want := save(t, reg, "spam", v2, m)
			save(t, reg, "spam", v1, other)
			save(t, reg, "spam-other", v1, other) // shares the prefix "spam"

			if want.Files.ONNX != "spam/"+v2+"/model.onnx" || want.Files.Report != "spam/"+v2+"/report.png" {
				t.Errorf("Save set Files %+v", want.Files)
			}
			if got := get(t, b, want.Files.ONNX); !bytes.Equal(got, m.ONNX().Marshal()) {
				t.Error("model.onnx is not the bytes saved")
			}
			if got := string(get(t, b, want.Files.Report)); got != "png of "+v2 {
				t.Errorf("report.png is %q", got)
			}

			man, err := reg.Manifest(ctx, "spam", v2)
			if err != nil {
				t.Fatal(err)
			}
			if !sameJSON(t, man, want) {
				t.Errorf("Manifest = %+v, want %+v", man, want)
			}

			versions, err := reg.Versions(ctx, "spam")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(versions, []string{v1, v2}) {
				t.Errorf("Versions = %q, want %q", versions, []string{v1, v2})
			}

			h, err := reg.LoadHead(ctx, "spam", v2)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			if h.Version != v2 || !sameJSON(t, h.Manifest, want) {
				t.Errorf("LoadHead = version %s, manifest %+v", h.Version, h.Manifest)
			}
			const n = 9
			x := randomRows(n, tt.dim, 3)
			got, err := h.Predict(x, mlp.Sparse{}, n)
			if err != nil {
				t.Fatal(err)
			}
			wantP := make([]float32, n*tt.classes)
			m.Predict(x, mlp.Sparse{}, n, wantP)
			otherP := make([]float32, n*tt.classes)
			other.Predict(x, mlp.Sparse{}, n, otherP)
			if len(got) != len(wantP) {
				t.Fatalf("Predict gave %d values, want %d", len(got), len(wantP))
			}
			for i := range got {
				if math.Abs(float64(got[i]-wantP[i])) > 1e-6 {
					t.Fatalf("Predict[%d] = %v, the model predicts %v", i, got[i], wantP[i])
				}
			}
			if slices.Equal(wantP, otherP) {
				t.Fatal("the two test models predict alike; the test cannot tell versions apart")
			}
		})
	}
}

// TestVersionsIgnoresOtherBlobs: only {task}/{version}/model.json makes a
// version; incomplete versions, pointers, locks, deeper folders and other
// tasks do not.
func TestVersionsIgnoresOtherBlobs(t *testing.T) {
	reg, b := newRegistry(t)
	m := testModel(4, 2, 2, mlp.ReLU, 1)
	save(t, reg, "a", "v2", m)
	save(t, reg, "a", "v1", m)
	for _, name := range []string{
		"a/v3/model.onnx", // no manifest yet: a Save in progress or failed
		"a/current.json",
		"a/.lock",
		"a/v1/sub/model.json",
		"a/model.json",
		"ab/v9/model.json",
		"b/a/v8/model.json",
	} {
		put(t, b, name, []byte("{}"))
	}
	got, err := reg.Versions(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"v1", "v2"}; !slices.Equal(got, want) {
		t.Errorf("Versions = %q, want %q", got, want)
	}
	got, err = reg.Versions(t.Context(), "none")
	if err != nil || len(got) != 0 {
		t.Errorf("Versions of a task without any = %q, %v", got, err)
	}
}

// TestNewVersion: versions are one path segment, in UTC, with
// milliseconds, and sort as the times they name.
func TestNewVersion(t *testing.T) {
	east := time.FixedZone("UTC+5", 5*3600)
	for _, tt := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), "20250102T030405.000Z"},
		{time.Date(2025, 1, 2, 3, 4, 5, 678_999_999, time.UTC), "20250102T030405.678Z"},
		{time.Date(2025, 1, 2, 8, 4, 5, 0, east), "20250102T030405.000Z"},
		{time.Date(1999, 12, 31, 23, 59, 59, 999_000_000, time.UTC), "19991231T235959.999Z"},
	} {
		if got := registry.NewVersion(tt.t); got != tt.want {
			t.Errorf("NewVersion(%v) = %s, want %s", tt.t, got, tt.want)
		}
	}

	times := []time.Time{
		time.Date(2024, 12, 31, 23, 59, 59, 999_000_000, time.UTC),
		time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 1, 1, 0, 0, 0, 1_000_000, time.UTC),
		time.Date(2025, 1, 1, 0, 0, 1, 0, time.UTC),
		time.Date(2025, 1, 1, 6, 0, 0, 0, east), // 01:00 UTC
		time.Date(2025, 1, 1, 2, 0, 0, 0, time.UTC),
		time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 10, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	var versions []string
	for _, tm := range times {
		versions = append(versions, registry.NewVersion(tm))
	}
	if !slices.IsSorted(versions) {
		t.Errorf("versions of increasing times do not sort in order: %q", versions)
	}

	// A new version is a valid version name.
	reg, _ := newRegistry(t)
	save(t, reg, "a", registry.NewVersion(time.Now()), testModel(4, 2, 2, mlp.ReLU, 1))
}

// TestNameChecks: a task or version that is not one safe path segment is
// refused with tinyhead.ErrInvalid before storage is touched.
func TestNameChecks(t *testing.T) {
	badTasks := []string{
		"../escape", "victim/..", "x/../victim", "victim/sub", "", ".", "..",
		`victim\sub`, `..\escape`, " victim", "victim ", "vic\ntim", "\xff",
		strings.Repeat("t", tinyhead.MaxTaskName+1),
	}
	badVersions := []string{
		"", "v1/model.json", "..", ".", "../v1", "v1/..", `v1\x`, "/", strings.Repeat("v", 65),
	}
	m := testModel(4, 2, 2, mlp.ReLU, 1)

	type call struct {
		method string
		do     func(ctx context.Context, reg *registry.Registry) error
	}
	withVersion := func(task, version string) []call {
		return []call{
			{"Save", func(ctx context.Context, reg *registry.Registry) error {
				return reg.Save(ctx, manifestOf(task, version, m), m.ONNX().Marshal(), nil)
			}},
			{"Manifest", func(ctx context.Context, reg *registry.Registry) error {
				_, err := reg.Manifest(ctx, task, version)
				return err
			}},
			{"LoadHead", func(ctx context.Context, reg *registry.Registry) error {
				_, err := reg.LoadHead(ctx, task, version)
				return err
			}},
			{"Promote", func(ctx context.Context, reg *registry.Registry) error {
				return reg.Promote(ctx, task, version, "test", "")
			}},
		}
	}
	taskOnly := func(task string) []call {
		return []call{
			{"Current", func(ctx context.Context, reg *registry.Registry) error {
				_, _, err := reg.Current(ctx, task)
				return err
			}},
			{"CurrentETag", func(ctx context.Context, reg *registry.Registry) error {
				_, err := reg.CurrentETag(ctx, task)
				return err
			}},
			{"Versions", func(ctx context.Context, reg *registry.Registry) error {
				_, err := reg.Versions(ctx, task)
				return err
			}},
			{"Lock", func(ctx context.Context, reg *registry.Registry) error {
				unlock, err := reg.Lock(ctx, task)
				if err == nil {
					unlock()
				}
				return err
			}},
		}
	}

	type tc struct {
		name  string
		calls []call
	}
	var cases []tc
	for _, task := range badTasks {
		cases = append(cases, tc{fmt.Sprintf("task %q", task), append(withVersion(task, "v1"), taskOnly(task)...)})
	}
	for _, version := range badVersions {
		cases = append(cases, tc{fmt.Sprintf("version %q", version), withVersion("victim", version)})
	}
	for _, c := range cases {
		for _, call := range c.calls {
			t.Run(c.name+"/"+call.method, func(t *testing.T) {
				reg, b := newRegistry(t)
				var ops []string
				b.Fault = func(op, _, name string) error {
					ops = append(ops, op+" "+name)
					return nil
				}
				wantKind(t, call.method, call.do(t.Context(), reg), tinyhead.ErrInvalid)
				if len(ops) > 0 {
					t.Errorf("storage was used: %q", ops)
				}
				b.Fault = nil
				if names := blobNames(t, b); len(names) > 0 {
					t.Errorf("blobs were written: %q", names)
				}
			})
		}
	}
}

// TestManifestErrors: a missing manifest is ErrNotFound; one that does not
// parse or names another task or version is ErrInvalid.
func TestManifestErrors(t *testing.T) {
	m := testModel(4, 2, 2, mlp.ReLU, 1)
	for _, tt := range []struct {
		name  string
		setup func(t *testing.T, b *inmem.Blobs)
		kind  error
	}{
		{"no such version", func(*testing.T, *inmem.Blobs) {}, tinyhead.ErrNotFound},
		{"only the model of the version", func(t *testing.T, b *inmem.Blobs) {
			put(t, b, "a/v1/model.onnx", m.ONNX().Marshal())
		}, tinyhead.ErrNotFound},
		{"garbage", func(t *testing.T, b *inmem.Blobs) {
			put(t, b, "a/v1/model.json", []byte("not json {"))
		}, tinyhead.ErrInvalid},
		{"empty", func(t *testing.T, b *inmem.Blobs) {
			put(t, b, "a/v1/model.json", nil)
		}, tinyhead.ErrInvalid},
		{"wrong types", func(t *testing.T, b *inmem.Blobs) {
			put(t, b, "a/v1/model.json", []byte(`{"task":"a","version":"v1","labels":"x"}`))
		}, tinyhead.ErrInvalid},
		{"another task's manifest", func(t *testing.T, b *inmem.Blobs) {
			put(t, b, "a/v1/model.json", get(t, b, "b/v1/model.json"))
		}, tinyhead.ErrInvalid},
		{"another version's manifest", func(t *testing.T, b *inmem.Blobs) {
			put(t, b, "a/v1/model.json", get(t, b, "a/v0/model.json"))
		}, tinyhead.ErrInvalid},
		{"no names", func(t *testing.T, b *inmem.Blobs) {
			put(t, b, "a/v1/model.json", []byte(`{}`))
		}, tinyhead.ErrInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reg, b := newRegistry(t)
			save(t, reg, "b", "v1", m)
			save(t, reg, "a", "v0", m)
			tt.setup(t, b)
			man, err := reg.Manifest(t.Context(), "a", "v1")
			wantKind(t, "Manifest", err, tt.kind)
			if man != nil {
				t.Errorf("Manifest returned %+v with its error", man)
			}
			_, err = reg.LoadHead(t.Context(), "a", "v1")
			wantKind(t, "LoadHead", err, tt.kind)
			err = reg.Promote(t.Context(), "a", "v1", "test", "")
			wantKind(t, "Promote", err, tt.kind)
			if etag, err := reg.CurrentETag(t.Context(), "a"); etag != "" || err != nil {
				t.Errorf("Promote wrote current.json (ETag %q, %v)", etag, err)
			}
		})
	}
}

// TestLoadHeadErrors: a version whose graph is missing is ErrNotFound;
// one whose graph cannot be loaded is ErrInvalid; a registry without a
// Runtime is an internal error.
func TestLoadHeadErrors(t *testing.T) {
	m := testModel(4, 2, 3, mlp.ReLU, 1)
	for _, tt := range []struct {
		name  string
		setup func(t *testing.T, reg *registry.Registry, b *inmem.Blobs)
		kind  error
	}{
		{"model.onnx missing", func(t *testing.T, _ *registry.Registry, b *inmem.Blobs) {
			if err := b.Delete(t.Context(), container, "a/v1/model.onnx"); err != nil {
				t.Fatal(err)
			}
		}, tinyhead.ErrNotFound},
		{"model.onnx garbage", func(t *testing.T, _ *registry.Registry, b *inmem.Blobs) {
			put(t, b, "a/v1/model.onnx", []byte("not a protobuf \xff\xff\xff"))
		}, tinyhead.ErrInvalid},
		{"model.onnx empty", func(t *testing.T, _ *registry.Registry, b *inmem.Blobs) {
			put(t, b, "a/v1/model.onnx", nil)
		}, tinyhead.ErrInvalid},
		{"model.onnx of other dimensions", func(t *testing.T, _ *registry.Registry, b *inmem.Blobs) {
			put(t, b, "a/v1/model.onnx", testModel(8, 2, 3, mlp.ReLU, 1).ONNX().Marshal())
		}, tinyhead.ErrInvalid},
		{"model.onnx of fewer classes than labels", func(t *testing.T, _ *registry.Registry, b *inmem.Blobs) {
			put(t, b, "a/v1/model.onnx", testModel(4, 2, 2, mlp.ReLU, 1).ONNX().Marshal())
		}, tinyhead.ErrInvalid},
		{"no Runtime", func(_ *testing.T, reg *registry.Registry, _ *inmem.Blobs) {
			reg.Runtime = nil
		}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reg, b := newRegistry(t)
			save(t, reg, "a", "v1", m)
			tt.setup(t, reg, b)
			h, err := reg.LoadHead(t.Context(), "a", "v1")
			if err == nil || h != nil {
				t.Fatalf("LoadHead = %v, %v; want an error", h, err)
			}
			if got := tinyhead.KindOf(err); got != tt.kind {
				t.Errorf("LoadHead: error %v of kind %v, want kind %v", err, got, tt.kind)
			}
		})
	}
}

// TestRuntimeOf: a constructor's error comes back with a nil Predictor,
// not a typed nil that compares unequal to nil.
func TestRuntimeOf(t *testing.T) {
	boom := errors.New("boom")
	rt := registry.RuntimeOf(func(model []byte, dim, classes int) (*fixedPredictor, error) {
		if string(model) == "bad" {
			return nil, boom
		}
		return &fixedPredictor{dim: dim, classes: classes}, nil
	})
	p, err := rt([]byte("bad"), 4, 2)
	if !errors.Is(err, boom) || p != nil {
		t.Errorf("failed load = %#v, %v; want nil, boom", p, err)
	}
	p, err = rt([]byte("good"), 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	if fp, ok := p.(*fixedPredictor); !ok || fp.dim != 4 || fp.classes != 2 {
		t.Errorf("loaded %#v", p)
	}
}

type fixedPredictor struct{ dim, classes int }

func (p *fixedPredictor) Predict(x []float32, _ mlp.Sparse, n int) ([]float32, error) {
	return make([]float32, n*p.classes), nil
}
func (p *fixedPredictor) Close() error { return nil }

// TestTransientErrorsKeepKind: a storage error that may pass stays
// tinyhead.ErrUnavailable through every method, so that no caller takes
// it for a missing or broken model (and replaces it).
func TestTransientErrorsKeepKind(t *testing.T) {
	type method func(ctx context.Context, reg *registry.Registry) error
	manifest := func(ctx context.Context, reg *registry.Registry) error {
		_, err := reg.Manifest(ctx, "a", "v1")
		return err
	}
	loadHead := func(ctx context.Context, reg *registry.Registry) error {
		_, err := reg.LoadHead(ctx, "a", "v1")
		return err
	}
	current := func(ctx context.Context, reg *registry.Registry) error {
		_, _, err := reg.Current(ctx, "a")
		return err
	}
	currentETag := func(ctx context.Context, reg *registry.Registry) error {
		_, err := reg.CurrentETag(ctx, "a")
		return err
	}
	promote := func(ctx context.Context, reg *registry.Registry) error {
		return reg.Promote(ctx, "a", "v2", "test", "")
	}
	versions := func(ctx context.Context, reg *registry.Registry) error {
		_, err := reg.Versions(ctx, "a")
		return err
	}
	lock := func(ctx context.Context, reg *registry.Registry) error {
		unlock, err := reg.Lock(ctx, "a")
		if err == nil {
			unlock()
		}
		return err
	}
	saveV3 := func(ctx context.Context, reg *registry.Registry) error {
		m := testModel(4, 2, 2, mlp.ReLU, 1)
		return reg.Save(ctx, manifestOf("a", "v3", m), m.ONNX().Marshal(), nil)
	}
	for _, tt := range []struct {
		name     string
		op, blob string // the failing operation, and the blob's name suffix
		do       method
	}{
		{"Manifest", "Download", "/model.json", manifest},
		{"LoadHead manifest", "Download", "/model.json", loadHead},
		{"LoadHead model", "Download", "/model.onnx", loadHead},
		{"Current props", "Props", "/current.json", current},
		{"Current open", "OpenETag", "/current.json", current},
		{"Current read", "Read", "/current.json", current},
		{"CurrentETag", "Props", "/current.json", currentETag},
		{"Promote manifest", "Download", "/model.json", promote},
		{"Promote write", "UploadIf", "/current.json", promote},
		{"Versions", "List", "a/", versions},
		{"Lock", "AcquireLease", "/.lock", lock},
		{"Save model", "UploadBytes", "/model.onnx", saveV3},
		{"Save report", "UploadBytes", "/report.png", saveV3},
		{"Save manifest", "UploadBytes", "/model.json", saveV3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reg, b := newRegistry(t)
			m := testModel(4, 2, 2, mlp.ReLU, 1)
			save(t, reg, "a", "v1", m)
			save(t, reg, "a", "v2", m)
			if err := reg.Promote(t.Context(), "a", "v1", "first", ""); err != nil {
				t.Fatal(err)
			}
			etag, err := reg.CurrentETag(t.Context(), "a")
			if err != nil {
				t.Fatal(err)
			}
			failed := 0
			b.Fault = func(op, _, name string) error {
				if op == tt.op && strings.HasSuffix(name, tt.blob) {
					failed++
					return errThrottled
				}
				return nil
			}
			err = tt.do(t.Context(), reg)
			if failed == 0 {
				t.Fatalf("%s never did %s on *%s", tt.name, tt.op, tt.blob)
			}
			wantKind(t, tt.name, err, tinyhead.ErrUnavailable)
			b.Fault = nil
			if after, err := reg.CurrentETag(t.Context(), "a"); after != etag || err != nil {
				t.Errorf("current.json changed: ETag %s → %s (%v)", etag, after, err)
			}
			if versions, err := reg.Versions(t.Context(), "a"); err != nil || !slices.Equal(versions, []string{"v1", "v2"}) {
				t.Errorf("versions after the failure: %q, %v", versions, err)
			}
		})
	}
}

// TestCurrent: the promoted version and current.json's ETag; a missing
// pointer is ErrNotFound, an unreadable one ErrInvalid with its ETag, so
// that it can be replaced.
func TestCurrent(t *testing.T) {
	ctx := t.Context()
	reg, b := newRegistry(t)
	m := testModel(4, 2, 2, mlp.ReLU, 1)
	save(t, reg, "a", "v1", m)

	cur, etag, err := reg.Current(ctx, "a")
	wantKind(t, "Current with none", err, tinyhead.ErrNotFound)
	if etag != "" || cur != (registry.Current{}) {
		t.Errorf("Current with none = %+v, %q", cur, etag)
	}
	if etag, err := reg.CurrentETag(ctx, "a"); etag != "" || err != nil {
		t.Errorf("CurrentETag with none = %q, %v; want \"\", nil", etag, err)
	}

	before := time.Now().UTC()
	if err := reg.Promote(ctx, "a", "v1", "first model", ""); err != nil {
		t.Fatal(err)
	}
	after := time.Now().UTC()
	cur, etag, err = reg.Current(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if cur.Task != "a" || cur.Version != "v1" || cur.Reason != "first model" ||
		cur.PromotedAt.Before(before.Truncate(time.Second)) || cur.PromotedAt.After(after) {
		t.Errorf("Current = %+v (promoted between %v and %v)", cur, before, after)
	}
	props, err := b.Props(ctx, container, "a/current.json")
	if err != nil {
		t.Fatal(err)
	}
	if etag != props.ETag || etag == "" {
		t.Errorf("Current's ETag %q, current.json has %q", etag, props.ETag)
	}
	if got, err := reg.CurrentETag(ctx, "a"); got != etag || err != nil {
		t.Errorf("CurrentETag = %q, %v; want %q", got, err, etag)
	}

	for _, tt := range []struct {
		name    string
		content string
	}{
		{"garbage", "not json {"},
		{"empty", ""},
		{"trailing garbage", `{"task":"a","version":"v1"} {"task":"b"}`},
		{"another task", `{"task":"b","version":"v1"}`},
		{"no task", `{"version":"v1"}`},
		{"no version", `{"task":"a"}`},
		{"a version that escapes", `{"task":"a","version":"../b/v1"}`},
		{"a version of ..", `{"task":"a","version":".."}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			put(t, b, "a/current.json", []byte(tt.content))
			props, err := b.Props(ctx, container, "a/current.json")
			if err != nil {
				t.Fatal(err)
			}
			cur, etag, err := reg.Current(ctx, "a")
			wantKind(t, "Current", err, tinyhead.ErrInvalid)
			if etag != props.ETag {
				t.Errorf("Current's ETag %q, want the broken pointer's %q", etag, props.ETag)
			}
			if cur != (registry.Current{}) {
				t.Errorf("Current = %+v with its error", cur)
			}
			// The ETag lets the broken pointer be replaced.
			if err := reg.Promote(ctx, "a", "v1", "repair", etag); err != nil {
				t.Fatalf("Promote with the broken pointer's ETag: %v", err)
			}
			if cur, _, err := reg.Current(ctx, "a"); err != nil || cur.Version != "v1" || cur.Reason != "repair" {
				t.Errorf("after the repair Current = %+v, %v", cur, err)
			}
		})
	}
}

// TestPromote: a promotion is conditional on current.json's ETag, and
// writes nothing unless the version exists.
func TestPromote(t *testing.T) {
	m := testModel(4, 2, 2, mlp.ReLU, 1)
	for _, tt := range []struct {
		name     string
		existing bool // whether a.v1 is promoted before
		version  string
		ifMatch  func(current, stale string) string
		kind     error
	}{
		{"first promotion", false, "v2", func(string, string) string { return "" }, nil},
		{"next promotion", true, "v2", func(cur, _ string) string { return cur }, nil},
		{"the same version again", true, "v1", func(cur, _ string) string { return cur }, nil},
		{"missing version, none current", false, "v9", func(string, string) string { return "" }, tinyhead.ErrNotFound},
		{"missing version", true, "v9", func(cur, _ string) string { return cur }, tinyhead.ErrNotFound},
		{"version with a model but no manifest", true, "v3", func(cur, _ string) string { return cur }, tinyhead.ErrNotFound},
		{"stale ETag", true, "v2", func(_, stale string) string { return stale }, tinyhead.ErrConflict},
		{"none expected, one exists", true, "v2", func(string, string) string { return "" }, tinyhead.ErrConflict},
		{"one expected, none exists", false, "v2", func(_, stale string) string { return stale }, tinyhead.ErrConflict},
		{"made-up ETag", true, "v2", func(string, string) string { return `"0x1"` }, tinyhead.ErrConflict},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			reg, b := newRegistry(t)
			save(t, reg, "a", "v1", m)
			save(t, reg, "a", "v2", m)
			put(t, b, "a/v3/model.onnx", m.ONNX().Marshal())
			// A stale ETag: current.json as it was before the last write.
			if err := reg.Promote(ctx, "a", "v1", "old", ""); err != nil {
				t.Fatal(err)
			}
			stale, err := reg.CurrentETag(ctx, "a")
			if err != nil {
				t.Fatal(err)
			}
			if err := reg.Promote(ctx, "a", "v1", "existing", stale); err != nil {
				t.Fatal(err)
			}
			if !tt.existing {
				if err := b.Delete(ctx, container, "a/current.json"); err != nil {
					t.Fatal(err)
				}
			}
			etag, err := reg.CurrentETag(ctx, "a")
			if err != nil {
				t.Fatal(err)
			}
			var content []byte
			if tt.existing {
				content = get(t, b, "a/current.json")
			}

			err = reg.Promote(ctx, "a", tt.version, "because", tt.ifMatch(etag, stale))
			if tt.kind == nil {
				if err != nil {
					t.Fatalf("Promote: %v", err)
				}
				cur, newETag, err := reg.Current(ctx, "a")
				if err != nil || cur.Version != tt.version || cur.Reason != "because" || newETag == etag {
					t.Errorf("after Promote Current = %+v, %q (was %q), %v", cur, newETag, etag, err)
				}
				return
			}
			wantKind(t, "Promote", err, tt.kind)
			after, err := reg.CurrentETag(ctx, "a")
			if err != nil || after != etag {
				t.Errorf("current.json changed: ETag %q → %q (%v)", etag, after, err)
			}
			if tt.existing {
				if got := get(t, b, "a/current.json"); !bytes.Equal(got, content) {
					t.Errorf("current.json changed: %s → %s", content, got)
				}
			}
		})
	}
}

// TestPromoteRace: of two promotions from the same read, one wins.
func TestPromoteRace(t *testing.T) {
	ctx := t.Context()
	reg, _ := newRegistry(t)
	m := testModel(4, 2, 2, mlp.ReLU, 1)
	for _, v := range []string{"v1", "v2", "v3"} {
		save(t, reg, "a", v, m)
	}
	if err := reg.Promote(ctx, "a", "v1", "first", ""); err != nil {
		t.Fatal(err)
	}
	_, etag, err := reg.Current(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, v := range []string{"v2", "v3"} {
		wg.Go(func() { errs[i] = reg.Promote(ctx, "a", v, "race", etag) })
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch tinyhead.KindOf(err) {
		case nil:
			if err != nil {
				t.Fatal(err)
			}
			won = i
		case tinyhead.ErrConflict:
		default:
			t.Errorf("promotion %d: %v", i, err)
		}
	}
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("promotions from one ETag: %v and %v; want exactly one to succeed", errs[0], errs[1])
	}
	cur, _, err := reg.Current(ctx, "a")
	if err != nil || cur.Version != []string{"v2", "v3"}[won] {
		t.Errorf("Current = %+v, %v; promotion %d won", cur, err, won)
	}
}

// TestLock: one training of a task at a time; the lock is free again once
// unlocked; tasks lock independently.
func TestLock(t *testing.T) {
	ctx := t.Context()
	reg, b := newRegistry(t)
	unlock, err := reg.Lock(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	_, err = reg.Lock(ctx, "a")
	wantKind(t, "second Lock", err, tinyhead.ErrConflict)
	if err != nil && !strings.Contains(err.Error(), "another training") {
		t.Errorf("second Lock: %q does not say another training runs", err)
	}
	unlockB, err := reg.Lock(ctx, "b")
	if err != nil {
		t.Fatalf("Lock of another task: %v", err)
	}
	unlock()
	unlock2, err := reg.Lock(ctx, "a")
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	unlock2()
	unlockB()
	// The lock blob does not make a version.
	if versions, err := reg.Versions(ctx, "a"); err != nil || len(versions) != 0 {
		t.Errorf("Versions = %q, %v", versions, err)
	}
	if names := blobNames(t, b); !slices.Equal(names, []string{"a/.lock", "b/.lock"}) {
		t.Errorf("blobs %q", names)
	}
}

// TestLockRenewal: the lease is renewed while the training runs, so that
// it outlives its ttl; renewal stops at unlock. (In a synctest bubble:
// time passes only when every goroutine waits.)
func TestLockRenewal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		reg, b := newRegistry(t)
		var mu sync.Mutex
		renewals := 0
		b.Fault = func(op, _, _ string) error {
			if op == "Renew" {
				mu.Lock()
				renewals++
				mu.Unlock()
			}
			return nil
		}
		unlock, err := reg.Lock(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Minute) // ten times the lease's ttl
		synctest.Wait()
		_, err = reg.Lock(ctx, "a")
		wantKind(t, "Lock after 10 minutes of training", err, tinyhead.ErrConflict)
		mu.Lock()
		n := renewals
		mu.Unlock()
		if n < 10 {
			t.Errorf("%d renewals in 10 minutes", n)
		}
		unlock()
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		mu.Lock()
		if renewals != n {
			t.Errorf("%d renewals after unlock", renewals-n)
		}
		mu.Unlock()
		unlock, err = reg.Lock(ctx, "a")
		if err != nil {
			t.Fatalf("Lock after unlock: %v", err)
		}
		unlock()
	})
}

// TestLockRenewalFailure: a failed renewal only logs; the training goes
// on (its lease may expire, and then another training may start).
func TestLockRenewalFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		reg, b := newRegistry(t)
		var log logbuf.Buffer
		reg.Log = slog.New(slog.NewTextHandler(&log, nil))
		b.SetFault(func(op, _, _ string) error {
			if op == "Renew" {
				return errThrottled
			}
			return nil
		})
		unlock, err := reg.Lock(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Second) // a renewal failed; the lease holds
		synctest.Wait()
		if !strings.Contains(log.String(), "renewing the training lock failed") {
			t.Errorf("no warning of the failed renewal in the log:\n%s", log.String())
		}
		_, err = reg.Lock(ctx, "a")
		wantKind(t, "Lock while the lease holds", err, tinyhead.ErrConflict)

		time.Sleep(time.Minute) // the lease expired
		synctest.Wait()
		unlock2, err := reg.Lock(ctx, "a")
		if err != nil {
			t.Fatalf("Lock after the first lease expired: %v", err)
		}
		unlock() // its lease is another's now: releasing it fails, and logs
		if !strings.Contains(log.String(), "releasing the training lock failed") {
			t.Errorf("no warning of the failed release in the log:\n%s", log.String())
		}
		b.SetFault(nil)
		if _, err := reg.Lock(ctx, "a"); tinyhead.KindOf(err) != tinyhead.ErrConflict {
			t.Errorf("the first holder's unlock released the second's lock: Lock = %v", err)
		}
		unlock2()
	})
}

// TestDefaultLogger: a registry without a Log logs to slog's default.
func TestDefaultLogger(t *testing.T) {
	var log logbuf.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&log, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })

	reg, b := newRegistry(t)
	reg.Log = nil
	unlock, err := reg.Lock(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	b.Fault = func(op, _, _ string) error {
		if op == "Release" {
			return errThrottled
		}
		return nil
	}
	unlock()
	if !strings.Contains(log.String(), "releasing the training lock failed") {
		t.Errorf("nothing logged to the default logger:\n%s", log.String())
	}
}

// TestSaveBadManifest: a manifest that cannot be encoded fails Save before
// anything is written.
func TestSaveBadManifest(t *testing.T) {
	reg, b := newRegistry(t)
	m := testModel(4, 2, 2, mlp.ReLU, 1)
	man := manifestOf("a", "v1", m)
	man.Metrics = json.RawMessage(`{"accuracy":`)
	if err := reg.Save(t.Context(), man, m.ONNX().Marshal(), nil); err == nil {
		t.Fatal("Save of a manifest with broken metrics succeeded")
	}
	if names := blobNames(t, b); len(names) > 0 {
		t.Errorf("blobs were written: %q", names)
	}
}

// TestCurrentReplacedWhileRead: current.json replaced between its
// properties and its content (a concurrent promotion) is read again; one
// replaced on every read is ErrConflict (retry later), never a broken
// pointer that a training would replace.
func TestCurrentReplacedWhileRead(t *testing.T) {
	for _, tt := range []struct {
		name         string
		replacements int // how many reads see current.json replaced
		want         string
		kind         error
	}{
		{"once", 1, "v2", nil},
		{"twice", 2, "v1", nil},
		{"on every read", 1000, "", tinyhead.ErrConflict},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			reg, b := newRegistry(t)
			m := testModel(4, 2, 2, mlp.ReLU, 1)
			save(t, reg, "a", "v1", m)
			save(t, reg, "a", "v2", m)
			if err := reg.Promote(ctx, "a", "v1", "first", ""); err != nil {
				t.Fatal(err)
			}
			replaced, reads := 0, 0
			var fault func(op, _, name string) error
			fault = func(op, _, name string) error {
				if op != "Read" || name != "a/current.json" {
					return nil
				}
				reads++
				if replaced == tt.replacements {
					return nil
				}
				replaced++
				// Promote the other version, as a concurrent training would.
				b.SetFault(nil)
				defer b.SetFault(fault)
				cur, etag, err := reg.Current(ctx, "a")
				if err != nil {
					return err
				}
				next := map[string]string{"v1": "v2", "v2": "v1"}[cur.Version]
				return reg.Promote(ctx, "a", next, "concurrent", etag)
			}
			b.Fault = fault
			cur, etag, err := reg.Current(ctx, "a")
			b.Fault = nil
			if tt.kind != nil {
				wantKind(t, "Current", err, tt.kind)
				if etag != "" {
					t.Errorf("Current returned ETag %q with a conflict", etag)
				}
				if reads > 5 {
					t.Errorf("Current read %d times", reads)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			latest, err := reg.CurrentETag(ctx, "a")
			if err != nil {
				t.Fatal(err)
			}
			if cur.Version != tt.want || etag != latest {
				t.Errorf("Current = %s with ETag %s; want %s with the latest ETag %s", cur.Version, etag, tt.want, latest)
			}
		})
	}
}
