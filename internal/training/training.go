// Package training trains a task's classifier from stored embeddings and
// decides which version a task serves: Train (with its promotion rule),
// Rollback, and the nightly selection of tasks whose data changed.
//
// The registry's current.json is the one source of truth for the version a
// task serves. The SQL models table's promoted flag mirrors it: it is
// written after current.json, and repaired whenever the task is trained,
// rolled back or visited by the nightly run, so a crash between the two
// writes leaves the mirror stale for a while but never the pointer wrong.
//
// Loading and splitting the rows is internal/dataset's; serving the
// promoted version is internal/serving's.
package training

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tinyhead/tinyhead/internal/dataset"
	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/registry"
	"github.com/tinyhead/tinyhead/internal/report"
	"github.com/tinyhead/tinyhead/internal/sketch"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// TaskLister summarises the tasks with labelled documents embedded by a
// model.
type TaskLister interface {
	Tasks(ctx context.Context, model string) ([]tinyhead.TaskSummary, error)
}

// Store is what training reads from and records in the database;
// sqlstore.Store and inmem.Store implement it.
type Store interface {
	dataset.Source
	TaskLister
	// The texts' sketches, for heads that read them, and their backfill.
	tinyhead.SketchStore
	// RecordModel adds a trained version to the models table.
	RecordModel(ctx context.Context, m tinyhead.ModelRecord) error
	// PromoteModel sets the promoted flag on one version and clears it on
	// the others (the mirror of current.json).
	PromoteModel(ctx context.Context, task, version string) error
	// Models lists a task's versions, oldest first.
	Models(ctx context.Context, task string) ([]tinyhead.ModelRecord, error)
}

// Registry is where versions are kept; *registry.Registry implements it.
type Registry interface {
	Lock(ctx context.Context, task string) (unlock func(), err error)
	Current(ctx context.Context, task string) (cur registry.Current, etag string, err error)
	Manifest(ctx context.Context, task, version string) (*registry.Manifest, error)
	Save(ctx context.Context, m *registry.Manifest, model, reportPNG []byte) error
	Promote(ctx context.Context, task, version, reason, ifMatch string) error
	LoadHead(ctx context.Context, task, version string) (*registry.Head, error)
}

// EmbeddingModel names the embeddings a training reads.
type EmbeddingModel interface {
	ModelID() string
	Dim() int
}

// Service trains classifiers and moves the tasks' current versions.
type Service struct {
	Store     Store
	Registry  Registry
	Embedding EmbeddingModel
	Log       *slog.Logger
	// ValFraction is the share of documents held out for validation
	// (default 0.2), chosen by a stable hash of their identity.
	ValFraction float64
	// MinRows is the fewest labelled rows a task needs (default 10); each
	// class also needs a row on each side of the split.
	MinRows int
}

// Request is a training request: hyperparameter overrides and options.
// Zero fields take the defaults of the recipe (docs/design.md).
type Request struct {
	// Config overrides the recipe's hyperparameters field by field (hidden,
	// min_hidden, activation, learning_rate, weight_decay, beta1, beta2,
	// epsilon, no_amsgrad, batch_size, steps, seed, features,
	// sketch_buckets, sketch_learning_rate); zero fields keep the
	// defaults. features defaults to mlp.DefaultFeatures ("embedding"
	// with from_sql, which cannot hold the sketches).
	mlp.Config
	// Force promotes the new model even if it is worse than the current one.
	Force bool `json:"force,omitempty"`
	// FromSQL samples every mini-batch from the database instead of loading
	// the training matrix into memory (for tables larger than memory).
	FromSQL bool `json:"from_sql,omitempty"`
}

