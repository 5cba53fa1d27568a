package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"

	"github.com/tinyhead/tinyhead/internal/customhandler"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
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
	req, err := customhandler.Decode(r.Body)
	if err != nil {
		return nil, err
	}
	inv := httpInvocation{InvokeRequest: *req}
	raw, ok := inv.Data[HTTPRequestBinding]
	if !ok {
		return nil, fmt.Errorf("invocation has no %q binding", HTTPRequestBinding)
	}
	if err := json.Unmarshal(raw, &inv.HTTP); err != nil {
		return nil, fmt.Errorf("decode %q binding: %w", HTTPRequestBinding, err)
	}
	delete(inv.Data, HTTPRequestBinding) // inv.HTTP holds it now
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

// body decodes the HTTP request body into v, strictly: unknown fields and
// anything after the JSON value but white space are errors. The host passes
// a JSON body either as an object or as a string holding it; an empty body
// leaves v as it is. The raw body is dropped once decoded.
func (inv *httpInvocation) body(v any) error {
	raw := bytes.TrimSpace(inv.HTTP.Body)
	inv.HTTP.Body = nil
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
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

// respond answers an HTTP-triggered invocation: the invocation itself
// succeeded (200 to the host), and the API answer travels in the http output
// binding.
func respond(w http.ResponseWriter, status int, body any, logs ...string) {
	respondWith(w, status, nil, body, logs...)
}

// respondWith is respond with extra response headers.
func respondWith(w http.ResponseWriter, status int, headers map[string]string, body any, logs ...string) {
	b, err := json.Marshal(body)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encode answer"}`)
	}
	h := map[string]string{"Content-Type": "application/json"}
	maps.Copy(h, headers)
	writeJSON(w, http.StatusOK, customhandler.InvokeResponse{
		Outputs: map[string]any{HTTPResponseBinding: customhandler.HTTPResponse{
			StatusCode: status,
			Headers:    h,
			Body:       string(b),
		}},
		Logs: logs,
	})
}

// statusOfKind is the HTTP status of each error kind: the one place where
// the domain's errors become statuses.
var statusOfKind = map[error]int{
	tinyhead.ErrNotFound:      http.StatusNotFound,
	tinyhead.ErrInvalid:       http.StatusBadRequest,
	tinyhead.ErrUnprocessable: http.StatusUnprocessableEntity,
	tinyhead.ErrConflict:      http.StatusConflict,
	tinyhead.ErrUnavailable:   http.StatusServiceUnavailable,
}

// statusOf maps an error to its kind's HTTP status; an error of no kind is
// an internal failure (500).
func statusOf(err error) int {
	if status, ok := statusOfKind[tinyhead.KindOf(err)]; ok {
		return status
	}
	return http.StatusInternalServerError
}

// retryAfter is the Retry-After of a 503: about how long a paused
// serverless database or throttled storage takes to come back.
const retryAfter = "30"

// apiFail answers an API call with the error's status and {"error": …},
// and writes one structured line to stderr (warning for the caller's
// errors, error for the service's).
func (a *App) apiFail(w http.ResponseWriter, function, task string, err error) {
	status := statusOf(err)
	level := slog.LevelWarn
	if status >= 500 {
		level = slog.LevelError
	}
	a.Log.Log(context.Background(), level, "request failed", "function", function, "task", task, "status", status, "error", err)
	headers := map[string]string{}
	if status == http.StatusServiceUnavailable {
		headers["Retry-After"] = retryAfter
	}
	respondWith(w, status, headers, apiError{Error: err.Error()}, "error: "+err.Error())
}

// apiRequest decodes an API invocation whose route has a {task}: the task
// and the JSON body into v. On failure it has answered, and ok is false.
func (a *App) apiRequest(w http.ResponseWriter, r *http.Request, function string, v any) (task string, ok bool) {
	inv, task, ok := a.taskRequest(w, r, function)
	if !ok {
		return "", false
	}
	if err := inv.body(v); err != nil {
		a.apiFail(w, function, task, tinyhead.Errorf(tinyhead.ErrInvalid, "body: %w", err))
		return "", false
	}
	return task, true
}

// taskRequest decodes an API invocation whose route has a {task}, leaving
// the body. On failure it has answered, and ok is false.
func (a *App) taskRequest(w http.ResponseWriter, r *http.Request, function string) (inv *httpInvocation, task string, ok bool) {
	inv, err := decodeHTTP(r)
	if err != nil {
		a.fail(w, http.StatusBadRequest, function, err)
		return nil, "", false
	}
	task = inv.param("task")
	if err := tinyhead.CheckTaskName(task); err != nil {
		a.apiFail(w, function, task, err)
		return nil, "", false
	}
	return inv, task, true
}
