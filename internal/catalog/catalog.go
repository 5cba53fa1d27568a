// Package catalog answers the read API of the model registry: the tasks
// with their labels and current versions, every version of a task, and a
// version's report. It reads what training wrote (the SQL labels, the
// registry's blobs) and writes nothing but the repairs training's own
// checks make (the models table's promoted mirror).
package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tinyhead/tinyhead/internal/registry"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
	"github.com/tinyhead/tinyhead/internal/training"
)

// Registry is where versions are read; *registry.Registry implements it.
type Registry interface {
	Current(ctx context.Context, task string) (cur registry.Current, etag string, err error)
	Manifest(ctx context.Context, task, version string) (*registry.Manifest, error)
	Versions(ctx context.Context, task string) ([]string, error)
	Report(ctx context.Context, task, version string) ([]byte, error)
}

// Training reports the tasks' states as the nightly run sees them;
// *training.Service implements it.
type Training interface {
	States(ctx context.Context) ([]training.TaskState, error)
}

// Service answers the read API.
type Service struct {
	Registry Registry
	Training Training
}

// Task is one task in GET /api/tasks.
type Task struct {
	Task           string         `json:"task"`
	EmbeddingModel string         `json:"embedding_model"`
	Rows           int            `json:"rows"`   // labelled documents
	Labels         map[string]int `json:"labels"` // documents per label
	LastChange     time.Time      `json:"last_change"`
	// Current is the version the task serves; null before the first
	// training.
	Current *Current `json:"current"`
	// Changed says whether the labelled data changed since Current was
	// trained (the nightly run retrains such tasks); Why says how.
	Changed bool   `json:"changed"`
	Why     string `json:"why"`
}

// Current is a task's current version.
type Current struct {
	Version    string          `json:"version"`
	TrainedAt  time.Time       `json:"trained_at"`
	PromotedAt time.Time       `json:"promoted_at"`
	Reason     string          `json:"reason"` // why it was promoted ("rollback", …)
	Metrics    json.RawMessage `json:"metrics"`
}

// Tasks lists every task with labelled documents of a configured
// embedding model, with the data on the model it trains on.
func (s *Service) Tasks(ctx context.Context) ([]Task, error) {
	states, err := s.Training.States(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	out := make([]Task, 0, len(states))
	for _, st := range states {
		t := Task{Task: st.Task, EmbeddingModel: st.Model, Rows: st.Summary.Rows, Labels: st.Summary.Labels,
			LastChange: st.Summary.LastChange, Changed: st.Stale, Why: st.Why}
		switch {
		case st.Model == "":
			t.Why = st.Err.Error() // a name stored before names were checked: never trained
			out = append(out, t)
			continue
		case !st.Embedded:
			t.Why = fmt.Sprintf("no labelled documents embedded by %s, the model it trains on", st.Model)
		case st.Err != nil:
			return nil, fmt.Errorf("task %s: %w", st.Task, st.Err)
		}
		if t.Labels == nil {
			t.Labels = map[string]int{}
		}
		if t.Current, err = s.current(ctx, st.Task); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// current reads a task's current version and its manifest; nil when the
// task has none (or its pointer is unreadable, which training repairs).
func (s *Service) current(ctx context.Context, task string) (*Current, error) {
	cur, _, err := s.Registry.Current(ctx, task)
	if errors.Is(err, tinyhead.ErrNotFound) || errors.Is(err, tinyhead.ErrInvalid) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c := &Current{Version: cur.Version, PromotedAt: cur.PromotedAt, Reason: cur.Reason}
	man, err := s.Registry.Manifest(ctx, task, cur.Version)
	switch {
	case errors.Is(err, tinyhead.ErrNotFound), errors.Is(err, tinyhead.ErrInvalid):
		return c, nil // the version is unusable; Stale says so
	case err != nil:
		return nil, err
	}
	c.TrainedAt, c.Metrics = man.CreatedAt, man.Metrics
	return c, nil
}

// Version is one version in GET /api/models/{task}: its manifest (labels,
// metrics, hyperparameters, rows, timings, the training's promotion
// decision) and whether the task serves it now.
type Version struct {
	*registry.Manifest
	Current bool `json:"current"`
}

// Models is GET /api/models/{task}'s answer.
type Models struct {
	Task string `json:"task"`
	// Current is current.json's version and why it became current; ""
	// before the first training.
	Current    string    `json:"current"`
	PromotedAt time.Time `json:"promoted_at"`
	Reason     string    `json:"reason"`
	Versions   []Version `json:"versions"` // oldest first
}

// Models lists every version of a task, oldest first. A task without any
// is tinyhead.ErrNotFound. A version whose manifest is unreadable is left
// out (it cannot be served or rolled back to either).
func (s *Service) Models(ctx context.Context, task string) (*Models, error) {
	if err := tinyhead.CheckTaskName(task); err != nil {
		return nil, err
	}
	versions, err := s.Registry.Versions(ctx, task)
	if err != nil {
		return nil, err
	}
	if len(versions) == 0 {
		return nil, tinyhead.Errorf(tinyhead.ErrNotFound, "task %q has no trained versions", task)
	}
	out := &Models{Task: task, Versions: make([]Version, 0, len(versions))}
	cur, _, err := s.Registry.Current(ctx, task)
	switch {
	case err == nil:
		out.Current, out.PromotedAt, out.Reason = cur.Version, cur.PromotedAt, cur.Reason
	case !errors.Is(err, tinyhead.ErrNotFound) && !errors.Is(err, tinyhead.ErrInvalid):
		return nil, err
	}
	for _, v := range versions {
		man, err := s.Registry.Manifest(ctx, task, v)
		if errors.Is(err, tinyhead.ErrNotFound) || errors.Is(err, tinyhead.ErrInvalid) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out.Versions = append(out.Versions, Version{Manifest: man, Current: v == out.Current})
	}
	return out, nil
}

// Report returns a version's report.png.
func (s *Service) Report(ctx context.Context, task, version string) ([]byte, error) {
	return s.Registry.Report(ctx, task, version)
}