// Outcome is what a training run produced; the Train function answers it.
type Outcome struct {
	Task           string           `json:"task"`
	Version        string           `json:"version"`
	Promoted       bool             `json:"promoted"`
	Reason         string           `json:"reason"`
	Labels         []string         `json:"labels"`
	Metrics        mlp.Metrics      `json:"metrics"`
	Previous       *Comparison      `json:"previous,omitempty"`
	Rows           registry.Rows    `json:"rows"`
	Timings        registry.Timings `json:"timings"`
	Hyperparams    mlp.Config       `json:"hyperparameters"`
	Parameters     int              `json:"parameters"`
	Files          registry.Files   `json:"files"`
	EmbeddingModel string           `json:"embedding_model"`
	// Warning says what went wrong after the outcome was decided and
	// stored (the models table's mirror could not be updated).
	Warning string `json:"warning,omitempty"`
}

// Comparison is the current model evaluated on the new validation set.
type Comparison struct {
	Version  string  `json:"version"`
	Accuracy float64 `json:"accuracy"`
	MacroF1  float64 `json:"macro_f1"`
}

func (s *Service) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

func (s *Service) valFraction() float64 {
	if s.ValFraction <= 0 || s.ValFraction >= 1 {
		return 0.2
	}
	return s.ValFraction
}

// Summary finds a task's summary among those of model; a task without
// labelled rows of that model is tinyhead.ErrNotFound.
func Summary(ctx context.Context, store TaskLister, task, model string) (tinyhead.TaskSummary, error) {
	tasks, err := store.Tasks(ctx, model)
	if err != nil {
		return tinyhead.TaskSummary{}, fmt.Errorf("list tasks: %w", err)
	}
	for _, t := range tasks {
		if t.Task == task {
			return t, nil
		}
	}
	return tinyhead.TaskSummary{}, tinyhead.Errorf(tinyhead.ErrNotFound, "task %q has no labelled documents embedded by %s", task, model)
}

