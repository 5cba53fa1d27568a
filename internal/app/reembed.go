package app

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tinyhead/tinyhead/internal/reembed"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// ReembedFunction: GET /api/reembed/{model} reports how many stored texts
// have a vector of the model; POST runs (or continues) computing the
// missing ones, for at most a time box, and reports the same.
const ReembedFunction = "Reembed"

// Reembedder re-embeds stored texts; *reembed.Service implements it.
type Reembedder interface {
	Run(ctx context.Context, model string, deadline time.Time) (*reembed.Status, error)
	Status(ctx context.Context, model string) (*reembed.Status, error)
	Continue(ctx context.Context, deadline time.Time) ([]*reembed.Status, error)
}

// NightlyReembedBox is how long NightlyTrain continues unfinished
// re-embeddings before it retrains (host.json's functionTimeout is 30
// minutes).
const NightlyReembedBox = 10 * time.Minute

// continueReembed continues unfinished re-embeddings and returns a log
// line for each; a failure is logged and does not stop the nightly run.
func (a *App) continueReembed(ctx context.Context) []string {
	if a.Reembed == nil {
		return nil
	}
	sts, err := a.Reembed.Continue(ctx, time.Now().Add(NightlyReembedBox))
	var lines []string
	for _, st := range sts {
		lines = append(lines, fmt.Sprintf("re-embedding %s: embedded %d texts (%s); %d of %d texts embedded",
			st.Model, st.Run.Embedded, st.Run.Stopped, st.Embedded, st.Texts))
	}
	if err != nil {
		a.Log.Error("continuing re-embedding failed", "function", NightlyTrainFunction, "error", err)
		lines = append(lines, "re-embedding failed: "+err.Error())
	}
	return lines
}

// ReembedTimeBox is the longest a POST re-embeds: well inside APIDeadline,
// so that the last batch, the final count and the answer fit.
const ReembedTimeBox = APIDeadline - 40*time.Second

// reembedRequest is POST's optional body.
type reembedRequest struct {
	// MaxSeconds shortens the time box (at most ReembedTimeBox).
	MaxSeconds float64 `json:"max_seconds,omitempty"`
}

func (a *App) reembed(w http.ResponseWriter, r *http.Request) {
	inv, err := decodeHTTP(r)
	if err != nil {
		a.fail(w, http.StatusBadRequest, ReembedFunction, err)
		return
	}
	model := inv.param("model")
	if a.Reembed == nil {
		a.apiFail(w, ReembedFunction, model, tinyhead.Errorf(tinyhead.ErrUnavailable, "re-embedding is not configured"))
		return
	}
	if model == "" {
		a.apiFail(w, ReembedFunction, model, tinyhead.Errorf(tinyhead.ErrInvalid, "name the embedding model: /api/reembed/{model}"))
		return
	}
	if strings.EqualFold(inv.HTTP.Method, http.MethodGet) {
		st, err := a.Reembed.Status(r.Context(), model)
		if err != nil {
			a.apiFail(w, ReembedFunction, model, err)
			return
		}
		respond(w, http.StatusOK, st, fmt.Sprintf("%s: %d of %d texts embedded, %d being embedded", model, st.Embedded, st.Texts, st.Claimed))
		return
	}
	var req reembedRequest
	if err := inv.body(&req); err != nil {
		a.apiFail(w, ReembedFunction, model, tinyhead.Errorf(tinyhead.ErrInvalid, "body: %w", err))
		return
	}
	box := ReembedTimeBox
	if req.MaxSeconds < 0 {
		a.apiFail(w, ReembedFunction, model, tinyhead.Errorf(tinyhead.ErrInvalid, "max_seconds must be positive"))
		return
	}
	if s := time.Duration(req.MaxSeconds * float64(time.Second)); s > 0 && s < box {
		box = s
	}
	st, err := a.Reembed.Run(r.Context(), model, time.Now().Add(box))
	if err != nil {
		a.apiFail(w, ReembedFunction, model, err)
		return
	}
	respond(w, http.StatusOK, st, fmt.Sprintf("%s: embedded %d texts at %.1f/s (%s); %d of %d texts embedded, %d missing",
		model, st.Run.Embedded, st.Run.TextsPerSecond, st.Run.Stopped, st.Embedded, st.Texts, st.Missing))
}
