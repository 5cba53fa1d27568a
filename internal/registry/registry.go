// Package registry keeps trained classifiers in blob storage:
//
//	{task}/{version}/model.onnx   the classifier head as a standard ONNX graph
//	{task}/{version}/model.json   labels, embedding model, hyperparameters, metrics, rows, timings
//	{task}/{version}/report.png   loss curve and confusion matrix
//	{task}/current.json           the promoted version
//	{task}/.lock                  leased while a training of the task runs
//
// Versions are never deleted, so current.json can be pointed back at any
// earlier one (rollback). current.json is only ever replaced conditionally
// on the ETag it was read with, and a training holds the task's lease, so
// two trainings of one task cannot both promote.
//
// current.json is the one source of truth for which version a task serves:
// Classify reads it on every instance, and the SQL models table's promoted
// flag is only a mirror of it that training repairs (see internal/training).
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// Manifest is a version's model.json.
type Manifest struct {
	Task           string    `json:"task"`
	Version        string    `json:"version"`
	CreatedAt      time.Time `json:"created_at"`
	Labels         []string  `json:"labels"`
	EmbeddingModel string    `json:"embedding_model"`
	EmbeddingDim   int       `json:"embedding_dim"`
	// Sketch is the sketch featurizer's version (sketch.Version) when the
	// model reads the texts' sketches too, "" when it does not.
	Sketch      string          `json:"sketch,omitempty"`
	Parameters  int             `json:"parameters"`
	Hyperparams json.RawMessage `json:"hyperparameters"`
	// Metrics are the validation scores, with the test rows' under "test"
	// when the task has test rows.
	Metrics json.RawMessage `json:"metrics"`
	// Metric is the promotion metric the version was compared by
	// ("accuracy", "macro_f1" or "f1:<label>"; see mlp.Metric); the
	// task's next retrain compares by it too. Versions trained before
	// metrics were chosen have none (accuracy).
	Metric string `json:"metric,omitempty"`
	// Promotion records how the version was compared with the one it
	// was to replace (scores, tie, reason).
	Promotion json.RawMessage `json:"promotion,omitempty"`
	// Threshold is a binary task's decision threshold; nil: the most
	// probable class.
	Threshold *Threshold  `json:"threshold,omitempty"`
	Rows      Rows        `json:"rows"`
	Data      DataVersion `json:"data"`
	Timings   Timings     `json:"timings"`
	Files     Files       `json:"files"`
	// Decision is what the training decided about promoting the version
	// (the task's current version is current.json's, whatever this says).
	Decision Decision `json:"decision"`
}

// Decision is a training's promotion decision.
type Decision struct {
	Promoted bool   `json:"promoted"`
	Reason   string `json:"reason"`
}

// Rows counts the labelled rows a model was trained, validated and
// tested on.
type Rows struct {
	Train      int `json:"train"`
	Validation int `json:"validation"`
	Test       int `json:"test,omitempty"`
}

// Threshold is a binary version's decision rule: Label when its
// probability is at least Value, the other label otherwise. It is chosen
// on the validation rows to maximise the promotion metric; the ONNX graph
// still outputs both probabilities.
type Threshold struct {
	Label string  `json:"label"`
	Value float64 `json:"value"`
}

// Decide is the index (into Labels) of the class the version answers for
// one row of its class probabilities, as its ONNX graph outputs them:
// Threshold's label when its probability reaches Threshold.Value, else
// the most probable class. Classify and batch scoring both decide by it,
// so that a version answers the same everywhere.
func (m *Manifest) Decide(probs []float32) int {
	positive := m.positive()
	if positive < 0 {
		return mlp.Argmax(probs)
	}
	return mlp.Decide(probs, positive, m.Threshold.Value)
}