// Train trains a new version of the task's model, stores it, and promotes
// it if it is not worse than the current one on the same validation set
// (or if req.Force). Only one training of a task runs at a time. If the
// current model cannot be scored for a reason that may pass (storage
// unavailable), nothing is stored or promoted and the error is of kind
// tinyhead.ErrUnavailable.
func (s *Service) Train(ctx context.Context, task string, req Request) (*Outcome, error) {
	start := time.Now()
	if err := tinyhead.CheckTaskName(task); err != nil {
		return nil, err
	}
	sum, err := Summary(ctx, s.Store, task, s.Embedding.ModelID())
	if err != nil {
		return nil, err
	}
	minRows := s.MinRows
	if minRows <= 0 {
		minRows = 10
	}
	if len(sum.Labels) < 2 {
		return nil, tinyhead.Errorf(tinyhead.ErrUnprocessable, "task %q has one class (%v); a classifier needs at least two", task, sum.Labels)
	}
	if sum.Rows < minRows {
		return nil, tinyhead.Errorf(tinyhead.ErrUnprocessable, "task %q has %d labelled rows; at least %d are needed", task, sum.Rows, minRows)
	}
	if req.Features == "" {
		req.Features = mlp.DefaultFeatures
		if req.FromSQL {
			req.Features = mlp.FeatureEmbedding
		}
	}
	cfg := req.Config.WithDefaults(len(sum.Labels))
	if err := errors.Join(cfg.Validate(), cfg.ValidateSize(len(sum.Labels))); err != nil {
		return nil, tinyhead.Errorf(tinyhead.ErrInvalid, "hyperparameters: %w", err)
	}
	sketches := cfg.Features != mlp.FeatureEmbedding
	if sketches && req.FromSQL {
		return nil, tinyhead.Errorf(tinyhead.ErrInvalid, "hyperparameters: features %q read the texts' sketches, which training holds in memory: use features \"embedding\" with from_sql", cfg.Features)
	}
	unlock, err := s.Registry.Lock(ctx, task)
	if err != nil {
		return nil, err
	}
	defer unlock()
	s.log().Info("training started", "task", task, "rows", sum.Rows, "classes", len(sum.Labels), "steps", cfg.Steps, "from_sql", req.FromSQL)
	cur, curETag, curProblem, err := s.current(ctx, task)
	if err != nil {
		return nil, err
	}

	ds, err := dataset.Load(ctx, s.Store, sum, dataset.Options{
		Model: s.Embedding.ModelID(), Dim: s.Embedding.Dim(), ValFraction: s.valFraction(), FromSQL: req.FromSQL})
	if err != nil {
		return nil, err
	}
	if err := ds.Check(task); err != nil {
		return nil, err
	}
	if sketches {
		if err := s.loadSketches(ctx, task, ds); err != nil {
			return nil, err
		}
	}
	loaded := time.Now()

	model, hist, err := mlp.Train(ctx, cfg, ds.Dim, len(ds.Labels), ds.Batches(s.Store, cfg))
	if errors.As(err, new(*mlp.DivergedError)) {
		// The stored embeddings are finite, so divergence is the request's
		// hyperparameters: a bad request, not a failure of the service.
		return nil, tinyhead.Errorf(tinyhead.ErrInvalid, "hyperparameters: task %s: %w", task, err)
	}
	if err != nil {
		return nil, fmt.Errorf("train task %s: %w", task, err)
	}
	model.Labels = ds.Labels
	if !cfg.NoStandardize {
		if err := model.Fold(ds.Scaler); err != nil {
			return nil, fmt.Errorf("fold the input scaling into task %s's model: %w", task, err)
		}
	}
	trained := time.Now()
	metrics, err := ds.Evaluate(ctx, s.Store, model)
	if err != nil {
		return nil, fmt.Errorf("evaluate task %s: %w", task, err)
	}

	out := &Outcome{
		Task:           task,
		Version:        registry.NewVersion(start),
		Labels:         ds.Labels,
		Metrics:        metrics,
		Rows:           registry.Rows{Train: ds.TrainRows, Validation: ds.ValRows},
		Hyperparams:    cfg,
		Parameters:     model.ParamCount(),
		EmbeddingModel: ds.EmbeddingModel,
	}
	if curProblem != "" {
		out.Promoted, out.Reason = true, curProblem
	} else if out.Promoted, out.Reason, out.Previous, err = s.decide(ctx, task, cur.Version, ds, metrics, req.Force); err != nil {
		return nil, err
	}

	png, err := report.PNG(report.Report{
		Title: fmt.Sprintf("%s — version %s", task, out.Version),
		Subtitle: fmt.Sprintf("validation accuracy %.1f%% · macro-F1 %.1f%% · %d train / %d validation rows · %.1f s training",
			100*metrics.Accuracy, 100*metrics.MacroF1, ds.TrainRows, ds.ValRows, trained.Sub(loaded).Seconds()),
		Loss:      hist.Loss,
		Labels:    ds.Labels,
		Confusion: metrics.Confusion,
	})
	if err != nil {
		return nil, fmt.Errorf("draw report of %s: %w", task, err)
	}
	out.Timings = registry.Timings{Load: loaded.Sub(start).Seconds(), Train: trained.Sub(loaded).Seconds()}
	hp, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode hyperparameters of %s: %w", task, err)
	}
	mj, err := json.Marshal(metrics)
	if err != nil {
		return nil, fmt.Errorf("encode metrics of %s: %w", task, err)
	}
	man := &registry.Manifest{
		Task: task, Version: out.Version, CreatedAt: start.UTC(), Labels: ds.Labels,
		EmbeddingModel: ds.EmbeddingModel, EmbeddingDim: ds.Dim, Sketch: sketchVersion(model), Parameters: out.Parameters,
		Hyperparams: hp, Metrics: mj, Rows: out.Rows,
		Data: registry.DataVersion{Rows: sum.Rows, LastChange: sum.LastChange},
	}
	man.Timings = registry.Timings{Load: out.Timings.Load, Train: out.Timings.Train, Total: time.Since(start).Seconds()}
	if err := s.Registry.Save(ctx, man, model.ONNX().Marshal(), png); err != nil {
		return nil, err
	}
	out.Files = man.Files
	if err := s.Store.RecordModel(ctx, tinyhead.ModelRecord{Task: task, Version: out.Version, CreatedAt: start.UTC(),
		Rows: ds.TrainRows + ds.ValRows, Metrics: string(mj), BlobPath: man.Files.ONNX}); err != nil {
		return nil, fmt.Errorf("record model %s/%s: %w", task, out.Version, err)
	}
	if out.Promoted {
		warn, err := s.promote(ctx, task, out.Version, out.Reason, curETag)
		if err != nil {
			return nil, err
		}
		out.Warning = warn
	}
	out.Timings.Total = time.Since(start).Seconds()
	s.log().Info("trained", "task", task, "version", out.Version, "accuracy", metrics.Accuracy, "macro_f1", metrics.MacroF1,
		"rows", ds.TrainRows+ds.ValRows, "train_s", out.Timings.Train, "promoted", out.Promoted, "reason", out.Reason)
	return out, nil
}

