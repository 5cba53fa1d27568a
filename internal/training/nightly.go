package training

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tinyhead/tinyhead/internal/registry"
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
// current model was trained (or that has none). A failing task is reported
// and the others still run.
func (s *Service) RetrainChanged(ctx context.Context) ([]NightlyResult, error) {
	tasks, err := s.Data.Tasks(ctx, s.Embedder.ModelID())
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	var results []NightlyResult
	for _, sum := range tasks {
		if ctx.Err() != nil {
			return results, ctx.Err()
		}
		res := NightlyResult{Task: sum.Task}
		why, stale, err := s.stale(ctx, sum.Task, sum.Rows, sum.LastChange)
		switch {
		case err != nil:
			res.Action, res.Why, res.ErrorMsg = "failed", "cannot read the current model", err.Error()
		case !stale:
			res.Action, res.Why = "skipped", why
		default:
			res.Why = why
			out, err := s.Train(ctx, sum.Task, Request{})
			if err != nil {
				res.Action, res.ErrorMsg = "failed", err.Error()
				if errors.Is(err, ErrNotEnoughData) {
					res.Action = "skipped"
				}
			} else {
				res.Action, res.Outcome = "trained", out
			}
		}
		s.log().Info("nightly", "task", res.Task, "action", res.Action, "why", res.Why, "error", res.ErrorMsg)
		results = append(results, res)
	}
	return results, nil
}

// stale says whether a task needs retraining: no model, or data that
// changed (rows added, removed or relabelled) since the model's.
func (s *Service) stale(ctx context.Context, task string, rows int, lastChange time.Time) (string, bool, error) {
	cur, _, err := s.Registry.Current(ctx, task)
	if errors.Is(err, registry.ErrNoModel) {
		return "no model yet", true, nil
	}
	if err != nil {
		return "", false, err
	}
	man, err := s.Registry.Manifest(ctx, task, cur.Version)
	if err != nil {
		return "", false, err
	}
	switch {
	case man.EmbeddingModel != s.Embedder.ModelID():
		return fmt.Sprintf("current model %s uses %s embeddings", cur.Version, man.EmbeddingModel), true, nil
	case man.Data.Rows != rows:
		return fmt.Sprintf("%d labelled rows now, %d when %s was trained", rows, man.Data.Rows, cur.Version), true, nil
	case lastChange.After(man.Data.LastChange):
		return fmt.Sprintf("data changed at %s, after %s was trained", lastChange.Format(time.RFC3339), cur.Version), true, nil
	}
	return fmt.Sprintf("unchanged since %s was trained", cur.Version), false, nil
}
