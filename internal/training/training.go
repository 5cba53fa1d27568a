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
	"maps"
	"slices"
	"strings"
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

// Service trains classifiers and moves the tasks' current versions.
type Service struct {
	Store    Store
	Registry Registry
	// Embedders are the embedding models a task may train on (a request's
	// "embedding_model"), the default first. Training reads only their
	// ids and dimensions.
	Embedders tinyhead.Embedders
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
	// sketch_buckets, sketch_learning_rate, sketch_weighting); zero fields keep the
	// defaults. features defaults to mlp.DefaultFeatures ("embedding"
	// with from_sql, which cannot hold the sketches).
	mlp.Config
	// Metric is what the new version is compared with the current one
	// by: "accuracy", "macro_f1" or "f1:<label>" (a label of the task).
	// By default the current version's metric, else macro-F1 on an
	// imbalanced task and accuracy otherwise (mlp.Imbalanced).
	Metric string `json:"metric,omitempty"`
	// Force promotes the new model even if it is worse than the current one.
	Force bool `json:"force,omitempty"`
	// FromSQL samples every mini-batch from the database instead of loading
	// the training matrix into memory (for tables larger than memory).
	FromSQL bool `json:"from_sql,omitempty"`
	// EmbeddingModel is the embedding model to train on, one of those
	// configured; "" is the default. The version records it, and Classify
	// embeds with it.
	EmbeddingModel string `json:"embedding_model,omitempty"`
}

// Outcome is what a training run produced; the Train function answers it.
type Outcome struct {
	Task     string   `json:"task"`
	Version  string   `json:"version"`
	Promoted bool     `json:"promoted"`
	Reason   string   `json:"reason"`
	Labels   []string `json:"labels"`
	// Metrics are the validation scores, Test the test rows' (rows marked
	// "split": "test", which training never sees) when there are any.
	Metrics mlp.Metrics  `json:"metrics"`
	Test    *mlp.Metrics `json:"test,omitempty"`
	// Threshold is a binary task's decision threshold (Classify applies it).
	Threshold      *registry.Threshold `json:"threshold,omitempty"`
	Promotion      Promotion           `json:"promotion"`
	Previous       *Comparison         `json:"previous,omitempty"`
	Rows           registry.Rows       `json:"rows"`
	Timings        registry.Timings    `json:"timings"`
	Hyperparams    mlp.Config          `json:"hyperparameters"`
	Parameters     int                 `json:"parameters"`
	Files          registry.Files      `json:"files"`
	EmbeddingModel string              `json:"embedding_model"`
	// Warning says what went wrong after the outcome was decided and
	// stored (the models table's mirror could not be updated).
	Warning string `json:"warning,omitempty"`
}

// Comparison is the current model evaluated on the new validation set
// (and test rows), deciding as it does when it serves.
type Comparison struct {
	Version  string  `json:"version"`
	Accuracy float64 `json:"accuracy"`
	MacroF1  float64 `json:"macro_f1"`
	// Score is the promotion metric.
	Score float64      `json:"score"`
	Test  *mlp.Metrics `json:"test,omitempty"`
}

