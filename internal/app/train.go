package app

import (
	"fmt"
	"net/http"

	"github.com/tinyhead/tinyhead/internal/customhandler"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
	"github.com/tinyhead/tinyhead/internal/training"
)

// Function names of the training side.
const (
	TrainFunction        = "Train"
	ClassifyFunction     = "Classify"
	NightlyTrainFunction = "NightlyTrain"
	RollbackFunction     = "Rollback"
	TimerBinding         = "timer"
)

// train: POST /api/train/{task} with optional hyperparameter overrides.
func (a *App) train(w http.ResponseWriter, r *http.Request) {
	var req training.Request
	task, ok := a.apiRequest(w, r, TrainFunction, &req)
	if !ok {
		return
	}
	out, err := a.Training.Train(r.Context(), task, req)
	if err != nil {
		a.apiFail(w, TrainFunction, task, err)
		return
	}
	respond(w, http.StatusOK, out, fmt.Sprintf("trained %s version %s: accuracy %.4f, promoted %v (%s)",
		task, out.Version, out.Metrics.Accuracy, out.Promoted, out.Reason))
}

// classify: POST /api/classify/{task} with {"texts": [...]} and
// optionally "version", to run a version other than the promoted one.
func (a *App) classify(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Texts   []string `json:"texts"`
		Version string   `json:"version"`
	}
	task, ok := a.apiRequest(w, r, ClassifyFunction, &req)
	if !ok {
		return
	}
	out, err := a.Serving.ClassifyVersion(r.Context(), task, req.Version, req.Texts)
	if err != nil {
		a.apiFail(w, ClassifyFunction, task, err)
		return
	}
	respond(w, http.StatusOK, out)
}

// rollback: POST /api/models/{task}/rollback with {"version": "..."}.
func (a *App) rollback(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Version string `json:"version"`
	}
	task, ok := a.apiRequest(w, r, RollbackFunction, &req)
	if !ok {
		return
	}
	if req.Version == "" {
		a.apiFail(w, RollbackFunction, task, tinyhead.Errorf(tinyhead.ErrInvalid, `body must be {"version": "<version>"}`))
		return
	}
	if err := a.Training.Rollback(r.Context(), task, req.Version); err != nil {
		a.apiFail(w, RollbackFunction, task, err)
		return
	}
	respond(w, http.StatusOK, map[string]string{"task": task, "version": req.Version, "reason": "rollback"},
		fmt.Sprintf("%s now serves version %s", task, req.Version))
}

// nightlyTrain: the timer. It first deletes the rows of incoming blobs
// whose deletion event was missed, then retrains. Timers are never
// retried, so the invocation succeeds even when some tasks failed; the
// logs say what the reconciliation did, then list every task.
func (a *App) nightlyTrain(w http.ResponseWriter, r *http.Request) {
	var logs []string
	if line := a.reconcile(r.Context()); line != "" {
		logs = append(logs, line)
	}
	results, err := a.Training.RetrainChanged(r.Context())
	for _, res := range results {
		line := fmt.Sprintf("%s: %s (%s)", res.Task, res.Action, res.Why)
		if res.Outcome != nil {
			line += fmt.Sprintf(": version %s, accuracy %.4f, promoted %v", res.Outcome.Version, res.Outcome.Metrics.Accuracy, res.Outcome.Promoted)
		}
		if res.ErrorMsg != "" {
			line += ": " + res.ErrorMsg
		}
		logs = append(logs, line)
	}
	if err != nil {
		a.fail(w, http.StatusInternalServerError, NightlyTrainFunction, err)
		return
	}
	for _, res := range results {
		if res.Action == "failed" {
			// The invocation succeeds (timers are not retried), so its Logs
			// reach the host; the line on stderr makes the failure searchable too.
			a.Log.Error("nightly training of a task failed", "function", NightlyTrainFunction, "task", res.Task, "error", res.ErrorMsg)
		}
	}
	if len(results) == 0 {
		logs = append(logs, "no labelled tasks")
	}
	writeJSON(w, http.StatusOK, customhandler.InvokeResponse{Logs: logs, ReturnValue: results})
}