// Margin is how far one row of class probabilities is from changing
// Decide's answer (small: the version is unsure), what the "label next"
// list ranks by: for a binary version with a threshold, twice the
// distance of the threshold label's probability from the threshold;
// otherwise the gap between the two highest probabilities. The two agree
// at a threshold of 0.5, where the gap between p and 1-p is 2|p-0.5|.
func (m *Manifest) Margin(probs []float32) float64 {
	if positive := m.positive(); positive >= 0 && len(probs) == 2 {
		return 2 * math.Abs(float64(probs[positive])-m.Threshold.Value)
	}
	best := mlp.Argmax(probs)
	second := float32(0)
	for k, v := range probs {
		if k != best && v > second {
			second = v
		}
	}
	return float64(probs[best]) - float64(second)
}

// positive is the index of the threshold's label, or -1 without one.
func (m *Manifest) positive() int {
	if m.Threshold == nil {
		return -1
	}
	return slices.Index(m.Labels, m.Threshold.Label)
}

// DataVersion identifies the labelled data a model was trained from: the
// nightly retrain compares it with the data's current state.
type DataVersion struct {
	Rows       int       `json:"rows"`
	LastChange time.Time `json:"last_change"`
}

// Timings of a training run, in seconds.
type Timings struct {
	Load  float64 `json:"load_s"`
	Train float64 `json:"train_s"`
	Total float64 `json:"total_s"`
}

// Files names a version's artifacts, relative to the container.
type Files struct {
	ONNX   string `json:"onnx"`
	Report string `json:"report"`
}

// Blobs is the blob storage the registry keeps versions in.
// ClientBlobs adapts a *blobstore.Client to it; internal/inmem has a fake.
type Blobs interface {
	UploadBytes(ctx context.Context, container, name string, data []byte, contentType string) (etag string, err error)
	// UploadIf writes only if the blob's ETag is ifMatch ("" = only if the
	// blob does not exist); otherwise it fails with tinyhead.ErrConflict.
	UploadIf(ctx context.Context, container, name string, data []byte, contentType, ifMatch string) (etag string, err error)
	Download(ctx context.Context, container, name string) ([]byte, error)
	Props(ctx context.Context, container, name string) (blobstore.Props, error)
	// OpenETag reads the blob's version etag, or fails with
	// tinyhead.ErrConflict if the blob is no longer that version.
	OpenETag(ctx context.Context, container, name, etag string) (io.ReadCloser, blobstore.Props, error)
	List(ctx context.Context, container, prefix string, fn func(blobstore.Item) error) error
	// AcquireLease takes an exclusive lease of ttl on the blob (creating
	// it if needed), or fails with tinyhead.ErrConflict if another holder
	// has one.
	AcquireLease(ctx context.Context, container, name string, ttl time.Duration) (Lease, error)
}

// Lease is a held blob lease.
type Lease interface {
	Renew(ctx context.Context) error
	Release(ctx context.Context) error
}

// ClientBlobs adapts a *blobstore.Client to Blobs.
func ClientBlobs(c *blobstore.Client) Blobs { return clientBlobs{c} }

type clientBlobs struct{ *blobstore.Client }

