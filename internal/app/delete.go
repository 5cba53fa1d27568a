package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/tinyhead/tinyhead/internal/config"
	"github.com/tinyhead/tinyhead/internal/customhandler"
	"github.com/tinyhead/tinyhead/internal/ingest"
)

// The deletion side: an Event Grid trigger subscribed to the incoming
// container's BlobDeleted events.
const (
	BlobDeletedFunction = "BlobDeleted"
	// EventBinding is the Event Grid trigger's binding name in
	// functions/BlobDeleted/function.json.
	EventBinding = "event"
)

// Remover deletes the rows of blobs that are gone; *ingest.Remover
// implements it.
type Remover interface {
	Removed(ctx context.Context, container, name string) (ingest.Removal, error)
	Reconcile(ctx context.Context, container string) (ingest.Reconciliation, error)
}

// blobDeleted handles a Microsoft.Storage.BlobDeleted event of the
// incoming container: the blob's rows are deleted unless the blob exists
// again. Other events and containers are answered 200 and ignored. A
// failure answers 500: the host fails the invocation and Event Grid
// delivers the event again.
func (a *App) blobDeleted(w http.ResponseWriter, r *http.Request) {
	var req customhandler.InvokeRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		a.fail(w, http.StatusBadRequest, BlobDeletedFunction, fmt.Errorf("decode invocation: %w", err))
		return
	}
	ev, err := req.EventGridEvent(EventBinding)
	if err != nil {
		a.fail(w, http.StatusBadRequest, BlobDeletedFunction, err)
		return
	}
	if ev.EventType != customhandler.BlobDeletedEvent {
		a.ignore(w, fmt.Sprintf("event %s is a %s, not a %s: ignored", ev.ID, ev.EventType, customhandler.BlobDeletedEvent))
		return
	}
	container, name, err := ev.BlobPath()
	if err != nil {
		a.fail(w, http.StatusBadRequest, BlobDeletedFunction, err)
		return
	}
	if container != config.IncomingContainer {
		a.ignore(w, fmt.Sprintf("event %s is about %s/%s, outside %s/: ignored", ev.ID, container, name, config.IncomingContainer))
		return
	}
	rem, err := a.Removal.Removed(r.Context(), container, name)
	if err != nil {
		a.fail(w, http.StatusInternalServerError, BlobDeletedFunction, err, "blob", container+"/"+name)
		return
	}
	line := fmt.Sprintf("%s was deleted: %d documents deleted with their labels", rem.Source, rem.Deleted)
	if rem.Exists {
		line = fmt.Sprintf("%s exists again (etag %s): its rows are its new version's, nothing deleted", rem.Source, rem.ETag)
	}
	writeJSON(w, http.StatusOK, customhandler.InvokeResponse{Logs: []string{line}, ReturnValue: rem})
}

func (a *App) ignore(w http.ResponseWriter, why string) {
	a.Log.Warn("event ignored", "function", BlobDeletedFunction, "why", why)
	writeJSON(w, http.StatusOK, customhandler.InvokeResponse{Logs: []string{why}})
}

// reconcile deletes the rows of incoming blobs whose deletion was missed,
// before the nightly training selects its tasks. It returns the log line
// of the invocation; a failure deletes nothing more and does not stop the
// training.
func (a *App) reconcile(ctx context.Context) string {
	if a.Removal == nil {
		return ""
	}
	rec, err := a.Removal.Reconcile(ctx, config.IncomingContainer)
	line := fmt.Sprintf("reconciled %s/ with the store: %d blobs with rows, %d gone, %d documents deleted",
		rec.Container, rec.Sources, len(rec.Removed), rec.Deleted)
	if err != nil {
		a.Log.Error("reconcile failed; the rows of blobs not yet checked are kept until the next run",
			"function", NightlyTrainFunction, "error", err, "removed", len(rec.Removed))
		return line + "; then failed, the rest is kept until the next run: " + err.Error()
	}
	a.Log.Info("reconciled", "function", NightlyTrainFunction, "container", rec.Container,
		"sources", rec.Sources, "removed", len(rec.Removed), "documents_deleted", rec.Deleted)
	return line
}
