package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/customhandler"
	"github.com/tinyhead/tinyhead/internal/registry"
	"github.com/tinyhead/tinyhead/internal/training"
)

// Binding names of the HTTP functions in their function.json.
const (
	HTTPRequestBinding  = "req"
	HTTPResponseBinding = "res"
)

// apiError is the body of every non-2xx API answer.
type apiError struct {
	Error string `json:"error"`
}

// httpInvocation is a decoded httpTrigger invocation.
type httpInvocation struct {
	customhandler.InvokeRequest
	HTTP customhandler.HTTPRequest
}

func decodeHTTP(r *http.Request) (*httpInvocation, error) {
	var inv httpInvocation
	if err := json.NewDecoder(r.Body).Decode(&inv.InvokeRequest); err != nil {
		return nil, fmt.Errorf("decode invocation: %w", err)
	}
	raw, ok := inv.Data[HTTPRequestBinding]
	if !ok {
		return nil, fmt.Errorf("invocation has no %q binding", HTTPRequestBinding)
	}
	if err := json.Unmarshal(raw, &inv.HTTP); err != nil {
		return nil, fmt.Errorf("decode %q binding: %w", HTTPRequestBinding, err)
	}
	return &inv, nil
}

// param reads a route parameter, from the request's Params or else the
// invocation metadata (the host puts route parameters in both).
func (inv *httpInvocation) param(name string) string {
	if v := inv.HTTP.Params[name]; v != "" {
		return v
	}
	return inv.MetaString(name)
}

// body decodes the HTTP request body into v. The host passes a JSON body
// either as an object or as a string holding it; an empty body leaves v
// as it is.
func (inv *httpInvocation) body(v any) error {
	raw := []byte(strings.TrimSpace(string(inv.HTTP.Body)))
	if len(raw) == 0 || string(raw) == "null" || string(raw) == `""` {
		return nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		raw = []byte(s)
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// respond answers an HTTP-triggered invocation: the invocation itself
// succeeded (200 to the host), and the API answer travels in the http output
// binding.
func respond(w http.ResponseWriter, status int, body any, logs ...string) {
	b, err := json.Marshal(body)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encode answer"}`)
	}
	writeJSON(w, http.StatusOK, customhandler.InvokeResponse{
		Outputs: map[string]any{HTTPResponseBinding: customhandler.HTTPResponse{
			StatusCode: status,
			Headers:    map[string]string{"Content-Type": "application/json"},
			Body:       string(b),
		}},
		Logs: logs,
	})
}

// statusOf maps the services' errors to HTTP statuses.
func statusOf(err error) int {
	switch {
	case errors.Is(err, training.ErrUnknownTask), errors.Is(err, registry.ErrNoModel):
		return http.StatusNotFound
	case errors.Is(err, training.ErrNotEnoughData):
		return http.StatusUnprocessableEntity
	case errors.Is(err, training.ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, registry.ErrBusy), errors.Is(err, blobstore.ErrChanged):
		// ErrChanged: current.json was replaced between read and promotion.
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

func (a *App) apiFail(w http.ResponseWriter, err error) {
	status := statusOf(err)
	if status >= 500 {
		a.Log.Error("request failed", "error", err)
	}
	respond(w, status, apiError{Error: err.Error()}, "error: "+err.Error())
}

// apiRequest decodes an API invocation whose route has a {task}: the task
// and the JSON body into v. On failure it has answered, and ok is false.
func (a *App) apiRequest(w http.ResponseWriter, r *http.Request, v any) (task string, ok bool) {
	inv, err := decodeHTTP(r)
	if err != nil {
		a.fail(w, http.StatusBadRequest, err)
		return "", false
	}
	task = inv.param("task")
	if err := validTask(task); err != nil {
		a.apiFail(w, err)
		return "", false
	}
	if err := inv.body(v); err != nil {
		a.apiFail(w, fmt.Errorf("%w: body: %v", training.ErrBadRequest, err))
		return "", false
	}
	return task, true
}

// validTask rejects task names that cannot be blob path segments.
func validTask(task string) error {
	if task == "" || len(task) > 256 || strings.ContainsAny(task, "/\\") || task == "." || task == ".." {
		return fmt.Errorf("%w: invalid task name %q", training.ErrBadRequest, task)
	}
	return nil
}
