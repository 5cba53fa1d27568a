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

// TaskState is a task's labelled data on the embedding model it trains
// on, and whether that data changed since its current model was trained.
type TaskState struct {
	Task string
	// Model is the embedding model the task trains on (taskModel), and
	// Summary its labelled documents embedded by it; Embedded is false
	// when there are none (Summary is then empty).
	Model    string
	Summary  tinyhead.TaskSummary
	Embedded bool
	// Err is why the task cannot be trained at all (a name stored before
	// names were checked), or why its current model could not be read;
	// otherwise Stale says whether it needs training, and Why why.
	Err   error
	Stale bool
	Why   string
}

// States reports every task with labelled documents of a configured
// embedding model, in name order: what the nightly run reads before
// deciding to train. It also repairs the models table's promoted mirror.
func (s *Service) States(ctx context.Context) ([]TaskState, error) {
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
	var out []TaskState
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		st := TaskState{Task: name}
		if st.Err = tinyhead.CheckTaskName(name); st.Err != nil {
			out = append(out, st)
			continue
		}
		st.Model = s.taskModel(ctx, name)
		st.Summary, st.Embedded = byModel[st.Model][name]
		if st.Embedded {
			st.Why, st.Stale, st.Err = s.stale(ctx, st.Summary, st.Model)
		}
		out = append(out, st)
	}
	return out, nil
}

// RetrainChanged retrains every task whose labelled data changed since its
// current model was trained (or that has none), on the embedding model its
// current version uses (the default for a task without one, or one whose
// model is no longer configured). A failing task is reported and the
// others still run.
func (s *Service) RetrainChanged(ctx context.Context) ([]NightlyResult, error) {
	states, err := s.States(ctx)
	if err != nil && len(states) == 0 {
		return nil, err
	}
	results := make([]NightlyResult, 0, len(states))
	for _, st := range states {
		if ctx.Err() != nil {
			return results, ctx.Err()
		}
		res := NightlyResult{Task: st.Task}
		switch {
		case st.Model == "":
			// Labels stored before ingest checked task names: such a task
			// is never trained (its name would become a models path).
			res.Action, res.Why = "skipped", st.Err.Error()+"; re-upload its rows under a valid task name"
			s.log().Warn("nightly", "task", res.Task, "action", res.Action, "why", res.Why)
			results = append(results, res)
			continue
		case !st.Embedded:
			res.Action, res.Why = "skipped", fmt.Sprintf("no labelled documents embedded by %s, the model it trains on (re-embed them: POST /api/reembed/%s)", st.Model, st.Model)
		case st.Err != nil:
			res.Action, res.Why, res.ErrorMsg = "failed", "cannot read the current model", st.Err.Error()
		case !st.Stale:
			res.Action, res.Why = "skipped", st.Why
		default:
			res.Why = st.Why
			out, err := s.Train(ctx, st.Task, Request{EmbeddingModel: st.Model})
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
	return results, err
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
