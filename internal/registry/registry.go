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
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/tinyhead/tinyhead/internal/blobstore"
)

// Manifest is a version's model.json.
type Manifest struct {
	Task           string          `json:"task"`
	Version        string          `json:"version"`
	CreatedAt      time.Time       `json:"created_at"`
	Labels         []string        `json:"labels"`
	EmbeddingModel string          `json:"embedding_model"`
	EmbeddingDim   int             `json:"embedding_dim"`
	Parameters     int             `json:"parameters"`
	Hyperparams    json.RawMessage `json:"hyperparameters"`
	Metrics        json.RawMessage `json:"metrics"`
	Rows           Rows            `json:"rows"`
	Data           DataVersion     `json:"data"`
	Timings        Timings         `json:"timings"`
	Files          Files           `json:"files"`
}

// Rows counts the labelled rows a model was trained and validated on.
type Rows struct {
	Train      int `json:"train"`
	Validation int `json:"validation"`
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

// Current is {task}/current.json.
type Current struct {
	Task       string    `json:"task"`
	Version    string    `json:"version"`
	PromotedAt time.Time `json:"promoted_at"`
	Reason     string    `json:"reason"`
}

// ErrNoModel is matched when a task has no promoted model (or no such version).
var ErrNoModel = errors.New("no model")

// ErrBusy is matched when another training of the task holds its lock.
var ErrBusy = errors.New("another training of this task is running")

// Registry reads and writes model artifacts.
type Registry struct {
	Blobs     *blobstore.Client
	Container string
	Log       *slog.Logger
}

// NewVersion names a new version: a UTC timestamp that sorts in time order.
func NewVersion(t time.Time) string { return t.UTC().Format("20060102T150405.000Z") }

func (r *Registry) path(task string, parts ...string) string {
	return task + "/" + strings.Join(parts, "/")
}

// Save writes a version's three artifacts; model.json goes last, so a
// version with a manifest is complete.
func (r *Registry) Save(ctx context.Context, m *Manifest, model, reportPNG []byte) error {
	m.Files = Files{ONNX: r.path(m.Task, m.Version, "model.onnx"), Report: r.path(m.Task, m.Version, "report.png")}
	if _, err := r.Blobs.UploadBytes(ctx, r.Container, m.Files.ONNX, model, "application/octet-stream"); err != nil {
		return fmt.Errorf("save model of %s: %w", m.Task, err)
	}
	if _, err := r.Blobs.UploadBytes(ctx, r.Container, m.Files.Report, reportPNG, "image/png"); err != nil {
		return fmt.Errorf("save report of %s: %w", m.Task, err)
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if _, err := r.Blobs.UploadBytes(ctx, r.Container, r.path(m.Task, m.Version, "model.json"), raw, "application/json"); err != nil {
		return fmt.Errorf("save manifest of %s: %w", m.Task, err)
	}
	return nil
}

// Manifest reads a version's model.json.
func (r *Registry) Manifest(ctx context.Context, task, version string) (*Manifest, error) {
	raw, err := r.Blobs.Download(ctx, r.Container, r.path(task, version, "model.json"))
	if errors.Is(err, blobstore.ErrNotFound) {
		return nil, fmt.Errorf("task %s version %s: %w", task, version, ErrNoModel)
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest of %s/%s: %w", task, version, err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("parse manifest of %s/%s: %w", task, version, err)
	}
	return &m, nil
}

// Model reads a version's ONNX graph.
func (r *Registry) Model(ctx context.Context, task, version string) ([]byte, error) {
	b, err := r.Blobs.Download(ctx, r.Container, r.path(task, version, "model.onnx"))
	if errors.Is(err, blobstore.ErrNotFound) {
		return nil, fmt.Errorf("task %s version %s: %w", task, version, ErrNoModel)
	}
	return b, err
}

// Current returns the promoted version of a task and the ETag of
// current.json (for a conditional Promote), or ErrNoModel.
func (r *Registry) Current(ctx context.Context, task string) (Current, string, error) {
	name := r.path(task, "current.json")
	props, err := r.Blobs.Props(ctx, r.Container, name)
	if errors.Is(err, blobstore.ErrNotFound) {
		return Current{}, "", fmt.Errorf("task %s: %w", task, ErrNoModel)
	}
	if err != nil {
		return Current{}, "", err
	}
	body, _, err := r.Blobs.OpenETag(ctx, r.Container, name, props.ETag)
	if err != nil {
		return Current{}, "", err
	}
	defer body.Close()
	var cur Current
	if err := json.NewDecoder(body).Decode(&cur); err != nil {
		return Current{}, "", fmt.Errorf("parse %s: %w", name, err)
	}
	return cur, props.ETag, nil
}

// CurrentETag returns only the ETag of current.json ("" when there is
// none): a cheap check whether a cached model is still current.
func (r *Registry) CurrentETag(ctx context.Context, task string) (string, error) {
	props, err := r.Blobs.Props(ctx, r.Container, r.path(task, "current.json"))
	if errors.Is(err, blobstore.ErrNotFound) {
		return "", nil
	}
	return props.ETag, err
}

// Promote points current.json at version, provided it still has the ETag
// the caller read ("" when there was none); a concurrent promotion makes it
// fail with an error matching blobstore.ErrChanged.
func (r *Registry) Promote(ctx context.Context, task, version, reason, ifMatch string) error {
	if _, err := r.Manifest(ctx, task, version); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(Current{Task: task, Version: version, PromotedAt: time.Now().UTC(), Reason: reason}, "", "  ")
	if err != nil {
		return err
	}
	if _, err := r.Blobs.UploadIf(ctx, r.Container, r.path(task, "current.json"), raw, "application/json", ifMatch); err != nil {
		return fmt.Errorf("promote %s/%s: %w", task, version, err)
	}
	return nil
}

// Versions lists a task's versions with a manifest, oldest first.
func (r *Registry) Versions(ctx context.Context, task string) ([]string, error) {
	var out []string
	err := r.Blobs.List(ctx, r.Container, task+"/", func(it blobstore.Item) error {
		rest := strings.TrimPrefix(it.Name, task+"/")
		if v, ok := strings.CutSuffix(rest, "/model.json"); ok && !strings.Contains(v, "/") {
			out = append(out, v)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// Lock takes the task's training lock, a blob lease renewed in the
// background until unlock is called. Another holder makes it fail with
// ErrBusy.
func (r *Registry) Lock(ctx context.Context, task string) (unlock func(), err error) {
	const ttl = 60 * time.Second
	l, err := r.Blobs.AcquireLease(ctx, r.Container, r.path(task, ".lock"), ttl)
	if errors.Is(err, blobstore.ErrLeased) {
		return nil, fmt.Errorf("task %s: %w", task, ErrBusy)
	}
	if err != nil {
		return nil, err
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
				if err := l.Renew(context.Background()); err != nil && r.Log != nil {
					r.Log.Warn("renewing the training lock failed", "task", task, "error", err)
				}
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		if err := l.Release(context.Background()); err != nil && r.Log != nil {
			r.Log.Warn("releasing the training lock failed; it expires by itself", "task", task, "error", err)
		}
	}, nil
}
