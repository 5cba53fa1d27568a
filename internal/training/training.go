// Package training trains a task's classifier from stored embeddings,
// decides whether it replaces the current one, and serves predictions:
// the Train, NightlyTrain and Classify functions.
package training

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/registry"
	"github.com/tinyhead/tinyhead/internal/report"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// Errors a caller maps to HTTP statuses.
var (
	// ErrUnknownTask: no labelled documents for the task (404).
	ErrUnknownTask = errors.New("unknown task")
	// ErrNotEnoughData: too few rows or classes to train (422).
	ErrNotEnoughData = errors.New("not enough data")
	// ErrBadRequest: invalid hyperparameters (400).
	ErrBadRequest = errors.New("bad request")
)

// Service trains and serves classifiers.
type Service struct {
	Data     tinyhead.TrainingData
	Registry *registry.Registry
	Embedder tinyhead.Embedder
	Log      *slog.Logger
	// ValFraction is the share of documents held out for validation
	// (default 0.2), chosen by a stable hash of their identity.
	ValFraction float64
	// MinRows is the fewest labelled rows a task needs (default 10); each
	// class also needs a row on each side of the split.
	MinRows int

	mu    sync.Mutex
	heads map[string]*head // Classify's cache, by task
}

// Request is a training request: hyperparameter overrides and options.
// Zero fields take the defaults of the recipe (DESIGN.md).
type Request struct {
	// Config overrides the recipe's hyperparameters field by field (hidden,
	// min_hidden, activation, learning_rate, weight_decay, beta1, beta2,
	// epsilon, no_amsgrad, batch_size, steps, seed); zero fields keep the
	// defaults.
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

// summary finds a task's summary for the embedder's model.
func (s *Service) summary(ctx context.Context, task string) (tinyhead.TaskSummary, error) {
	return taskSummary(ctx, s.Data, task, s.Embedder.ModelID())
}

// taskSummary finds a task's summary among those of model.
func taskSummary(ctx context.Context, data tinyhead.TrainingData, task, model string) (tinyhead.TaskSummary, error) {
	tasks, err := data.Tasks(ctx, model)
	if err != nil {
		return tinyhead.TaskSummary{}, err
	}
	for _, t := range tasks {
		if t.Task == task {
			return t, nil
		}
	}
	return tinyhead.TaskSummary{}, fmt.Errorf("task %q has no labelled documents embedded by %s: %w", task, model, ErrUnknownTask)
}

// Train trains a new version of the task's model, stores it, and promotes
// it if it is not worse than the current one on the same validation set
// (or if req.Force). Only one training of a task runs at a time.
func (s *Service) Train(ctx context.Context, task string, req Request) (*Outcome, error) {
	start := time.Now()
	sum, err := s.summary(ctx, task)
	if err != nil {
		return nil, err
	}
	minRows := s.MinRows
	if minRows <= 0 {
		minRows = 10
	}
	if len(sum.Labels) < 2 {
		return nil, fmt.Errorf("task %q has one class (%v); a classifier needs at least two: %w", task, sum.Labels, ErrNotEnoughData)
	}
	if sum.Rows < minRows {
		return nil, fmt.Errorf("task %q has %d labelled rows; at least %d are needed: %w", task, sum.Rows, minRows, ErrNotEnoughData)
	}
	cfg, err := s.config(req, len(sum.Labels))
	if err != nil {
		return nil, err
	}
	unlock, err := s.Registry.Lock(ctx, task)
	if err != nil {
		return nil, err
	}
	defer unlock()
	cur, curETag, err := s.Registry.Current(ctx, task)
	if err != nil && !errors.Is(err, registry.ErrNoModel) {
		return nil, err
	}

	ds, err := loader(req.FromSQL)(ctx, s.Data, sum, s.Embedder.ModelID(), s.Embedder.Dim(), s.valFraction())
	if err != nil {
		return nil, err
	}
	if err := ds.check(task); err != nil {
		return nil, err
	}
	loaded := time.Now()

	batches := newBatches(ds, s.Data, cfg, req.FromSQL)
	model, hist, err := mlp.Train(ctx, cfg, ds.dim, len(ds.labels), batches)
	if err != nil {
		return nil, fmt.Errorf("train task %s: %w", task, err)
	}
	model.Labels = ds.labels
	if !cfg.NoStandardize {
		if err := model.Fold(ds.scaler); err != nil {
			return nil, err
		}
	}
	trained := time.Now()
	metrics, err := ds.evaluate(ctx, s.Data, model)
	if err != nil {
		return nil, fmt.Errorf("evaluate task %s: %w", task, err)
	}

	out := &Outcome{
		Task:           task,
		Version:        registry.NewVersion(start),
		Labels:         ds.labels,
		Metrics:        metrics,
		Rows:           registry.Rows{Train: ds.trainRows, Validation: ds.valRows},
		Hyperparams:    cfg,
		Parameters:     model.ParamCount(),
		EmbeddingModel: ds.embeddingModel,
	}
	out.Promoted, out.Reason, out.Previous = s.decide(ctx, task, cur, ds, metrics, req.Force)

	onnxBytes := model.ONNX().Marshal()
	png, err := report.PNG(report.Report{
		Title: fmt.Sprintf("%s — version %s", task, out.Version),
		Subtitle: fmt.Sprintf("validation accuracy %.1f%% · macro-F1 %.1f%% · %d train / %d validation rows · %.1f s training",
			100*metrics.Accuracy, 100*metrics.MacroF1, ds.trainRows, ds.valRows, trained.Sub(loaded).Seconds()),
		Loss:      hist.Loss,
		Labels:    ds.labels,
		Confusion: metrics.Confusion,
	})
	if err != nil {
		return nil, fmt.Errorf("draw report of %s: %w", task, err)
	}
	out.Timings = registry.Timings{Load: loaded.Sub(start).Seconds(), Train: trained.Sub(loaded).Seconds()}
	hp, _ := json.Marshal(cfg)
	mj, _ := json.Marshal(metrics)
	man := &registry.Manifest{
		Task: task, Version: out.Version, CreatedAt: start.UTC(), Labels: ds.labels,
		EmbeddingModel: ds.embeddingModel, EmbeddingDim: ds.dim, Parameters: out.Parameters,
		Hyperparams: hp, Metrics: mj, Rows: out.Rows,
		Data: registry.DataVersion{Rows: sum.Rows, LastChange: sum.LastChange},
	}
	man.Timings = registry.Timings{Load: out.Timings.Load, Train: out.Timings.Train, Total: time.Since(start).Seconds()}
	if err := s.Registry.Save(ctx, man, onnxBytes, png); err != nil {
		return nil, err
	}
	out.Files = man.Files
	if err := s.Data.RecordModel(ctx, tinyhead.ModelRecord{Task: task, Version: out.Version, CreatedAt: start.UTC(),
		Rows: ds.trainRows + ds.valRows, Metrics: string(mj), BlobPath: man.Files.ONNX}); err != nil {
		return nil, fmt.Errorf("record model %s/%s: %w", task, out.Version, err)
	}
	if out.Promoted {
		if err := s.promote(ctx, task, out.Version, out.Reason, curETag); err != nil {
			return nil, err
		}
	}
	out.Timings.Total = time.Since(start).Seconds()
	s.log().Info("trained", "task", task, "version", out.Version, "accuracy", metrics.Accuracy, "macro_f1", metrics.MacroF1,
		"rows", ds.trainRows+ds.valRows, "train_s", out.Timings.Train, "promoted", out.Promoted, "reason", out.Reason)
	return out, nil
}

// config applies the request's overrides to the default recipe.
func (s *Service) config(req Request, classes int) (mlp.Config, error) {
	cfg := req.Config.WithDefaults(classes)
	if err := cfg.Validate(); err != nil {
		return mlp.Config{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	return cfg, nil
}

func (ds *dataset) check(task string) error {
	trainCounts := make([]int, len(ds.labels))
	valCounts := make([]int, len(ds.labels))
	for _, y := range ds.trainY {
		trainCounts[y]++
	}
	for _, y := range ds.valY {
		valCounts[y]++
	}
	for i, l := range ds.labels {
		if trainCounts[i] == 0 || valCounts[i] == 0 {
			return fmt.Errorf("task %q: label %q has %d training and %d validation rows; each label needs both: %w",
				task, l, trainCounts[i], valCounts[i], ErrNotEnoughData)
		}
	}
	return nil
}

// decide says whether the new model replaces the current one: it must not
// be worse on the same validation set. The current model is run on the new
// validation rows through ONNX Runtime, exactly as Classify would run it.
func (s *Service) decide(ctx context.Context, task string, cur registry.Current, ds *dataset, m mlp.Metrics, force bool) (bool, string, *Comparison) {
	if cur.Version == "" {
		return true, "first model of the task", nil
	}
	prev, err := s.evaluateVersion(ctx, task, cur.Version, ds)
	if err != nil {
		s.log().Warn("cannot evaluate the current model on the new validation set", "task", task, "version", cur.Version, "error", err)
		if force {
			return true, "forced", nil
		}
		return true, "current model cannot be compared (" + err.Error() + ")", nil
	}
	switch {
	case force:
		return true, "forced", prev
	case m.Accuracy >= prev.Accuracy:
		return true, fmt.Sprintf("validation accuracy %.4f is not worse than the current model's %.4f", m.Accuracy, prev.Accuracy), prev
	default:
		return false, fmt.Sprintf("validation accuracy %.4f is worse than the current model's %.4f (use force to promote anyway)", m.Accuracy, prev.Accuracy), prev
	}
}

// evaluateVersion scores a stored version on ds's validation rows. Rows
// whose label the version does not know count as errors.
func (s *Service) evaluateVersion(ctx context.Context, task, version string, ds *dataset) (*Comparison, error) {
	h, err := s.loadHead(ctx, task, version)
	if err != nil {
		return nil, err
	}
	defer h.clf.Close()
	if h.manifest.EmbeddingModel != ds.embeddingModel {
		return nil, fmt.Errorf("it was trained on %s embeddings, not %s", h.manifest.EmbeddingModel, ds.embeddingModel)
	}
	classes := len(h.manifest.Labels)
	best, err := ds.predictValidation(ctx, s.Data, classes, h.clf.Predict)
	if err != nil {
		return nil, err
	}
	// Map its labels onto the new label indices; unknown labels get -1.
	mapped := make([]int32, len(h.manifest.Labels))
	for i, l := range h.manifest.Labels {
		if y, ok := ds.labelOf[l]; ok {
			mapped[i] = y
		} else {
			mapped[i] = -1
		}
	}
	pred := make([]int32, ds.valRows)
	for i, b := range best {
		pred[i] = mapped[b]
	}
	acc, f1 := mlp.Score(ds.valY, pred, len(ds.labels))
	return &Comparison{Version: version, Accuracy: acc, MacroF1: f1}, nil
}

// promote points current.json at version and records it in SQL. The
// conditional write fails if another promotion happened since curETag was
// read.
func (s *Service) promote(ctx context.Context, task, version, reason, curETag string) error {
	if err := s.Registry.Promote(ctx, task, version, reason, curETag); err != nil {
		return err
	}
	if err := s.Data.PromoteModel(ctx, task, version); err != nil {
		return fmt.Errorf("record promotion of %s/%s: %w", task, version, err)
	}
	return nil
}

// Rollback points the task's current model at an earlier version.
func (s *Service) Rollback(ctx context.Context, task, version string) error {
	unlock, err := s.Registry.Lock(ctx, task)
	if err != nil {
		return err
	}
	defer unlock()
	_, etag, err := s.Registry.Current(ctx, task)
	if err != nil && !errors.Is(err, registry.ErrNoModel) {
		return err
	}
	return s.promote(ctx, task, version, "rollback", etag)
}
