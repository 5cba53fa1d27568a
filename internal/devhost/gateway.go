package devhost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/tinyhead/tinyhead/internal/customhandler"
	"github.com/tinyhead/tinyhead/internal/functionapp"
)

// Function is what the gateway needs from one functions/<Name>/function.json.
type Function struct {
	Name       string
	Trigger    string   // binding type of the trigger: "httpTrigger", "timerTrigger", "blobTrigger", …
	Binding    string   // the trigger's binding name
	Route      string   // httpTrigger: route template; "" means the function's name
	Methods    []string // httpTrigger: allowed methods; empty means all
	OutBinding string   // httpTrigger: the http output binding's name
}

// LoadFunctions reads every functions/*/function.json under dir
// (functionapp.LoadFunctions) and keeps what the gateway needs.
func LoadFunctions(dir string) ([]Function, error) {
	defs, err := functionapp.LoadFunctions(dir)
	if err != nil {
		return nil, err
	}
	out := make([]Function, 0, len(defs))
	for _, def := range defs {
		trigger, err := def.Trigger()
		if err != nil {
			return nil, err
		}
		fn := Function{Name: def.Name, Trigger: trigger.Type, Binding: trigger.Name, Route: trigger.Route, Methods: trigger.Methods}
		for _, b := range def.Outputs() {
			if b.Type == "http" {
				fn.OutBinding = b.Name
			}
		}
		out = append(out, fn)
	}
	return out, nil
}

// Gateway plays the host's HTTP front door, as `func start` does: it
// serves /api/{route} for every httpTrigger function and POST
// /admin/functions/{name} for the others (the host's way to run a timer by
// hand), and turns each request into the invocation the host would send
// to the custom handler. Function keys are not checked, as locally by the
// Core Tools.
type Gateway struct {
	HandlerURL string
	Functions  []Function
	HTTP       *http.Client
	Log        *slog.Logger
	// BodyTimeout bounds reading one request's body (default
	// DefaultBodyTimeout), so that a client that stops sending cannot hold
	// a connection and its buffer for ever.
	BodyTimeout time.Duration
}

// DefaultBodyTimeout is Gateway.BodyTimeout's default: 100 MB (the
// largest body) at under 2 MB/s.
const DefaultBodyTimeout = time.Minute

// fail answers a request the gateway itself refuses, as the API answers
// errors: {"error": "…"} with the status.
func fail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// readBody reads a request body of at most MaxRequestBody within the body
// timeout; its error is the status and message to answer.
func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request) ([]byte, int, error) {
	timeout := g.BodyTimeout
	if timeout <= 0 {
		timeout = DefaultBodyTimeout
	}
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return nil, http.StatusInternalServerError, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBody))
	if err == nil {
		_ = rc.SetReadDeadline(time.Time{})
		return body, 0, nil
	}
	// The rest of a refused body is not read: the connection is closed
	// (with the deadline left in place, the server gives up on it at once).
	w.Header().Set("Connection", "close")
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("request body over %d bytes", MaxRequestBody)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, http.StatusRequestTimeout, fmt.Errorf("request body not received within %s", timeout)
	default:
		return nil, http.StatusBadRequest, fmt.Errorf("read request body: %w", err)
	}
}

// Handler returns the gateway's routes.
func (g *Gateway) Handler() (http.Handler, error) {
	mux := http.NewServeMux()
	for _, fn := range g.Functions {
		if fn.Trigger != "httpTrigger" {
			mux.HandleFunc("POST /admin/functions/"+fn.Name, g.admin(fn))
			continue
		}
		route, params := muxRoute(fn)
		methods := fn.Methods
		if len(methods) == 0 {
			methods = []string{""}
		}
		for _, m := range methods {
			pattern := strings.TrimSpace(strings.ToUpper(m) + " /api/" + route)
			if err := register(mux, pattern, g.http(fn, params)); err != nil {
				return nil, fmt.Errorf("function %s: %w", fn.Name, err)
			}
		}
	}
	return mux, nil
}

// register adds a route, turning ServeMux's panic on a bad or conflicting
// pattern into an error.
func register(mux *http.ServeMux, pattern string, h http.HandlerFunc) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("route %q: %v", pattern, r)
		}
	}()
	mux.HandleFunc(pattern, h)
	return nil
}

