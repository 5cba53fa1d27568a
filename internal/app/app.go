// Package app is the custom handler's HTTP surface: one route per Azure
// Function, answering the host's invocation payloads (internal/customhandler)
// by calling the domain services (ingest, training, serving). It is also
// the one place where the domain's error kinds become HTTP statuses
// (statusOf).
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/tinyhead/tinyhead/internal/config"
	"github.com/tinyhead/tinyhead/internal/customhandler"
	"github.com/tinyhead/tinyhead/internal/ingest"
	"github.com/tinyhead/tinyhead/internal/serving"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
	"github.com/tinyhead/tinyhead/internal/training"
)

// Function names; each is a folder under functions/ and a route here.
const (
	EmbedBlobFunction = "EmbedBlob"
)

// BlobBinding is the blob trigger's binding name in
// functions/EmbedBlob/function.json.
const BlobBinding = "blob"

// Ingester ingests one blob; *ingest.Pipeline implements it.
type Ingester interface {
	Ingest(ctx context.Context, container, name string) (ingest.Result, error)
}

// Trainer trains and moves tasks' current versions; *training.Service
// implements it.
type Trainer interface {
	Train(ctx context.Context, task string, req training.Request) (*training.Outcome, error)
	Rollback(ctx context.Context, task, version string) error
	RetrainChanged(ctx context.Context) ([]training.NightlyResult, error)
}

// Classifier serves the current versions; *serving.Service implements it.
type Classifier interface {
	// ClassifyVersion classifies with a given version ("" the current).
	ClassifyVersion(ctx context.Context, task, version string, texts []string) (*serving.Classification, error)
}

// App holds the services the functions call.
type App struct {
	Ingest   Ingester
	Removal  Remover
	Training Trainer
	Serving  Classifier
	Scoring  Scorer
	Catalog  Catalog
	Reembed  Reembedder
	// Labels labels stored documents (POST /api/labels/{task});
	// *sqlstore.Store implements it.
	Labels tinyhead.Labeler
	// Ingests lists the ingest records (GET /api/ingests);
	// *sqlstore.Store implements it.
	Ingests tinyhead.IngestLister
	Log     *slog.Logger
}

// Handler serves the host's requests (Routes). After an invocation that
// left much memory behind, the memory is returned to the operating system
// (returnMemory).
func (a *App) Handler() http.Handler { return returnMemory(a.Routes()) }

// Routes routes the host's requests: GET / answers readiness, POST
// /{FunctionName} runs a function.
func (a *App) Routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "tinyhead ready")
	})
	mux.HandleFunc("POST /"+EmbedBlobFunction, a.embedBlob)
	mux.HandleFunc("POST /"+BlobDeletedFunction, a.blobDeleted)
	mux.HandleFunc("POST /"+TrainFunction, withDeadline(a.train))
	mux.HandleFunc("POST /"+ClassifyFunction, withDeadline(a.classify))
	mux.HandleFunc("POST /"+RollbackFunction, withDeadline(a.rollback))
	mux.HandleFunc("POST /"+NightlyTrainFunction, a.nightlyTrain)
	mux.HandleFunc("POST /"+ScoreFunction, withDeadline(a.score))
	mux.HandleFunc("POST /"+SuggestFunction, withDeadline(a.suggest))
	mux.HandleFunc("POST /"+TasksFunction, withDeadline(a.tasks))
	mux.HandleFunc("POST /"+ModelsFunction, withDeadline(a.models))
	mux.HandleFunc("POST /"+ReportFunction, withDeadline(a.report))
	mux.HandleFunc("POST /"+DashboardFunction, a.dashboard)
	mux.HandleFunc("POST /"+ReembedFunction, withDeadline(a.reembed))
	mux.HandleFunc("POST /"+LabelsFunction, withDeadline(a.labels))
	mux.HandleFunc("POST /"+IngestsFunction, withDeadline(a.ingests))
	return mux
}

// APIDeadline bounds an HTTP function's work. The host answers the caller
// with a timeout after 230 s whatever the handler does; stopping a little
// earlier lets the store's retries (sized to outlast a serverless
// database's resume) give up in time to answer 503 with the reason.
const APIDeadline = 220 * time.Second

func withDeadline(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), APIDeadline)
		defer cancel()
		h(w, r.WithContext(ctx))
	}
}

// embedBlob ingests the blob that triggered the invocation. The trigger's
// own copy of the content (the whole blob, base64-encoded) is read through
// and dropped while decoding, never held: the blob is streamed from
// storage, so files larger than memory work and the ETag of what was read
// is known.
func (a *App) embedBlob(w http.ResponseWriter, r *http.Request) {
	req, err := customhandler.Decode(r.Body, BlobBinding)
	if err != nil {
		a.fail(w, http.StatusBadRequest, EmbedBlobFunction, err)
		return
	}
	container, name, err := req.BlobPath(config.IncomingContainer)
	if err != nil {
		a.fail(w, http.StatusBadRequest, EmbedBlobFunction, err)
		return
	}
	res, err := a.Ingest.Ingest(r.Context(), container, name)
	if err != nil {
		var perm *ingest.PermanentError
		if errors.As(err, &perm) {
			err = fmt.Errorf("file cannot be ingested, retries will not help: %w", err)
		}
		a.fail(w, http.StatusInternalServerError, EmbedBlobFunction, err, "blob", container+"/"+name)
		return
	}
	logs := []string{summary(res)}
	for _, re := range res.Rejections {
		logs = append(logs, "rejected: "+re.Error())
	}
	writeJSON(w, http.StatusOK, customhandler.InvokeResponse{Logs: logs, ReturnValue: res})
}

func summary(res ingest.Result) string {
	if res.Status == tinyhead.IngestDeleted {
		return fmt.Sprintf("%s (etag %s) was deleted meanwhile; nothing to do", res.Source, res.ETag)
	}
	if res.Status == tinyhead.IngestSuperseded {
		return fmt.Sprintf("%s (etag %s) was superseded by a newer version of the blob: it stopped after %d rows; nothing to retry",
			res.Source, res.ETag, res.RowsOK)
	}
	if res.Redelivery {
		return fmt.Sprintf("%s (etag %s) was already ingested: %d rows stored, %d rejected; nothing to do",
			res.Source, res.ETag, res.RowsOK, res.RowsRejected)
	}
	if res.LabelsOnly {
		return fmt.Sprintf("%s (etag %s): labels file: %d rows labelled stored documents (%d labels changed), %d rejected, in %s",
			res.Source, res.ETag, res.RowsOK, res.LabelsChanged, res.RowsRejected, res.Elapsed.Round(1e6))
	}
	return fmt.Sprintf("%s (etag %s): %d rows stored (%d embedded, the rest reused), %d rejected, %d old rows removed, in %s",
		res.Source, res.ETag, res.RowsOK, res.Embedded, res.RowsRejected, res.Pruned, res.Elapsed.Round(1e6))
}

// fail answers with a non-2xx status, which the host counts as a failed
// invocation. The host drops the Logs of a failed invocation, so the
// reason is also written as one structured line to the handler's stderr,
// which the host forwards to Application Insights; attrs name the blob or
// task.
func (a *App) fail(w http.ResponseWriter, status int, function string, err error, attrs ...any) {
	a.Log.Error("invocation failed", append([]any{"function", function, "status", status, "error", err}, attrs...)...)
	writeJSON(w, status, customhandler.InvokeResponse{Logs: []string{"error: " + err.Error()}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
