package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tinyhead/tinyhead/internal/app"
	"github.com/tinyhead/tinyhead/internal/catalog"
	"github.com/tinyhead/tinyhead/internal/customhandler"
	"github.com/tinyhead/tinyhead/internal/ingest"
	"github.com/tinyhead/tinyhead/internal/logbuf"
	"github.com/tinyhead/tinyhead/internal/scoring"
	"github.com/tinyhead/tinyhead/internal/serving"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
	"github.com/tinyhead/tinyhead/internal/training"
)

// These tests play the host against the real handler routes with scripted
// services, so every error kind's path through the HTTP surface is checked
// without Azurite, a database or ONNX Runtime.

// scripted answers every service call with err (or a fixed success).
type scripted struct {
	err     error
	nightly []training.NightlyResult
	removed []string // blobs Removed was called for
}

func (s *scripted) Ingest(ctx context.Context, container, name string) (ingest.Result, error) {
	return ingest.Result{Source: container + "/" + name, ETag: "0x1", Status: tinyhead.IngestDone, RowsOK: 3}, s.err
}

func (s *scripted) Removed(ctx context.Context, container, name string) (ingest.Removal, error) {
	s.removed = append(s.removed, container+"/"+name)
	return ingest.Removal{Source: container + "/" + name, Deleted: 2}, s.err
}

func (s *scripted) Reconcile(ctx context.Context, container string) (ingest.Reconciliation, error) {
	return ingest.Reconciliation{Container: container, Sources: 3}, s.err
}

func (s *scripted) Train(ctx context.Context, task string, req training.Request) (*training.Outcome, error) {
	if s.err != nil {
		return nil, s.err
	}
	return &training.Outcome{Task: task, Version: "v1", Promoted: true, Reason: "first model of the task"}, nil
}

func (s *scripted) Rollback(ctx context.Context, task, version string) error { return s.err }

func (s *scripted) RetrainChanged(ctx context.Context) ([]training.NightlyResult, error) {
	return s.nightly, s.err
}

func (s *scripted) ClassifyVersion(ctx context.Context, task, version string, texts []string) (*serving.Classification, error) {
	if s.err != nil {
		return nil, s.err
	}
	return &serving.Classification{Task: task, Version: "v1", Predictions: make([]serving.Prediction, len(texts))}, nil
}

func (s *scripted) Score(ctx context.Context, task string, req scoring.Request) (*scoring.Result, error) {
	if s.err != nil {
		return nil, s.err
	}
	return &scoring.Result{Task: task, Version: "v1", Scored: 3, Done: true, Message: "scored 3 documents"}, nil
}

func (s *scripted) Suggest(ctx context.Context, task string, n int) (*scoring.Suggestions, error) {
	if s.err != nil {
		return nil, s.err
	}
	return &scoring.Suggestions{Task: task, Version: "v1", Documents: []scoring.Suggestion{}}, nil
}

func (s *scripted) Tasks(ctx context.Context) ([]catalog.Task, error) { return nil, s.err }

func (s *scripted) Models(ctx context.Context, task string) (*catalog.Models, error) {
	if s.err != nil {
		return nil, s.err
	}
	return &catalog.Models{Task: task, Current: "v1"}, nil
}

func (s *scripted) Report(ctx context.Context, task, version string) ([]byte, error) {
	return []byte("\x89PNG"), s.err
}

func scriptedServer(t *testing.T, s *scripted) (*httptest.Server, *logbuf.Buffer) {
	t.Helper()
	logs := &logbuf.Buffer{}
	a := &app.App{Ingest: s, Removal: s, Training: s, Serving: s, Scoring: s, Catalog: s, Log: slog.New(slog.NewTextHandler(logs, nil))}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return srv, logs
}

func post(t *testing.T, srv *httptest.Server, function string, body any) (int, customhandler.InvokeResponse) {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(srv.URL+"/"+function, "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out customhandler.InvokeResponse
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("answer %q: %v", b, err)
		}
	}
	return resp.StatusCode, out
}

// apiInvocation is the host's invocation of an HTTP function.
// An empty body is omitted, as the host omits it.
func apiInvocation(function, task string, body string) customhandler.InvokeRequest {
	req := customhandler.HTTPRequest{URL: "http://localhost/api/x/" + task, Method: "POST", Params: map[string]string{"task": task}}
	if body != "" {
		req.Body = json.RawMessage(body)
	}
	return customhandler.HTTPTriggerRequest(function, app.HTTPRequestBinding, req)
}