// current reads the task's current.json under the task's lock, and brings
// the models table's mirror in line with it. A task without one has
// cur.Version "". A pointer that is unreadable for good (it cannot be
// parsed, or names another task) comes back as problem: a new version may
// replace it, and the reason says why. Other errors (storage unavailable)
// are returned.
func (s *Service) current(ctx context.Context, task string) (cur registry.Current, etag, problem string, err error) {
	cur, etag, err = s.Registry.Current(ctx, task)
	switch {
	case errors.Is(err, tinyhead.ErrNotFound):
		return registry.Current{}, "", "", nil
	case errors.Is(err, tinyhead.ErrInvalid):
		s.log().Warn("current.json is unreadable; a new version will replace it", "task", task, "error", err)
		return registry.Current{}, etag, fmt.Sprintf("the current model pointer is unreadable (%v); replaced", err), nil
	case err != nil:
		return registry.Current{}, "", "", err
	}
	s.syncMirror(ctx, task, cur.Version)
	return cur, etag, "", nil
}

// decide says whether the new model replaces the current one: it must not
// be worse on the same validation set. The current model is run on the new
// validation rows the way Classify runs it. A current model that is gone or
// unusable for good (missing artifacts, a file that cannot be loaded, other
// embeddings) is replaced, and the reason says so; any other failure to
// score it fails the decision, so that a passing storage error never
// promotes an unchecked model.
func (s *Service) decide(ctx context.Context, task, curVersion string, ds *dataset.Dataset, m mlp.Metrics, force bool) (bool, string, *Comparison, error) {
	if curVersion == "" {
		return true, "first model of the task", nil, nil
	}
	prev, err := s.scoreVersion(ctx, task, curVersion, ds)
	switch {
	case errors.Is(err, tinyhead.ErrNotFound), errors.Is(err, tinyhead.ErrInvalid):
		s.log().Warn("the current model cannot be used; the new version replaces it", "task", task, "version", curVersion, "error", err)
		return true, fmt.Sprintf("the current model %s cannot be used (%v); replaced", curVersion, err), nil, nil
	case err != nil:
		if tinyhead.KindOf(err) == nil {
			err = tinyhead.WithKind(tinyhead.ErrUnavailable, err)
		}
		return false, "", nil, fmt.Errorf("score the current model %s/%s on the new validation rows (nothing was promoted; retry): %w", task, curVersion, err)
	}
	switch {
	case force:
		return true, "forced", prev, nil
	case m.Accuracy >= prev.Accuracy:
		return true, fmt.Sprintf("validation accuracy %.4f is not worse than the current model's %.4f", m.Accuracy, prev.Accuracy), prev, nil
	default:
		return false, fmt.Sprintf("validation accuracy %.4f is worse than the current model's %.4f (use force to promote anyway)", m.Accuracy, prev.Accuracy), prev, nil
	}
}