// storedMetrics is the metrics JSON of model.json and the models table:
// the validation scores, and the test rows' under "test".
type storedMetrics struct {
	mlp.Metrics
	Test *mlp.Metrics `json:"test,omitempty"`
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
	emb, err := s.Embedders.Lookup(req.EmbeddingModel)
	if err != nil {
		return nil, err
	}
	sum, err := Summary(ctx, s.Store, task, emb.ModelID())
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
	if cfg.ClassWeights != nil {
		return nil, tinyhead.Errorf(tinyhead.ErrInvalid, "hyperparameters: class_weights are computed from the rows; set class_weight to %q or %q",
			mlp.ClassWeightBalanced, mlp.ClassWeightNone)
	}
	if req.Metric != "" {
		if _, err := mlp.ParseMetric(req.Metric, slices.Sorted(maps.Keys(sum.Labels))); err != nil {
			return nil, tinyhead.Errorf(tinyhead.ErrInvalid, "task %s: %w", task, err)
		}
	}
	unlock, err := s.Registry.Lock(ctx, task)
	if err != nil {
		return nil, err
	}
	defer unlock()
	s.log().Info("training started", "task", task, "rows", sum.Rows, "classes", len(sum.Labels), "steps", cfg.Steps,
		"from_sql", req.FromSQL, "embedding_model", emb.ModelID())
	cur, curETag, curProblem, err := s.current(ctx, task)
	if err != nil {
		return nil, err
	}

	ds, err := dataset.Load(ctx, s.Store, sum, dataset.Options{
		Model: emb.ModelID(), Dim: emb.Dim(), ValFraction: s.valFraction(), FromSQL: req.FromSQL})
	if err != nil {
		return nil, err
	}
	if err := ds.Check(task); err != nil {
		return nil, err
	}
	imbalanced, imbalance := balance(ds)
	metric, metricReason, err := chooseMetric(req.Metric, s.recordedMetric(ctx, task, cur.Version), cur.Version, ds, imbalanced)
	if err != nil {
		return nil, tinyhead.Errorf(tinyhead.ErrInvalid, "task %s: %w", task, err)
	}
	cfg = withClassWeights(cfg, ds)
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
	man := &registry.Manifest{
		Task: task, Version: registry.NewVersion(start), CreatedAt: start.UTC(), Labels: ds.Labels,
		EmbeddingModel: ds.EmbeddingModel, EmbeddingDim: ds.Dim, Sketch: sketchVersion(model), Parameters: model.ParamCount(),
		Rows:   registry.Rows{Train: ds.TrainRows, Validation: ds.ValRows, Test: ds.TestRows},
		Data:   registry.DataVersion{Rows: sum.Rows, LastChange: sum.LastChange},
		Metric: string(metric),
	}
	predict := dataset.ModelPredict(model)
	valProbs, err := ds.Probabilities(ctx, s.Store, dataset.Validation, model.Classes, predict)
	if err != nil {
		return nil, fmt.Errorf("evaluate task %s: %w", task, err)
	}
	man.Threshold = threshold(ds, valProbs, metric)
	scores, err := scoreHeldOut(ctx, ds, s.Store, man, predict, valProbs)
	if err != nil {
		return nil, fmt.Errorf("evaluate task %s: %w", task, err)
	}
	metrics := scores.val

	out := &Outcome{
		Task:           task,
		Version:        man.Version,
		Labels:         ds.Labels,
		Metrics:        metrics,
		Test:           scores.test,
		Threshold:      man.Threshold,
		Rows:           man.Rows,
		Hyperparams:    cfg,
		Parameters:     man.Parameters,
		EmbeddingModel: ds.EmbeddingModel,
		Promotion: Promotion{Metric: metric, MetricReason: metricReason, Imbalance: imbalance,
			Score: metric.Score(metrics, ds.Labels)},
	}
	if curProblem != "" {
		out.Promoted, out.Reason = true, curProblem
	} else if err = s.decide(ctx, task, cur.Version, ds, out, req.Force); err != nil {
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
	mj, err := json.Marshal(storedMetrics{Metrics: metrics, Test: scores.test})
	if err != nil {
		return nil, fmt.Errorf("encode metrics of %s: %w", task, err)
	}
	pj, err := json.Marshal(out.Promotion)
	if err != nil {
		return nil, fmt.Errorf("encode promotion of %s: %w", task, err)
	}
	man.Hyperparams, man.Metrics, man.Promotion = hp, mj, pj
	man.Decision = registry.Decision{Promoted: out.Promoted, Reason: out.Reason}
	man.Timings = registry.Timings{Load: out.Timings.Load, Train: out.Timings.Train, Total: time.Since(start).Seconds()}
	if err := s.Registry.Save(ctx, man, model.ONNX().Marshal(), png); err != nil {
		return nil, err
	}
	out.Files = man.Files
	if err := s.Store.RecordModel(ctx, tinyhead.ModelRecord{Task: task, Version: out.Version, CreatedAt: start.UTC(),
		Rows: ds.TrainRows + ds.ValRows + ds.TestRows, Metrics: string(mj), BlobPath: man.Files.ONNX}); err != nil {
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
		"metric", metric, "score", out.Promotion.Score, "rows", ds.TrainRows+ds.ValRows+ds.TestRows, "train_s", out.Timings.Train, "promoted", out.Promoted, "reason", out.Reason)
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

// recordedMetric is the promotion metric the task's current version
// recorded, or "" (none, or its manifest cannot be read: decide deals
// with that).
func (s *Service) recordedMetric(ctx context.Context, task, curVersion string) string {
	if curVersion == "" {
		return ""
	}
	man, err := s.Registry.Manifest(ctx, task, curVersion)
	if err != nil {
		return ""
	}
	return man.Metric
}

// decide says whether the new model replaces the current one: it must not
// be worse by out's promotion metric on the same validation rows. The
// current model is run on the new validation rows and decides the way
// Classify runs it (its own threshold, on its own embedding model's
// vectors of those rows, so that versions trained on different embedding
// models are compared on the same split). It fills out's Promoted,
// Reason, Previous and Promotion. A current model that is gone or
// unusable for good (missing artifacts, a file that cannot be loaded, an
// embedding model that is not configured or has not embedded every
// validation row) is replaced, and the reason says so; any other failure
// to score it fails the decision, so that a passing storage error never
// promotes an unchecked model.
func (s *Service) decide(ctx context.Context, task, curVersion string, ds *dataset.Dataset, out *Outcome, force bool) error {
	if curVersion == "" {
		out.Promoted, out.Reason = true, "first model of the task"
		return nil
	}
	prev, err := s.scoreVersion(ctx, task, curVersion, ds, out.Promotion.Metric)
	switch {
	case errors.Is(err, tinyhead.ErrNotFound), errors.Is(err, tinyhead.ErrInvalid):
		s.log().Warn("the current model cannot be used; the new version replaces it", "task", task, "version", curVersion, "error", err)
		out.Promoted, out.Reason = true, fmt.Sprintf("the current model %s cannot be used (%v); replaced", curVersion, err)
		return nil
	case err != nil:
		if tinyhead.KindOf(err) == nil {
			err = tinyhead.WithKind(tinyhead.ErrUnavailable, err)
		}
		return fmt.Errorf("score the current model %s/%s on the new validation rows (nothing was promoted; retry): %w", task, curVersion, err)
	}
	p := &out.Promotion
	out.Previous, p.Previous, p.Tie = prev, &prev.Score, p.Score == prev.Score
	name := strings.ReplaceAll(string(p.Metric), "_", "-")
	switch {
	case force:
		out.Promoted, out.Reason = true, "forced"
	case p.Score >= prev.Score:
		out.Promoted, out.Reason = true, fmt.Sprintf("validation %s %.4f is not worse than the current model's %.4f", name, p.Score, prev.Score)
	default:
		out.Promoted, out.Reason = false, fmt.Sprintf("validation %s %.4f is worse than the current model's %.4f (use force to promote anyway)", name, p.Score, prev.Score)
	}
	return nil
}

// scoreVersion scores a stored version on ds's validation (and test)
// rows, deciding as it does when it serves. Rows whose label the version
// does not know count as errors.
func (s *Service) scoreVersion(ctx context.Context, task, version string, ds *dataset.Dataset, metric mlp.Metric) (*Comparison, error) {
	h, err := s.Registry.LoadHead(ctx, task, version)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	man := h.Manifest
	emb, err := s.Embedders.Lookup(man.EmbeddingModel)
	if err != nil {
		return nil, tinyhead.Errorf(tinyhead.ErrInvalid, "it was trained on %s embeddings: %w", man.EmbeddingModel, err)
	}
	if emb.Dim() != man.EmbeddingDim {
		return nil, tinyhead.Errorf(tinyhead.ErrInvalid, "it was trained on %d-d %s embeddings; the model configured under that id is %d-d",
			man.EmbeddingDim, man.EmbeddingModel, emb.Dim())
	}
	if man.Sketch != "" {
		if man.Sketch != sketch.Version {
			return nil, tinyhead.Errorf(tinyhead.ErrInvalid, "it reads %s sketches, not %s", man.Sketch, sketch.Version)
		}
		if err := s.loadSketches(ctx, task, ds); err != nil {
			return nil, err
		}
	}
	sc, err := scoreHeldOut(ctx, ds, s.Store, h.Manifest, h.Predict, nil)
	if err != nil {
		return nil, err
	}
	return &Comparison{Version: version, Accuracy: sc.val.Accuracy, MacroF1: sc.val.MacroF1,
		Score: metric.Score(sc.val, ds.Labels), Test: sc.test}, nil
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