// httpOutput decodes the http output binding of an API answer.
func httpOutput(t *testing.T, out customhandler.InvokeResponse) (int, map[string]string, string) {
	t.Helper()
	raw, err := json.Marshal(out.Outputs[app.HTTPResponseBinding])
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		StatusCode int               `json:"statusCode"`
		Headers    map[string]string `json:"headers"`
		Body       string            `json:"body"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("output binding %s: %v", raw, err)
	}
	return res.StatusCode, res.Headers, res.Body
}

// TestAPIStatusOfEveryKind: each function answers each error kind with its
// status, in {"error": …}, with Retry-After on 503, and logs one line naming
// the function and task.
func TestAPIStatusOfEveryKind(t *testing.T) {
	status := map[error]int{
		tinyhead.ErrNotFound: 404, tinyhead.ErrInvalid: 400, tinyhead.ErrUnprocessable: 422,
		tinyhead.ErrConflict: 409, tinyhead.ErrUnavailable: 503,
	}
	errs := []error{errors.New("disk on fire")}
	for _, k := range tinyhead.Kinds {
		errs = append(errs, tinyhead.Errorf(k, "something about task x"))
	}
	bodies := map[string]string{
		app.TrainFunction:    `{"seed": 1}`,
		app.ClassifyFunction: `{"texts": ["hello"]}`,
		app.RollbackFunction: `{"version": "v0"}`,
		app.ScoreFunction:    `{"all": true}`,
		app.SuggestFunction:  ``,
		app.ModelsFunction:   ``,
		app.ReportFunction:   ``,
	}
	for function, body := range bodies {
		for _, err := range errs {
			t.Run(fmt.Sprintf("%s/%v", function, tinyhead.KindOf(err)), func(t *testing.T) {
				srv, logs := scriptedServer(t, &scripted{err: fmt.Errorf("outer: %w", err)})
				code, out := post(t, srv, function, apiInvocation(function, "x", body))
				if code != http.StatusOK {
					t.Fatalf("invocation status %d: API errors travel in the output binding", code)
				}
				got, headers, b := httpOutput(t, out)
				want, ok := status[tinyhead.KindOf(err)]
				if !ok {
					want = 500
				}
				if got != want || !strings.Contains(b, `"error":"outer: `) {
					t.Errorf("API answer %d %s, want %d with the error", got, b, want)
				}
				if (headers["Retry-After"] != "") != (want == 503) {
					t.Errorf("Retry-After %q on a %d", headers["Retry-After"], want)
				}
				if l := logs.String(); !strings.Contains(l, "function="+function) || !strings.Contains(l, "task=x") || !strings.Contains(l, "status="+fmt.Sprint(want)) {
					t.Errorf("log line %q lacks function, task or status", l)
				}
			})
		}
	}
}