func (c clientBlobs) AcquireLease(ctx context.Context, container, name string, ttl time.Duration) (Lease, error) {
	l, err := c.Client.AcquireLease(ctx, container, name, ttl)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Predictor runs a loaded classifier head: the class probabilities of n
// texts, from their embeddings stored row by row in x and their sketches
// (read only by a head whose manifest names a Sketch).
type Predictor interface {
	Predict(x []float32, sk mlp.Sparse, n int) ([]float32, error)
	Close() error
}

// Runtime loads a version's ONNX graph (dim inputs, classes outputs) into
// a Predictor; production uses ONNX Runtime:
// RuntimeOf(onnxrt.NewClassifier).
type Runtime func(model []byte, dim, classes int) (Predictor, error)

// RuntimeOf turns a constructor of a concrete predictor into a Runtime.
func RuntimeOf[P Predictor](load func(model []byte, dim, classes int) (P, error)) Runtime {
	return func(model []byte, dim, classes int) (Predictor, error) {
		p, err := load(model, dim, classes)
		if err != nil {
			return nil, err
		}
		return p, nil
	}
}

// Registry reads and writes model artifacts.
type Registry struct {
	Blobs     Blobs
	Container string
	// Runtime loads heads for LoadHead.
	Runtime Runtime
	Log     *slog.Logger
}

// NewVersion names a new version: a UTC timestamp that sorts in time order.
func NewVersion(t time.Time) string { return t.UTC().Format("20060102T150405.000Z") }

func (r *Registry) path(task string, parts ...string) string {
	return task + "/" + strings.Join(parts, "/")
}

// checkNames refuses a task or version that is not a single safe path
// segment, before it becomes part of a blob name.
func checkNames(task, version string) error {
	if err := tinyhead.CheckTaskName(task); err != nil {
		return err
	}
	if version == "" || strings.ContainsAny(version, `/\`) || version == "." || version == ".." || len(version) > 64 {
		return tinyhead.Errorf(tinyhead.ErrInvalid, "version %q is not a version name (one path segment)", version)
	}
	return nil
}

// Current is {task}/current.json.
type Current struct {
	Task       string    `json:"task"`
	Version    string    `json:"version"`
	PromotedAt time.Time `json:"promoted_at"`
	Reason     string    `json:"reason"`
}

// Save writes a version's three artifacts; model.json goes last, so a
// version with a manifest is complete.
func (r *Registry) Save(ctx context.Context, m *Manifest, model, reportPNG []byte) error {
	if err := checkNames(m.Task, m.Version); err != nil {
		return err
	}
	m.Files = Files{ONNX: r.path(m.Task, m.Version, "model.onnx"), Report: r.path(m.Task, m.Version, "report.png")}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode manifest of %s/%s: %w", m.Task, m.Version, err)
	}
	if _, err := r.Blobs.UploadBytes(ctx, r.Container, m.Files.ONNX, model, "application/octet-stream"); err != nil {
		return fmt.Errorf("save model of %s/%s: %w", m.Task, m.Version, err)
	}
	if _, err := r.Blobs.UploadBytes(ctx, r.Container, m.Files.Report, reportPNG, "image/png"); err != nil {
		return fmt.Errorf("save report of %s/%s: %w", m.Task, m.Version, err)
	}
	if _, err := r.Blobs.UploadBytes(ctx, r.Container, r.path(m.Task, m.Version, "model.json"), raw, "application/json"); err != nil {
		return fmt.Errorf("save manifest of %s/%s: %w", m.Task, m.Version, err)
	}
	return nil
}

// Manifest reads a version's model.json. A version without one is
// tinyhead.ErrNotFound; one that cannot be parsed, or that names another
// task or version, is tinyhead.ErrInvalid.
func (r *Registry) Manifest(ctx context.Context, task, version string) (*Manifest, error) {
	if err := checkNames(task, version); err != nil {
		return nil, err
	}
	raw, err := r.Blobs.Download(ctx, r.Container, r.path(task, version, "model.json"))
	if err != nil {
		return nil, fmt.Errorf("read manifest of %s version %s: %w", task, version, err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, tinyhead.Errorf(tinyhead.ErrInvalid, "parse manifest of %s/%s: %w", task, version, err)
	}
	if m.Task != task || m.Version != version {
		return nil, tinyhead.Errorf(tinyhead.ErrInvalid, "manifest %s/%s names %s/%s", task, version, m.Task, m.Version)
	}
	if th := m.Threshold; th != nil && (len(m.Labels) != 2 || !slices.Contains(m.Labels, th.Label) || !(th.Value >= 0 && th.Value <= 1)) {
		return nil, tinyhead.Errorf(tinyhead.ErrInvalid, "manifest %s/%s: threshold %g on label %q does not fit labels %v",
			task, version, th.Value, th.Label, m.Labels)
	}
	return &m, nil
}

// Report reads a version's report.png. A version without one is
// tinyhead.ErrNotFound.
func (r *Registry) Report(ctx context.Context, task, version string) ([]byte, error) {
	if err := checkNames(task, version); err != nil {
		return nil, err
	}
	png, err := r.Blobs.Download(ctx, r.Container, r.path(task, version, "report.png"))
	if err != nil {
		return nil, fmt.Errorf("read report of %s version %s: %w", task, version, err)
	}
	return png, nil
}

// Head is a version loaded for scoring.
type Head struct {
	Version  string
	Manifest *Manifest
	Predictor
}

// LoadCurrentHead loads version, the one current.json names for task,
// with load (a Registry's LoadHead). A current version that cannot be
// loaded (artifacts missing or unreadable) is the stored data's fault, not
// the request's: the error then has no kind (an internal error, 500),
// instead of LoadHead's ErrNotFound or ErrInvalid (404, 400), and says how
// to repair it.
func LoadCurrentHead(ctx context.Context, load func(ctx context.Context, task, version string) (*Head, error), task, version string) (*Head, error) {
	h, err := load(ctx, task, version)
	if errors.Is(err, tinyhead.ErrInvalid) || errors.Is(err, tinyhead.ErrNotFound) {
		return nil, fmt.Errorf("the current model %s/%s cannot be loaded (%v); train a new version or roll back", task, version, err)
	}
	return h, err
}

// LoadHead reads a version's manifest and ONNX graph and loads it with the
// registry's Runtime. Missing artifacts are tinyhead.ErrNotFound and
// artifacts that cannot be loaded are tinyhead.ErrInvalid: both mean the
// version is unusable for good, unlike storage errors, which may pass.
func (r *Registry) LoadHead(ctx context.Context, task, version string) (*Head, error) {
	man, err := r.Manifest(ctx, task, version)
	if err != nil {
		return nil, err
	}
	model, err := r.Blobs.Download(ctx, r.Container, r.path(task, version, "model.onnx"))
	if err != nil {
		return nil, fmt.Errorf("read model of %s version %s: %w", task, version, err)
	}
	if r.Runtime == nil {
		return nil, errors.New("registry: no Runtime to load heads with")
	}
	p, err := r.Runtime(model, man.EmbeddingDim, len(man.Labels))
	if err != nil {
		return nil, tinyhead.Errorf(tinyhead.ErrInvalid, "load model %s/%s: %w", task, version, err)
	}
	return &Head{Version: version, Manifest: man, Predictor: p}, nil
}

// Current returns the promoted version of a task and the ETag of
// current.json (for a conditional Promote). A task without one is
// tinyhead.ErrNotFound; a current.json that cannot be parsed, or that names
// another task, is tinyhead.ErrInvalid (and its ETag is still returned).
func (r *Registry) Current(ctx context.Context, task string) (Current, string, error) {
	if err := tinyhead.CheckTaskName(task); err != nil {
		return Current{}, "", err
	}
	// A promotion between reading current.json's properties and its
	// content makes the read fail with tinyhead.ErrConflict: read the new
	// one (a few times at most, then report the conflict).
	const attempts = 3
	for i := 1; ; i++ {
		cur, etag, err := r.readCurrent(ctx, task)
		if i < attempts && errors.Is(err, tinyhead.ErrConflict) {
			continue
		}
		return cur, etag, err
	}
}

func (r *Registry) readCurrent(ctx context.Context, task string) (Current, string, error) {
	name := r.path(task, "current.json")
	props, err := r.Blobs.Props(ctx, r.Container, name)
	if errors.Is(err, tinyhead.ErrNotFound) {
		return Current{}, "", fmt.Errorf("task %s has no promoted model: %w", task, err)
	}
	if err != nil {
		return Current{}, "", fmt.Errorf("read %s: %w", name, err)
	}
	body, _, err := r.Blobs.OpenETag(ctx, r.Container, name, props.ETag)
	if err != nil {
		return Current{}, "", fmt.Errorf("read %s: %w", name, err)
	}
	defer body.Close()
	// Read it whole first: a read that fails may pass (its error keeps
	// its kind), unlike content that does not parse.
	raw, err := io.ReadAll(body)
	if err != nil {
		return Current{}, "", fmt.Errorf("read %s: %w", name, err)
	}
	var cur Current
	if err := json.Unmarshal(raw, &cur); err != nil {
		// The ETag still lets the caller replace the broken pointer.
		return Current{}, props.ETag, tinyhead.Errorf(tinyhead.ErrInvalid, "parse %s: %w", name, err)
	}
	if cur.Task != task || checkNames(task, cur.Version) != nil {
		return Current{}, props.ETag, tinyhead.Errorf(tinyhead.ErrInvalid, "%s names %s/%s", name, cur.Task, cur.Version)
	}
	return cur, props.ETag, nil
}

// CurrentETag returns only the ETag of current.json ("" when there is
// none): a cheap check whether a cached model is still current.
func (r *Registry) CurrentETag(ctx context.Context, task string) (string, error) {
	if err := tinyhead.CheckTaskName(task); err != nil {
		return "", err
	}
	props, err := r.Blobs.Props(ctx, r.Container, r.path(task, "current.json"))
	if errors.Is(err, tinyhead.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read current model of %s: %w", task, err)
	}
	return props.ETag, nil
}

// Promote points current.json at version, provided it still has the ETag
// the caller read ("" when there was none). The version must have a
// manifest naming it; a concurrent promotion makes it fail with
// tinyhead.ErrConflict. Nothing is written unless every check passes.
func (r *Registry) Promote(ctx context.Context, task, version, reason, ifMatch string) error {
	if _, err := r.Manifest(ctx, task, version); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(Current{Task: task, Version: version, PromotedAt: time.Now().UTC(), Reason: reason}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode current.json of %s: %w", task, err)
	}
	if _, err := r.Blobs.UploadIf(ctx, r.Container, r.path(task, "current.json"), raw, "application/json", ifMatch); err != nil {
		return fmt.Errorf("promote %s/%s: %w", task, version, err)
	}
	return nil
}

// Versions lists a task's versions with a manifest, oldest first.
func (r *Registry) Versions(ctx context.Context, task string) ([]string, error) {
	if err := tinyhead.CheckTaskName(task); err != nil {
		return nil, err
	}
	var out []string
	err := r.Blobs.List(ctx, r.Container, task+"/", func(it blobstore.Item) error {
		rest := strings.TrimPrefix(it.Name, task+"/")
		if v, ok := strings.CutSuffix(rest, "/model.json"); ok && !strings.Contains(v, "/") {
			out = append(out, v)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list versions of %s: %w", task, err)
	}
	sort.Strings(out)
	return out, nil
}

// Lock takes the task's training lock, a blob lease renewed in the
// background until unlock is called. Another holder makes it fail with
// tinyhead.ErrConflict.
func (r *Registry) Lock(ctx context.Context, task string) (unlock func(), err error) {
	if err := tinyhead.CheckTaskName(task); err != nil {
		return nil, err
	}
	const ttl = 60 * time.Second
	l, err := r.Blobs.AcquireLease(ctx, r.Container, r.path(task, ".lock"), ttl)
	if errors.Is(err, tinyhead.ErrConflict) {
		return nil, fmt.Errorf("task %s: another training of this task is running: %w", task, err)
	}
	if err != nil {
		return nil, fmt.Errorf("lock task %s: %w", task, err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if err := l.Renew(context.WithoutCancel(ctx)); err != nil {
					r.log().Warn("renewing the training lock failed", "task", task, "error", err)
				}
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		if err := l.Release(context.WithoutCancel(ctx)); err != nil {
			r.log().Warn("releasing the training lock failed; it expires by itself", "task", task, "error", err)
		}
	}, nil
}

func (r *Registry) log() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}
