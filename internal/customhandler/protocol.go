// Package customhandler speaks the Azure Functions custom-handler protocol
// (enableForwardingHttpRequest: false): the host POSTs every invocation to
// /{FunctionName} as {"Data": {binding: value}, "Metadata": {...}} and reads
// back {"Outputs": {...}, "Logs": [...], "ReturnValue": ...}.
//
// The same types serve both sides: the handler decodes invocations, and the
// local development host and the tests encode them exactly as the Functions
// host does.
package customhandler

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tinyhead/tinyhead/internal/blobstore"
)

// InvokeRequest is the body of POST /{FunctionName}.
type InvokeRequest struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata map[string]json.RawMessage `json:"Metadata"`
}

// InvokeResponse is the handler's answer. A non-2xx HTTP status fails the
// invocation (a blob trigger is then retried, and poisoned after 5 tries).
type InvokeResponse struct {
	Outputs     map[string]any `json:"Outputs,omitempty"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue,omitempty"`
}

// HTTPRequest is an httpTrigger binding's value.
type HTTPRequest struct {
	URL     string              `json:"Url"`
	Method  string              `json:"Method"`
	Query   map[string]string   `json:"Query"`
	Headers map[string][]string `json:"Headers"`
	Params  map[string]string   `json:"Params"`
	Body    json.RawMessage     `json:"Body"`
}

// HTTPResponse is an http output binding's value.
type HTTPResponse struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers,omitempty"`
	Body       any               `json:"body"`
}

// TimerInfo is a timerTrigger binding's value.
type TimerInfo struct {
	Schedule       json.RawMessage `json:"Schedule"`
	ScheduleStatus json.RawMessage `json:"ScheduleStatus"`
	IsPastDue      bool            `json:"IsPastDue"`
}

// MetaString reads a metadata value leniently: the host often encodes
// strings twice ("\"x\""), sometimes once, and sometimes sends numbers.
func (r *InvokeRequest) MetaString(key string) string {
	raw, ok := r.Metadata[key]
	if !ok {
		return ""
	}
	return lenientString(raw)
}

func lenientString(raw json.RawMessage) string {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return strings.TrimSpace(string(raw)) // a number or an object: keep its text
	}
	// Decode a second level of quoting if present.
	var inner string
	if strings.HasPrefix(s, `"`) && json.Unmarshal([]byte(s), &inner) == nil {
		return inner
	}
	return s
}

// MetaObject decodes a metadata value that is an object, or a string
// holding a JSON object (for example "Properties").
func (r *InvokeRequest) MetaObject(key string, v any) error {
	raw, ok := r.Metadata[key]
	if !ok {
		return fmt.Errorf("metadata %q is missing", key)
	}
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) > 0 && trimmed[0] == '"' {
		trimmed = []byte(lenientString(raw))
	}
	if err := json.Unmarshal(trimmed, v); err != nil {
		return fmt.Errorf("metadata %q: %w", key, err)
	}
	return nil
}

// BlobContent decodes a blob trigger's value: the content base64-encoded
// (the binding declares "dataType": "binary").
func (r *InvokeRequest) BlobContent(binding string) ([]byte, error) {
	raw, ok := r.Data[binding]
	if !ok {
		return nil, fmt.Errorf("binding %q is missing from Data", binding)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("binding %q: want a base64 string: %w", binding, err)
	}
	return base64.StdEncoding.DecodeString(s)
}

// BlobPath returns the container and the blob name of a blob-trigger
// invocation. The host drops the BlobTrigger metadata key, so it comes from
// the Uri (which names the container too), or else from the {name} path
// parameter joined to defaultContainer.
func (r *InvokeRequest) BlobPath(defaultContainer string) (container, name string, err error) {
	if u := r.MetaString("Uri"); u != "" {
		return blobstore.SplitBlobURL(u)
	}
	if n := r.MetaString("name"); n != "" {
		return defaultContainer, n, nil
	}
	return "", "", fmt.Errorf("blob trigger metadata has neither Uri nor name")
}