// routeParam matches a route template's parameter, with the host's
// optional constraint (":alpha") and optional marker ("?").
var routeParam = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}?]*)?\??\}`)

// muxRoute turns a host route template into a ServeMux path and the names
// of its parameters.
func muxRoute(fn Function) (string, []string) {
	route := strings.Trim(fn.Route, "/")
	if route == "" {
		route = fn.Name
	}
	var params []string
	route = routeParam.ReplaceAllStringFunc(route, func(m string) string {
		name := routeParam.FindStringSubmatch(m)[1]
		params = append(params, name)
		return "{" + name + "}"
	})
	return route, params
}

// MaxRequestBody bounds an API request, as the host's own limit does.
const MaxRequestBody = 100 << 20

func (g *Gateway) http(fn Function, params []string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, status, err := g.readBody(w, r)
		if err != nil {
			fail(w, status, err.Error())
			return
		}
		req := customhandler.HTTPRequest{
			URL:     "http://" + r.Host + r.URL.RequestURI(),
			Method:  r.Method,
			Query:   map[string]string{},
			Headers: r.Header,
			Params:  map[string]string{},
			Body:    requestBody(body),
		}
		for k, v := range r.URL.Query() {
			req.Query[k] = v[0]
		}
		for _, p := range params {
			req.Params[p] = r.PathValue(p)
		}
		status, raw, err := g.invoke(r.Context(), fn.Name, customhandler.HTTPTriggerRequest(fn.Name, fn.Binding, req))
		if err != nil || status < 200 || status > 299 {
			g.log().Error("invocation failed", "function", fn.Name, "status", status, "error", err, "response", truncate(raw, 500))
			fail(w, http.StatusInternalServerError, "function invocation failed")
			return
		}
		var resp struct {
			Outputs map[string]customhandler.HTTPResponse `json:"Outputs"`
			Logs    []string                              `json:"Logs"`
		}
		if err := json.Unmarshal(raw, &resp); err != nil {
			fail(w, http.StatusInternalServerError, "bad invocation response: "+err.Error())
			return
		}
		g.logs(fn.Name, resp.Logs)
		out, ok := resp.Outputs[fn.OutBinding]
		if !ok {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		for k, v := range out.Headers {
			w.Header().Set(k, v)
		}
		if out.StatusCode == 0 {
			out.StatusCode = http.StatusOK
		}
		w.WriteHeader(out.StatusCode)
		switch b := out.Body.(type) {
		case nil:
		case string:
			io.WriteString(w, b)
		default:
			_ = json.NewEncoder(w).Encode(b)
		}
	}
}

// requestBody is the trigger's Body: JSON documents travel as JSON, anything
// else as a string.
func requestBody(body []byte) json.RawMessage {
	if len(bytes.TrimSpace(body)) == 0 {
		return json.RawMessage(`""`)
	}
	if json.Valid(body) {
		return json.RawMessage(body)
	}
	s, _ := json.Marshal(string(body))
	return s
}

// admin runs a non-HTTP function now. Like the host it answers 202 at
// once; the outcome goes to the log.
func (g *Gateway) admin(fn Function) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var inv customhandler.InvokeRequest
		switch fn.Trigger {
		case "timerTrigger":
			inv = customhandler.TimerTriggerRequest(fn.Name, fn.Binding, false)
		default:
			fail(w, http.StatusBadRequest, fmt.Sprintf("running a %s by hand is not supported here", fn.Trigger))
			return
		}
		w.WriteHeader(http.StatusAccepted)
		go func() {
			status, raw, err := g.invoke(context.WithoutCancel(r.Context()), fn.Name, inv)
			var resp customhandler.InvokeResponse
			_ = json.Unmarshal(raw, &resp)
			g.logs(fn.Name, resp.Logs)
			if err != nil || status < 200 || status > 299 {
				g.log().Error("invocation failed", "function", fn.Name, "status", status, "error", err)
			}
		}()
	}
}

// invoke POSTs one invocation to the handler.
func (g *Gateway) invoke(ctx context.Context, function string, inv customhandler.InvokeRequest) (int, []byte, error) {
	payload, err := json.Marshal(inv)
	if err != nil {
		return 0, nil, err
	}
	return post(ctx, g.HTTP, g.HandlerURL+"/"+function, bytes.NewReader(payload))
}

func post(ctx context.Context, client *http.Client, url string, payload io.Reader) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, payload)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

func (g *Gateway) logs(function string, lines []string) {
	for _, l := range lines {
		g.log().Info(function, "log", l)
	}
}

func (g *Gateway) log() *slog.Logger {
	if g.Log == nil {
		return slog.Default()
	}
	return g.Log
}
