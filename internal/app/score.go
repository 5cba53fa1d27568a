package app

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"

	"github.com/tinyhead/tinyhead/internal/catalog"
	"github.com/tinyhead/tinyhead/internal/scoring"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
	"github.com/tinyhead/tinyhead/internal/training"
)

// Function names of batch scoring and the registry's read API.
const (
	ScoreFunction   = "Score"
	SuggestFunction = "Suggest"
	TasksFunction   = "Tasks"
	ModelsFunction  = "Models"
	ReportFunction  = "Report"
)

// Scorer scores stored documents with the current versions;
// *scoring.Service implements it.
type Scorer interface {
	Score(ctx context.Context, task string, req scoring.Request) (*scoring.Result, error)
	Suggest(ctx context.Context, task string, n int) (*scoring.Suggestions, error)
}

// Catalog answers the registry's read API; *catalog.Service implements it.
type Catalog interface {
	Tasks(ctx context.Context) ([]catalog.Task, error)
	Models(ctx context.Context, task string) (*catalog.Models, error)
	Report(ctx context.Context, task, version string) ([]byte, error)
}

// score: POST /api/score/{task} with optional {"all": true}.
func (a *App) score(w http.ResponseWriter, r *http.Request) {
	var req scoring.Request
	task, ok := a.apiRequest(w, r, ScoreFunction, &req)
	if !ok {
		return
	}
	res, err := a.Scoring.Score(r.Context(), task, req)
	if err != nil {
		a.apiFail(w, ScoreFunction, task, err)
		return
	}
	respond(w, http.StatusOK, res, res.Message)
}

// rescore scores a task after its current version changed (a promotion or
// a rollback), within what is left of the request's time. It never fails
// the request that changed the version: the answer says what happened,
// and the next scoring call (or the nightly run) carries on.
func (a *App) rescore(ctx context.Context, task string) (*scoring.Result, string) {
	res, err := a.Scoring.Score(ctx, task, scoring.Request{})
	if err != nil {
		a.Log.Warn("scoring after a change of the current version failed", "task", task, "error", err)
		return nil, fmt.Sprintf("the stored documents were not scored with the new version (%v); POST /api/score/%s to score them", err, task)
	}
	return res, ""
}

// trainAnswer is Train's answer: the training's outcome, and the scoring
// that followed a promotion.
type trainAnswer struct {
	*training.Outcome
	Scoring      *scoring.Result `json:"scoring,omitempty"`
	ScoringError string          `json:"scoring_error,omitempty"`
}

// suggest: GET /api/tasks/{task}/suggest?n=50.
func (a *App) suggest(w http.ResponseWriter, r *http.Request) {
	inv, task, ok := a.taskRequest(w, r, SuggestFunction)
	if !ok {
		return
	}
	n := scoring.DefaultSuggestions
	if q := inv.HTTP.Query["n"]; q != "" {
		v, err := strconv.Atoi(q)
		if err != nil {
			a.apiFail(w, SuggestFunction, task, tinyhead.Errorf(tinyhead.ErrInvalid, "n=%q is not a number", q))
			return
		}
		n = v
	}
	out, err := a.Scoring.Suggest(r.Context(), task, n)
	if err != nil {
		a.apiFail(w, SuggestFunction, task, err)
		return
	}
	respond(w, http.StatusOK, out)
}

// tasks: GET /api/tasks.
func (a *App) tasks(w http.ResponseWriter, r *http.Request) {
	if _, err := decodeHTTP(r); err != nil {
		a.fail(w, http.StatusBadRequest, TasksFunction, err)
		return
	}
	out, err := a.Catalog.Tasks(r.Context())
	if err != nil {
		a.apiFail(w, TasksFunction, "", err)
		return
	}
	respond(w, http.StatusOK, map[string]any{"tasks": out})
}

// models: GET /api/models/{task}.
func (a *App) models(w http.ResponseWriter, r *http.Request) {
	_, task, ok := a.taskRequest(w, r, ModelsFunction)
	if !ok {
		return
	}
	out, err := a.Catalog.Models(r.Context(), task)
	if err != nil {
		a.apiFail(w, ModelsFunction, task, err)
		return
	}
	respond(w, http.StatusOK, out)
}

// reportAnswer carries a version's report.png. The Functions host passes
// a custom handler's http output body through as text (a string or JSON),
// never as bytes, so the PNG travels base64-encoded (see README).
type reportAnswer struct {
	Task        string `json:"task"`
	Version     string `json:"version"`
	ContentType string `json:"content_type"`
	Base64      string `json:"base64"`
}

// report: GET /api/models/{task}/{version}/report.
func (a *App) report(w http.ResponseWriter, r *http.Request) {
	inv, task, ok := a.taskRequest(w, r, ReportFunction)
	if !ok {
		return
	}
	version := inv.param("version")
	png, err := a.Catalog.Report(r.Context(), task, version)
	if err != nil {
		a.apiFail(w, ReportFunction, task, err)
		return
	}
	respond(w, http.StatusOK, reportAnswer{Task: task, Version: version, ContentType: "image/png", Base64: base64.StdEncoding.EncodeToString(png)})
}
