package customhandler

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// BlobProperties are the blob properties the host puts in a blob
// trigger's metadata.
type BlobProperties struct {
	ETag          string    `json:"ETag"`
	ContentLength int64     `json:"ContentLength"`
	ContentType   string    `json:"ContentType"`
	LastModified  time.Time `json:"LastModified"`
	BlobType      string    `json:"BlobType"`
}

// BlobTriggerRequest builds the invocation the Functions host sends for a
// blob trigger declared with "dataType": "binary": the content base64-encoded
// under the binding's name; in Metadata the blob Uri, the {name} path
// parameter, Properties and sys — each string JSON-encoded a second time, as
// the host does — and no BlobTrigger key (the host drops keys ending in
// "Trigger"). The local development host and the tests use it to play the
// host.
func BlobTriggerRequest(function, binding, uri, name string, content []byte, props BlobProperties) InvokeRequest {
	props.ContentLength = int64(len(content))
	if props.BlobType == "" {
		props.BlobType = "BlockBlob"
	}
	return InvokeRequest{
		Data: map[string]json.RawMessage{
			binding: mustJSON(base64.StdEncoding.EncodeToString(content)),
		},
		Metadata: map[string]json.RawMessage{
			"Uri":        twice(uri),
			"name":       twice(name),
			"Properties": mustJSON(props),
			"Metadata":   mustJSON(map[string]string{}),
			"sys":        sys(function),
		},
	}
}

// HTTPTriggerRequest builds the invocation for an httpTrigger binding named
// binding (conventionally "req").
func HTTPTriggerRequest(function, binding string, req HTTPRequest) InvokeRequest {
	meta := map[string]json.RawMessage{"sys": sys(function)}
	for k, v := range req.Params {
		meta[k] = twice(v)
	}
	return InvokeRequest{
		Data:     map[string]json.RawMessage{binding: mustJSON(req)},
		Metadata: meta,
	}
}

// TimerTriggerRequest builds the invocation for a timerTrigger binding.
func TimerTriggerRequest(function, binding string, pastDue bool) InvokeRequest {
	now := time.Now().UTC()
	return InvokeRequest{
		Data: map[string]json.RawMessage{binding: mustJSON(TimerInfo{
			Schedule:       mustJSON(map[string]bool{"AdjustForDST": true}),
			ScheduleStatus: mustJSON(map[string]time.Time{"Last": now.Add(-24 * time.Hour), "Next": now.Add(24 * time.Hour), "LastUpdated": now}),
			IsPastDue:      pastDue,
		})},
		Metadata: map[string]json.RawMessage{"sys": sys(function)},
	}
}

func sys(function string) json.RawMessage {
	return mustJSON(map[string]string{
		"MethodName": function,
		"UtcNow":     time.Now().UTC().Format(time.RFC3339Nano),
		"RandGuid":   randomID(),
	})
}

// randomID is a random GUID.
func randomID() string {
	var id [16]byte
	_, _ = rand.Read(id[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:])
}

// twice encodes a string as JSON, then encodes that text again.
func twice(s string) json.RawMessage { return mustJSON(string(mustJSON(s))) }

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called with values that always marshal
	}
	return b
}

// WriteBlobTrigger writes the invocation BlobTriggerRequest builds to w,
// streaming the content from r through a base64 encoder instead of holding
// it, so that playing the host costs a buffer whatever the blob's size.
// props.ContentLength is sent as given.
func WriteBlobTrigger(w io.Writer, function, binding, uri, name string, r io.Reader, props BlobProperties) error {
	req := BlobTriggerRequest(function, binding, uri, name, nil, props)
	var p BlobProperties
	if err := req.MetaObject("Properties", &p); err != nil {
		return err
	}
	p.ContentLength = props.ContentLength
	req.Metadata["Properties"] = mustJSON(p)
	meta, err := json.Marshal(req.Metadata)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, `{"Data":{%s:"`, mustJSON(binding)); err != nil {
		return err
	}
	enc := base64.NewEncoder(base64.StdEncoding, w)
	if _, err := io.Copy(enc, r); err != nil {
		return fmt.Errorf("read blob %s: %w", name, err)
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, `"},"Metadata":%s}`, meta)
	return err
}