func TestAPISuccessAndBadRequests(t *testing.T) {
	srv, _ := scriptedServer(t, &scripted{})
	tests := []struct {
		name, function, task, body string
		status                     int
		contains                   string
	}{
		{"train", app.TrainFunction, "spam", `{"seed": 2}`, 200, `"promoted":true`},
		{"train, no body", app.TrainFunction, "spam", ``, 200, `"version":"v1"`},
		{"train, body as a JSON string", app.TrainFunction, "spam", `"{\"seed\": 2}"`, 200, `"version":"v1"`},
		{"classify", app.ClassifyFunction, "spam", `{"texts": ["a", "b"]}`, 200, `"predictions":[`},
		{"rollback", app.RollbackFunction, "spam", `{"version": "v0"}`, 200, `"reason":"rollback"`},
		{"rollback scores", app.RollbackFunction, "spam", `{"version": "v0"}`, 200, `"scoring":{`},
		{"train scores after a promotion", app.TrainFunction, "spam", ``, 200, `"scored":3`},
		{"score", app.ScoreFunction, "spam", ``, 200, `"done":true`},
		{"score all", app.ScoreFunction, "spam", `{"all": true}`, 200, `"done":true`},
		{"score, unknown field", app.ScoreFunction, "spam", `{"everything": true}`, 400, "everything"},
		{"suggest", app.SuggestFunction, "spam", ``, 200, `"documents":[]`},
		{"models", app.ModelsFunction, "spam", ``, 200, `"current":"v1"`},
		{"report", app.ReportFunction, "spam", ``, 200, `"content_type":"image/png"`},
		{"unknown field", app.TrainFunction, "spam", `{"epochs": 3}`, 400, "epochs"},
		{"not JSON", app.TrainFunction, "spam", `"steps=3"`, 400, "body"},
		{"trailing garbage", app.TrainFunction, "spam", `"{\"seed\": 2} x"`, 400, "after the JSON"},
		{"two objects", app.ClassifyFunction, "spam", `"{\"texts\": [\"a\"]}{\"texts\": [\"b\"]}"`, 400, "after the JSON"},
		{"trailing space is fine", app.TrainFunction, "spam", `"{\"seed\": 2} \n"`, 200, `"version":"v1"`},
		{"bad task name", app.TrainFunction, "../escape", `{}`, 400, "not allowed"},
		{"rollback without a version", app.RollbackFunction, "spam", `{}`, 400, "version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, out := post(t, srv, tt.function, apiInvocation(tt.function, tt.task, tt.body))
			got, _, b := httpOutput(t, out)
			if got != tt.status || !strings.Contains(b, tt.contains) {
				t.Errorf("%d %s; want %d containing %q", got, b, tt.status, tt.contains)
			}
		})
	}
	t.Run("not an invocation", func(t *testing.T) {
		resp, err := http.Post(srv.URL+"/"+app.TrainFunction, "application/json", strings.NewReader("{"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
}

// TestEmbedBlobFailureReachesStderr: a failed blob invocation answers a
// non-2xx status (so the host retries) and writes one structured line with
// the function, the blob and the reason, because the host drops the Logs
// of failed invocations.
func TestEmbedBlobFailureReachesStderr(t *testing.T) {
	trigger := customhandler.BlobTriggerRequest(app.EmbedBlobFunction, app.BlobBinding,
		"http://127.0.0.1:10000/devstoreaccount1/incoming/spam/a.txt", "spam/a.txt", []byte("hi"), customhandler.BlobProperties{ETag: "0x1"})
	tests := []struct {
		name   string
		err    error
		status int
		log    string
	}{
		{"ok", nil, 200, ""},
		{"transient", tinyhead.Errorf(tinyhead.ErrUnavailable, "storage unavailable (HTTP 503)"), 500, "storage unavailable"},
		{"permanent", &ingest.PermanentError{Source: "incoming/spam/a.txt", Reason: "binary content"}, 500, "retries will not help"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, logs := scriptedServer(t, &scripted{err: tt.err})
			code, out := post(t, srv, app.EmbedBlobFunction, trigger)
			if code != tt.status {
				t.Fatalf("status %d, want %d", code, tt.status)
			}
			l := logs.String()
			if tt.err == nil {
				if len(out.Logs) == 0 || !strings.Contains(out.Logs[0], "3 rows stored") || strings.Contains(l, "level=ERROR") {
					t.Errorf("logs %v, stderr %q", out.Logs, l)
				}
				return
			}
			lines := strings.Split(strings.TrimSpace(l), "\n")
			if len(lines) != 1 || !strings.Contains(l, "function=EmbedBlob") || !strings.Contains(l, "blob=incoming/spam/a.txt") || !strings.Contains(l, tt.log) {
				t.Errorf("stderr %q: want one line with the function, the blob and %q", l, tt.log)
			}
		})
	}
	t.Run("no blob path", func(t *testing.T) {
		srv, logs := scriptedServer(t, &scripted{})
		code, _ := post(t, srv, app.EmbedBlobFunction, customhandler.InvokeRequest{})
		if code != http.StatusBadRequest || !strings.Contains(logs.String(), "function=EmbedBlob") {
			t.Errorf("status %d, stderr %q", code, logs.String())
		}
	})
}

// TestNightlyTrainReportsEveryTask: the timer invocation succeeds (timers
// are not retried) and lists every task; a failed task also goes to stderr.
func TestNightlyTrainReportsEveryTask(t *testing.T) {
	s := &scripted{nightly: []training.NightlyResult{
		{Task: "a", Action: "trained", Why: "no model yet", Outcome: &training.Outcome{Version: "v1", Promoted: true}},
		{Task: "b", Action: "skipped", Why: "unchanged"},
		{Task: "c", Action: "failed", Why: "cannot read the current model", ErrorMsg: "storage unavailable"},
	}}
	srv, logs := scriptedServer(t, s)
	code, out := post(t, srv, app.NightlyTrainFunction, customhandler.TimerTriggerRequest(app.NightlyTrainFunction, app.TimerBinding, false))
	if code != http.StatusOK || len(out.Logs) != 4 || !strings.Contains(out.Logs[3], "c: failed") {
		t.Fatalf("status %d, logs %v", code, out.Logs)
	}
	if !strings.HasPrefix(out.Logs[0], "reconciled incoming/ with the store: 3 blobs with rows, 0 gone") {
		t.Errorf("first log line %q: want the reconciliation", out.Logs[0])
	}
	if l := logs.String(); !strings.Contains(l, "task=c") || strings.Contains(l, "task=a") {
		t.Errorf("stderr %q: want the failed task only", l)
	}
	s.nightly, s.err = nil, tinyhead.Errorf(tinyhead.ErrUnavailable, "database paused")
	if code, _ := post(t, srv, app.NightlyTrainFunction, customhandler.TimerTriggerRequest(app.NightlyTrainFunction, app.TimerBinding, false)); code != http.StatusInternalServerError {
		t.Errorf("nightly with the store down: status %d", code)
	}
	s.err = nil
	if _, out := post(t, srv, app.NightlyTrainFunction, customhandler.TimerTriggerRequest(app.NightlyTrainFunction, app.TimerBinding, false)); len(out.Logs) != 2 || out.Logs[1] != "no labelled tasks" {
		t.Errorf("logs %v", out.Logs)
	}
}
