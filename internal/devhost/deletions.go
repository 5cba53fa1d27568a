package devhost

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/tinyhead/tinyhead/internal/customhandler"
)

// forget drops the receipts of the blobs that the last listing (seen) no
// longer has, and returns their names: blobs deleted since the last scan.
func (h *Host) forget(seen map[string]bool) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var gone []string
	for name := range h.receipts {
		if !seen[name] {
			delete(h.receipts, name)
			gone = append(gone, name)
		}
	}
	return gone
}

// deliverDeletions sends each deleted blob's BlobDeleted event to
// DeleteFunction, as Event Grid would, retrying a failed delivery up to
// MaxAttempts times (Event Grid retries for a day). Without a
// DeleteFunction, deletions are only logged. Blobs deleted while no host
// ran are not seen here: NightlyTrain repairs those.
func (h *Host) deliverDeletions(ctx context.Context, gone []string) {
	for _, name := range gone {
		if h.DeleteFunction == "" {
			h.log().Info("blob deleted; no function takes deletions", "blob", name)
			continue
		}
		h.deliverDeletion(ctx, name)
	}
}

func (h *Host) deliverDeletion(ctx context.Context, name string) {
	ev := customhandler.BlobDeletedEventFor(h.Blobs.URL(h.Container, name), h.Container, name)
	payload, err := json.Marshal(customhandler.EventGridTriggerRequest(h.DeleteFunction, h.DeleteBinding, ev))
	if err != nil {
		h.log().Error("encode the deletion event", "blob", name, "error", err)
		return
	}
	max := h.MaxAttempts
	if max <= 0 {
		max = 5
	}
	for attempt := 1; attempt <= max && ctx.Err() == nil; attempt++ {
		status, body, err := post(ctx, h.HTTP, h.HandlerURL+"/"+h.DeleteFunction, bytes.NewReader(payload))
		if err == nil && status >= 200 && status < 300 {
			var resp customhandler.InvokeResponse
			_ = json.Unmarshal(body, &resp)
			h.log().Info("blob deleted", "function", h.DeleteFunction, "blob", name, "logs", resp.Logs)
			return
		}
		h.log().Warn("invocation failed", "function", h.DeleteFunction, "blob", name, "attempt", attempt,
			"status", status, "error", err, "response", truncate(body, 500))
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
	h.log().Error("deletion event given up; NightlyTrain will delete the blob's rows", "blob", name)
}
