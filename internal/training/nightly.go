package training

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// NightlyResult says what the nightly run did with one task.
type NightlyResult struct {
	Task     string   `json:"task"`
	Action   string   `json:"action"` // "trained", "skipped" or "failed"
	Why      string   `json:"why"`
	Outcome  *Outcome `json:"outcome,omitempty"`
	ErrorMsg string   `json:"error,omitempty"`
}

// RetrainChanged retrains every task whose labelled data changed since its
// current model was trained (or that has none), on the embedding model its
// current version uses (the default for a task without one, or one whose
// model is no longer configured). A failing task is reported and the
// others still run.
func (s *Service) RetrainChanged(ctx context.Context) ([]NightlyResult, error) {
	byModel := map[string]map[string]tinyhead.TaskSummary{} // model → task → summary
	var names []string
	for _, e := range s.Embedders {
		tasks, err := s.Store.Tasks(ctx, e.ModelID())
		if err != nil {
			return nil, fmt.Errorf("list tasks of %s: %w", e.ModelID(), err)
		}
		byModel[e.ModelID()] = map[string]tinyhead.TaskSummary{}
		for _, t := range tasks {
			if !slices.Contains(names, t.Task) {
				names = append(names, t.Task)
			}
			byModel[e.ModelID()][t.Task] = t
		}
	}
	slices.Sort(names)
	var results []NightlyResult
	for _, name := range names {
		if ctx.Err() != nil {
			return results, ctx.Err()
		}
		res := NightlyResult{Task: name}
		if err := tinyhead.CheckTaskName(name); err != nil {
			// Labels stored before ingest checked task names: such a task
			// is never trained (its name would become a models path).
			res.Action, res.Why = "skipped", err.Error()+"; re-upload its rows under a valid task name"
			s.log().Warn("nightly", "task", res.Task, "action", res.Action, "why", res.Why)
			results = append(results, res)
			continue
		}
		model := s.taskModel(ctx, name)
		sum, ok := byModel[model][name]
		if !ok {
			res.Action, res.Why = "skipped", fmt.Sprintf("no labelled documents embedded by %s, the model it trains on (re-embed them: POST /api/reembed/%s)", model, model)
			s.log().Info("nightly", "task", res.Task, "action", res.Action, "why", res.Why)
			results = append(results, res)
			continue
		}
		why, stale, err := s.stale(ctx, sum, model)
		switch {
		case err != nil:
			res.Action, res.Why, res.ErrorMsg = "failed", "cannot read the current model", err.Error()
		case !stale:
			res.Action, res.Why = "skipped", why
		default:
			res.Why = why
			out, err := s.Train(ctx, sum.Task, Request{EmbeddingModel: model})
			switch {
			case errors.Is(err, tinyhead.ErrUnprocessable), errors.Is(err, tinyhead.ErrInvalid):
				res.Action, res.ErrorMsg = "skipped", err.Error()
			case err != nil:
				res.Action, res.ErrorMsg = "failed", err.Error()
			default:
				res.Action, res.Outcome = "trained", out
			}
		}
		s.log().Info("nightly", "task", res.Task, "action", res.Action, "why", res.Why, "error", res.ErrorMsg)
		results = append(results, res)
	}
	return results, nil
}

// taskModel is the embedding model a task retrains on: its current
// version's, if that model is configured, else the default.
func (s *Service) taskModel(ctx context.Context, task string) string {
	def := s.Embedders.Default().ModelID()
	cur, _, err := s.Registry.Current(ctx, task)
	if err != nil || cur.Version == "" {
		return def
	}
	man, err := s.Registry.Manifest(ctx, task, cur.Version)
	if err != nil {
		return def // stale says why
	}
	if _, err := s.Embedders.Lookup(man.EmbeddingModel); err != nil || man.EmbeddingModel == "" {
		return def
	}
	return man.EmbeddingModel
}

// stale says whether a task needs retraining on model: no model, a model
// of other embeddings, or data that changed (rows added, removed or
// relabelled) since the model's. It also repairs the models table's
// promoted mirror.
func (s *Service) stale(ctx context.Context, sum tinyhead.TaskSummary, model string) (string, bool, error) {
	if err := tinyhead.CheckTaskName(sum.Task); err != nil {
		return "", false, err
	}
	cur, _, problem, err := s.current(ctx, sum.Task)
	switch {
	case err != nil:
		return "", false, err
	case problem != "":
		return problem, true, nil
	case cur.Version == "":
		return "no model yet", true, nil
	}
	man, err := s.Registry.Manifest(ctx, sum.Task, cur.Version)
	switch {
	case errors.Is(err, tinyhead.ErrNotFound), errors.Is(err, tinyhead.ErrInvalid):
		return fmt.Sprintf("current model %s cannot be read (%v)", cur.Version, err), true, nil
	case err != nil:
		return "", false, err
	case man.EmbeddingModel != model:
		return fmt.Sprintf("current model %s uses %s embeddings", cur.Version, man.EmbeddingModel), true, nil
	case man.Data.Rows != sum.Rows:
		return fmt.Sprintf("%d labelled rows now, %d when %s was trained", sum.Rows, man.Data.Rows, cur.Version), true, nil
	case sum.LastChange.After(man.Data.LastChange):
		return fmt.Sprintf("data changed at %s, after %s was trained", sum.LastChange.Format(time.RFC3339), cur.Version), true, nil
	}
	return fmt.Sprintf("unchanged since %s was trained", cur.Version), false, nil
}
