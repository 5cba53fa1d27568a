package customhandler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tinyhead/tinyhead/internal/blobstore"
)

// EventGridEvent is an Event Grid event in the Event Grid schema, the
// value of an eventGridTrigger binding.
type EventGridEvent struct {
	ID              string          `json:"id"`
	Topic           string          `json:"topic"`
	Subject         string          `json:"subject"`
	EventType       string          `json:"eventType"`
	EventTime       time.Time       `json:"eventTime"`
	Data            json.RawMessage `json:"data"`
	DataVersion     string          `json:"dataVersion"`
	MetadataVersion string          `json:"metadataVersion"`
}

// StorageBlobEventData is the data of a Microsoft.Storage.Blob* event.
type StorageBlobEventData struct {
	API         string `json:"api"`
	RequestID   string `json:"requestId"`
	ContentType string `json:"contentType"`
	BlobType    string `json:"blobType"`
	URL         string `json:"url"`
	Sequencer   string `json:"sequencer"`
}

// Storage event types.
const (
	BlobCreatedEvent = "Microsoft.Storage.BlobCreated"
	BlobDeletedEvent = "Microsoft.Storage.BlobDeleted"
)

// EventGridTriggerRequest builds the invocation the Functions host sends
// for an eventGridTrigger binding named binding: the event, as an object,
// under the binding's name; in Metadata the event's data (the trigger's
// one binding-data field, "data") and sys. The local development host and
// the tests use it to play the host.
func EventGridTriggerRequest(function, binding string, ev EventGridEvent) InvokeRequest {
	meta := map[string]json.RawMessage{"sys": sys(function)}
	if len(ev.Data) > 0 {
		meta["data"] = ev.Data
	}
	return InvokeRequest{
		Data:     map[string]json.RawMessage{binding: mustJSON(ev)},
		Metadata: meta,
	}
}

// BlobDeletedEventFor builds the Microsoft.Storage.BlobDeleted event that
// storage publishes when the blob at url (container/name) is deleted.
func BlobDeletedEventFor(url, container, name string) EventGridEvent {
	now := time.Now().UTC()
	return EventGridEvent{
		ID:        randomID(),
		Topic:     "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/account",
		Subject:   "/blobServices/default/containers/" + container + "/blobs/" + name,
		EventType: BlobDeletedEvent,
		EventTime: now,
		Data: mustJSON(StorageBlobEventData{
			API: "DeleteBlob", RequestID: randomID(), ContentType: "application/octet-stream", BlobType: "BlockBlob",
			URL: url, Sequencer: fmt.Sprintf("%032X", now.UnixNano()),
		}),
		MetadataVersion: "1",
	}
}

// EventGridEvent decodes an eventGridTrigger binding's value: the event as
// an object, or as a string holding it (as the host passes a trigger value
// bound as a string), leniently as MetaString reads strings.
func (r *InvokeRequest) EventGridEvent(binding string) (EventGridEvent, error) {
	var ev EventGridEvent
	raw, ok := r.Data[binding]
	if !ok {
		return ev, fmt.Errorf("binding %q is missing from Data", binding)
	}
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) > 0 && trimmed[0] == '"' {
		trimmed = []byte(lenientString(raw))
	}
	if err := json.Unmarshal(trimmed, &ev); err != nil {
		return ev, fmt.Errorf("binding %q: want an Event Grid event: %w", binding, err)
	}
	return ev, nil
}

// BlobPath returns the container and the blob name a storage event is
// about: from the subject (/blobServices/default/containers/<container>/blobs/<name>,
// the name as it is), or else from the data's url.
func (ev EventGridEvent) BlobPath() (container, name string, err error) {
	if rest, ok := strings.CutPrefix(ev.Subject, "/blobServices/default/containers/"); ok {
		if c, n, ok := strings.Cut(rest, "/blobs/"); ok && c != "" && n != "" {
			return c, n, nil
		}
	}
	var data StorageBlobEventData
	if len(ev.Data) > 0 {
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			return "", "", fmt.Errorf("event %s: data: %w", ev.ID, err)
		}
	}
	if data.URL == "" {
		return "", "", fmt.Errorf("event %s names no blob: subject %q, no data.url", ev.ID, ev.Subject)
	}
	return blobstore.SplitBlobURL(data.URL)
}
