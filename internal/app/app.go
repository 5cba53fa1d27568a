// Package app is the custom handler's HTTP surface: one route per Azure
// Function, answering the host's invocation payloads (internal/customhandler)
// by calling the domain services (ingest, training).
package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/tinyhead/tinyhead/internal/config"
	"github.com/tinyhead/tinyhead/internal/customhandler"
	"github.com/tinyhead/tinyhead/internal/ingest"
	"github.com/tinyhead/tinyhead/internal/training"
)

// Function names; each is a folder under functions/ and a route here.
const (
	EmbedBlobFunction = "EmbedBlob"
)

// BlobBinding is the blob trigger's binding name in
// functions/EmbedBlob/function.json.
const BlobBinding = "blob"

// App holds the services the functions call.
type App struct {
	Ingest   *ingest.Pipeline
	Training *training.Service
	Log      *slog.Logger
}

// Handler routes the host's requests: GET / answers readiness, POST
// /{FunctionName} runs a function.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "tinyhead ready")
	})
	mux.HandleFunc("POST /"+EmbedBlobFunction, a.embedBlob)
	mux.HandleFunc("POST /"+TrainFunction, a.train)
	mux.HandleFunc("POST /"+ClassifyFunction, a.classify)
	mux.HandleFunc("POST /"+RollbackFunction, a.rollback)
	mux.HandleFunc("POST /"+NightlyTrainFunction, a.nightlyTrain)
	return mux
}

// embedBlob ingests the blob that triggered the invocation. The trigger's
// own copy of the content is not used: the blob is streamed from storage, so
// files larger than memory work and the ETag of what was read is known.
func (a *App) embedBlob(w http.ResponseWriter, r *http.Request) {
	var req customhandler.InvokeRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		a.fail(w, http.StatusBadRequest, fmt.Errorf("decode invocation: %w", err))
		return
	}
	container, name, err := req.BlobPath(config.IncomingContainer)
	if err != nil {
		a.fail(w, http.StatusBadRequest, err)
		return
	}
	res, err := a.Ingest.Ingest(r.Context(), container, name)
	if err != nil {
		var perm *ingest.PermanentError
		if errors.As(err, &perm) {
			err = fmt.Errorf("file cannot be ingested, retries will not help: %w", err)
		}
		a.fail(w, http.StatusInternalServerError, err)
		return
	}
	logs := []string{summary(res)}
	for _, re := range res.Rejections {
		logs = append(logs, "rejected: "+re.Error())
	}
	writeJSON(w, http.StatusOK, customhandler.InvokeResponse{Logs: logs, ReturnValue: res})
}

func summary(res ingest.Result) string {
	if res.Redelivery {
		return fmt.Sprintf("%s (etag %s) was already ingested: %d rows stored, %d rejected; nothing to do",
			res.Source, res.ETag, res.RowsOK, res.RowsRejected)
	}
	return fmt.Sprintf("%s (etag %s): %d rows stored (%d embedded, the rest reused), %d rejected, %d old rows removed, in %s",
		res.Source, res.ETag, res.RowsOK, res.Embedded, res.RowsRejected, res.Pruned, res.Elapsed.Round(1e6))
}

// fail answers with a non-2xx status, which the host counts as a failed
// invocation; the message goes to the invocation's logs.
func (a *App) fail(w http.ResponseWriter, status int, err error) {
	a.Log.Error("invocation failed", "error", err)
	writeJSON(w, status, customhandler.InvokeResponse{Logs: []string{"error: " + err.Error()}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
