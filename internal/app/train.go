package app

import (
	"fmt"
	"net/http"

	"github.com/tinyhead/tinyhead/internal/customhandler"
	"github.com/tinyhead/tinyhead/internal/scoring"
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
	ans := trainAnswer{Outcome: out}
	logs := []string{fmt.Sprintf("trained %s version %s: accuracy %.4f, promoted %v (%s)",
		task, out.Version, out.Metrics.Accuracy, out.Promoted, out.Reason)}
	if out.Promoted {
		ans.Scoring, ans.ScoringError = a.rescore(r.Context(), task)
		logs = append(logs, scoringLine(ans.Scoring, ans.ScoringError))
	}
	respond(w, http.StatusOK, ans, logs...)
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
	ans := rollbackAnswer{Task: task, Version: req.Version, Reason: "rollback"}
	ans.Scoring, ans.ScoringError = a.rescore(r.Context(), task)
	respond(w, http.StatusOK, ans, fmt.Sprintf("%s now serves version %s", task, req.Version), scoringLine(ans.Scoring, ans.ScoringError))
}

// rollbackAnswer is Rollback's answer, with the scoring that followed.
type rollbackAnswer struct {
	Task         string          `json:"task"`
	Version      string          `json:"version"`
	Reason       string          `json:"reason"`
	Scoring      *scoring.Result `json:"scoring,omitempty"`
	ScoringError string          `json:"scoring_error,omitempty"`
}

// scoringLine is the log line of a rescore.
func scoringLine(res *scoring.Result, problem string) string {
	if res == nil {
		return problem
	}
	return res.Message
}

// nightlyTrain: the timer. It first deletes the rows of incoming blobs
// whose deletion event was missed, continues unfinished re-embeddings
// (for at most NightlyReembedBox), then retrains. Timers are never
// retried, so the invocation succeeds even when some tasks failed; the
// logs say what the reconciliation did, then list every task.
func (a *App) nightlyTrain(w http.ResponseWriter, r *http.Request) {
	var logs []string
	if line := a.reconcile(r.Context()); line != "" {
		logs = append(logs, line)
	}
	logs = append(logs, a.continueReembed(r.Context())...)
	results, err := a.Training.RetrainChanged(r.Context())
	for _, res := range results {
		line := fmt.Sprintf("%s: %s (%s)", res.Task, res.Action, res.Why)
		if res.Outcome != nil {
			line += fmt.Sprintf(": version %s, accuracy %.4f, promoted %v", res.Outcome.Version, res.Outcome.Metrics.Accuracy, res.Outcome.Promoted)
		}
		if res.ErrorMsg != "" {
			line += ": " + res.ErrorMsg
		}
		if res.Outcome != nil && res.Outcome.Promoted {
			// The task's model changed: its predictions follow.
			line += "; " + scoringLine(a.rescore(r.Context(), res.Task))
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