// scoreVersion scores a stored version on ds's validation rows. Rows
// whose label the version does not know count as errors.
func (s *Service) scoreVersion(ctx context.Context, task, version string, ds *dataset.Dataset) (*Comparison, error) {
	h, err := s.Registry.LoadHead(ctx, task, version)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	if h.Manifest.EmbeddingModel != ds.EmbeddingModel || h.Manifest.EmbeddingDim != ds.Dim {
		return nil, tinyhead.Errorf(tinyhead.ErrInvalid, "it was trained on %s (%d-d) embeddings, not %s (%d-d)",
			h.Manifest.EmbeddingModel, h.Manifest.EmbeddingDim, ds.EmbeddingModel, ds.Dim)
	}
	if h.Manifest.Sketch != "" {
		if h.Manifest.Sketch != sketch.Version {
			return nil, tinyhead.Errorf(tinyhead.ErrInvalid, "it reads %s sketches, not %s", h.Manifest.Sketch, sketch.Version)
		}
		if err := s.loadSketches(ctx, task, ds); err != nil {
			return nil, err
		}
	}
	best, err := ds.PredictValidation(ctx, s.Store, len(h.Manifest.Labels), h.Predict)
	if err != nil {
		return nil, err
	}
	// Map its labels onto the new label indices; unknown labels get -1.
	mapped := make([]int32, len(h.Manifest.Labels))
	for i, l := range h.Manifest.Labels {
		if y, ok := ds.LabelIndex(l); ok {
			mapped[i] = y
		} else {
			mapped[i] = -1
		}
	}
	pred := make([]int32, ds.ValRows)
	for i, b := range best {
		pred[i] = mapped[b]
	}
	acc, f1 := mlp.Score(ds.ValY, pred, len(ds.Labels))
	return &Comparison{Version: version, Accuracy: acc, MacroF1: f1}, nil
}

// promote points current.json at version — the promotion itself, which
// fails if another promotion happened since curETag was read — and then
// mirrors it in the models table. A failure of the mirror does not undo
// the promotion: it comes back as a warning, and the next training,
// rollback or nightly run of the task repairs it.
func (s *Service) promote(ctx context.Context, task, version, reason, curETag string) (warning string, err error) {
	if err := s.Registry.Promote(ctx, task, version, reason, curETag); err != nil {
		return "", err
	}
	if err := s.Store.PromoteModel(ctx, task, version); err != nil {
		s.log().Warn("promoted, but the models table still names the previous version; the task's next training, rollback or nightly run repairs it",
			"task", task, "version", version, "error", err)
		return fmt.Sprintf("promoted; the models table's promoted flag could not be updated (%v) and will be repaired by the next training, rollback or nightly run", err), nil
	}
	return "", nil
}

// syncMirror makes the models table's promoted flag name version, if it
// does not already. Failing, it only logs: the mirror is repaired later.
func (s *Service) syncMirror(ctx context.Context, task, version string) {
	recs, err := s.Store.Models(ctx, task)
	if err != nil {
		s.log().Warn("cannot read the models table to check its promoted flag", "task", task, "error", err)
		return
	}
	for _, r := range recs {
		if r.Promoted != (r.Version == version) {
			if err := s.Store.PromoteModel(ctx, task, version); err != nil {
				s.log().Warn("cannot repair the models table's promoted flag", "task", task, "version", version, "error", err)
			} else {
				s.log().Info("repaired the models table's promoted flag from current.json", "task", task, "version", version)
			}
			return
		}
	}
}

// Rollback points the task's current model at an earlier version of the
// same task. Nothing moves unless the version exists and its manifest
// names the task.
func (s *Service) Rollback(ctx context.Context, task, version string) error {
	if err := tinyhead.CheckTaskName(task); err != nil {
		return err
	}
	unlock, err := s.Registry.Lock(ctx, task)
	if err != nil {
		return err
	}
	defer unlock()
	_, etag, _, err := s.current(ctx, task)
	if err != nil {
		return err
	}
	if _, err := s.Registry.Manifest(ctx, task, version); err != nil {
		return fmt.Errorf("roll %s back to %s: %w", task, version, err)
	}
	warn, err := s.promote(ctx, task, version, "rollback", etag)
	if err != nil {
		return err
	}
	if warn != "" {
		s.log().Warn(warn, "task", task, "version", version)
	}
	return nil
}
