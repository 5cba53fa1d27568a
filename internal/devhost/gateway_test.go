package devhost

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/customhandler"
)

func TestLoadFunctions(t *testing.T) {
	fns, err := LoadFunctions("../../functions")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Function{}
	for _, fn := range fns {
		byName[fn.Name] = fn
	}
	want := map[string]struct{ trigger, route string }{
		"EmbedBlob":    {"blobTrigger", ""},
		"BlobDeleted":  {"eventGridTrigger", ""},
		"Train":        {"httpTrigger", "train/{task}"},
		"Classify":     {"httpTrigger", "classify/{task}"},
		"Rollback":     {"httpTrigger", "models/{task}/rollback"},
		"NightlyTrain": {"timerTrigger", ""},
		"Labels":       {"httpTrigger", "labels/{task}"},
		"Score":        {"httpTrigger", "score/{task}"},
		"Suggest":      {"httpTrigger", "tasks/{task}/suggest"},
		"Tasks":        {"httpTrigger", "tasks"},
		"Models":       {"httpTrigger", "models/{task}"},
		"Report":       {"httpTrigger", "models/{task}/{version}/report"},
		"Dashboard":    {"httpTrigger", "dashboard"},
		"Ingests":      {"httpTrigger", "ingests"},
		"Reembed":      {"httpTrigger", "reembed/{model}"},
	}
	if len(fns) != len(want) {
		t.Errorf("%d functions, want %d", len(fns), len(want))
	}
	for name, w := range want {
		fn := byName[name]
		if fn.Trigger != w.trigger || fn.Route != w.route {
			t.Errorf("%s: %+v, want trigger %s route %q", name, fn, w.trigger, w.route)
		}
		if fn.Trigger == "httpTrigger" && fn.OutBinding == "" {
			t.Errorf("%s has no http output binding", name)
		}
	}
}

func TestMuxRoute(t *testing.T) {
	tests := []struct {
		fn     Function
		route  string
		params []string
	}{
		{Function{Name: "Train", Route: "train/{task}"}, "train/{task}", []string{"task"}},
		{Function{Name: "Get", Route: "/items/{id:int}/{part?}"}, "items/{id}/{part}", []string{"id", "part"}},
		{Function{Name: "Hello"}, "Hello", nil},
	}
	for _, tt := range tests {
		route, params := muxRoute(tt.fn)
		if route != tt.route || strings.Join(params, ",") != strings.Join(tt.params, ",") {
			t.Errorf("%+v: %q %v, want %q %v", tt.fn, route, params, tt.route, tt.params)
		}
	}
}

// TestGateway sends API requests through the gateway and checks the
// invocations the handler receives and the answers the client gets.
func TestGateway(t *testing.T) {
	got := make(chan customhandler.InvokeRequest, 4)
	paths := make(chan string, 4)
	handler := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var inv customhandler.InvokeRequest
		if err := json.NewDecoder(r.Body).Decode(&inv); err != nil {
			t.Error(err)
		}
		paths <- r.URL.Path
		got <- inv
		json.NewEncoder(w).Encode(customhandler.InvokeResponse{
			Outputs: map[string]any{"res": customhandler.HTTPResponse{StatusCode: 422, Headers: map[string]string{"Content-Type": "application/json"}, Body: `{"error":"x"}`}},
			Logs:    []string{"handled"},
		})
	}))
	defer handler.Close()
	fns, err := LoadFunctions("../../functions")
	if err != nil {
		t.Fatal(err)
	}
	h, err := (&Gateway{HandlerURL: handler.URL, Functions: fns, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler()
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(h)
	defer gw.Close()

	resp, err := http.Post(gw.URL+"/api/train/spam?dry=1", "application/json", strings.NewReader(`{"steps": 5}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 422 || string(body) != `{"error":"x"}` || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("answer %d %q %v", resp.StatusCode, body, resp.Header)
	}
	inv := <-got
	if p := <-paths; p != "/Train" {
		t.Errorf("invoked %s, want /Train", p)
	}
	var req customhandler.HTTPRequest
	if err := json.Unmarshal(inv.Data["req"], &req); err != nil {
		t.Fatal(err)
	}
	if req.Method != "POST" || req.Params["task"] != "spam" || req.Query["dry"] != "1" || string(req.Body) != `{"steps":5}` {
		t.Errorf("http trigger value %+v", req)
	}
	if inv.MetaString("task") != "spam" {
		t.Errorf("metadata task = %q", inv.MetaString("task"))
	}

	// GET is not among Train's methods.
	if resp, err := http.Get(gw.URL + "/api/train/spam"); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %v %v", resp, err)
	}

	// A timer function runs through the admin endpoint.
	resp, err = http.Post(gw.URL+"/admin/functions/NightlyTrain", "application/json", strings.NewReader(`{"input": ""}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("admin: %d", resp.StatusCode)
	}
	select {
	case inv := <-got:
		var timer customhandler.TimerInfo
		if p := <-paths; p != "/NightlyTrain" {
			t.Errorf("invoked %s", p)
		}
		if err := json.Unmarshal(inv.Data["timer"], &timer); err != nil || timer.ScheduleStatus == nil {
			t.Errorf("timer value %s: %v", inv.Data["timer"], err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the timer function was not invoked")
	}
}
