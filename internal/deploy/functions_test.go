package deploy_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/app"
	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/config"
	"github.com/tinyhead/tinyhead/internal/deploy"
	"github.com/tinyhead/tinyhead/internal/devhost"
	"github.com/tinyhead/tinyhead/internal/functionapp"
	"github.com/tinyhead/tinyhead/internal/testenv"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root := testenv.RepoRoot()
	if root == "" {
		t.Fatal("no go.mod above the working directory")
	}
	return root
}

func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// wantFunctions is what the handler serves: for every function it routes
// (internal/app), the trigger its function.json must declare.
var wantFunctions = map[string]struct {
	trigger string
	check   func(t *testing.T, trigger functionapp.Binding, fn functionapp.Function)
}{
	app.EmbedBlobFunction: {"blobTrigger", func(t *testing.T, b functionapp.Binding, fn functionapp.Function) {
		// The handler derives the blob from the Uri metadata or the
		// {name} path parameter, streams it from the incoming container
		// with the AzureWebJobsStorage connection, and decodes the
		// trigger's value as base64 (binary).
		expect(t, "binding name", b.Name, app.BlobBinding)
		expect(t, "path", b.Path, config.IncomingContainer+"/{name}")
		expect(t, "connection", b.Connection, blobstore.DefaultConnection)
		expect(t, "connection", b.Connection, config.StorageConnection)
		expect(t, "dataType", b.DataType, "binary")
		// Flex Consumption has only the Event Grid blob trigger.
		expect(t, "source", b.Source, "EventGrid")
		if len(fn.Outputs()) != 0 {
			t.Errorf("output bindings %+v: the handler writes nothing through bindings", fn.Outputs())
		}
	}},
	app.BlobDeletedFunction: {"eventGridTrigger", func(t *testing.T, b functionapp.Binding, fn functionapp.Function) {
		// The handler decodes the event from the binding of this name;
		// infra/hooks/postdeploy.sh subscribes it to the incoming
		// container's BlobDeleted events.
		expect(t, "binding name", b.Name, app.EventBinding)
		if len(fn.Outputs()) != 0 {
			t.Errorf("output bindings %+v: the handler writes nothing through bindings", fn.Outputs())
		}
	}},
	app.TrainFunction:    {"httpTrigger", httpFunction("train/{task}", "{task}", "post")},
	app.ClassifyFunction: {"httpTrigger", httpFunction("classify/{task}", "{task}", "post")},
	app.RollbackFunction: {"httpTrigger", httpFunction("models/{task}/rollback", "{task}", "post")},
	// GET reports progress, POST runs a time-boxed chunk.
	app.ReembedFunction:   {"httpTrigger", httpFunction("reembed/{model}", "{model}", "get", "post")},
	app.LabelsFunction:    {"httpTrigger", httpFunction("labels/{task}", "{task}", "post")},
	app.IngestsFunction:   {"httpTrigger", httpFunction("ingests", "", "get")},
	app.ScoreFunction:     {"httpTrigger", httpFunction("score/{task}", "{task}", "post")},
	app.SuggestFunction:   {"httpTrigger", httpFunction("tasks/{task}/suggest", "{task}", "get")},
	app.TasksFunction:     {"httpTrigger", httpFunction("tasks", "", "get")},
	app.ModelsFunction:    {"httpTrigger", httpFunction("models/{task}", "{task}", "get")},
	app.ReportFunction:    {"httpTrigger", httpFunction("models/{task}/{version}/report", "{task}", "get")},
	app.DashboardFunction: {"httpTrigger", httpFunction("dashboard", "", "get")},
	app.NightlyTrainFunction: {"timerTrigger", func(t *testing.T, b functionapp.Binding, fn functionapp.Function) {
		expect(t, "binding name", b.Name, app.TimerBinding)
		// The schedule comes from the app setting, so that it can be
		// changed without a deployment; infra/ sets it (settings_test.go).
		expect(t, "schedule", b.Schedule, "%"+config.NightlySchedule+"%")
		if b.RunOnStartup == nil || *b.RunOnStartup {
			t.Error("runOnStartup must be false: every instance start would retrain")
		}
		if len(fn.Outputs()) != 0 {
			t.Errorf("output bindings %+v: the timer answers with logs only", fn.Outputs())
		}
	}},
}

// httpFunction checks an API function: the route (the handler reads its
// param), the methods the handler answers, a function key required, and
// the http output binding the handler answers through.
func httpFunction(route, param string, methods ...string) func(t *testing.T, b functionapp.Binding, fn functionapp.Function) {
	return func(t *testing.T, b functionapp.Binding, fn functionapp.Function) {
		expect(t, "binding name", b.Name, app.HTTPRequestBinding)
		expect(t, "route", b.Route, route)
		if !strings.Contains(b.Route, param) {
			t.Errorf("route %q has no %s: the handler reads it", b.Route, param)
		}
		expect(t, "authLevel", b.AuthLevel, "function")
		if !slices.Equal(b.Methods, methods) {
			t.Errorf("methods %v, want %v", b.Methods, methods)
		}
		outs := fn.Outputs()
		if len(outs) != 1 || outs[0].Type != "http" || outs[0].Name != app.HTTPResponseBinding {
			t.Errorf("output bindings %+v, want one http binding named %q", outs, app.HTTPResponseBinding)
		}
	}
}

func expect(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s %q, want %q", what, got, want)
	}
}

// TestFunctionDefinitions parses every functions/<Name>/function.json and
// checks its bindings against what the handler serves: a route for the
// function's name, the binding names it decodes and answers through, the
// blob path and connection it reads, the HTTP routes whose parameters it
// reads, and the timer's schedule setting.
func TestFunctionDefinitions(t *testing.T) {
	root := repoRoot(t)
	fns, err := deploy.LoadFunctions(root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fn := range fns {
		names = append(names, fn.Name)
	}
	var want []string
	for name := range wantFunctions {
		want = append(want, name)
	}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("functions/ has %v; the handler serves %v", names, want)
	}

	mux := (&app.App{Log: slog.New(slog.DiscardHandler)}).Routes()
	for _, fn := range fns {
		t.Run(fn.Name, func(t *testing.T) {
			// The host POSTs every invocation to /{FunctionName}.
			req := httptest.NewRequest(http.MethodPost, "/"+fn.Name, nil)
			if _, pattern := mux.Handler(req); pattern != "POST /"+fn.Name {
				t.Errorf("the handler routes POST /%s to %q, want %q", fn.Name, pattern, "POST /"+fn.Name)
			}
			trigger, err := fn.Trigger()
			if err != nil {
				t.Fatal(err)
			}
			spec := wantFunctions[fn.Name]
			expect(t, "trigger type", trigger.Type, spec.trigger)
			expect(t, "trigger direction", trigger.Direction, "in")
			spec.check(t, trigger, fn)
		})
	}

	// The local development host reads the same files the same way.
	local, err := devhost.LoadFunctions(filepath.Join(root, deploy.FunctionsDir))
	if err != nil {
		t.Fatal(err)
	}
	if len(local) != len(fns) {
		t.Errorf("devhost.LoadFunctions found %d functions, deploy.LoadFunctions %d", len(local), len(fns))
	}
}

// TestHostJSON checks host.json against the handler and the package: the
// custom handler is the package's executable, started without arguments
// (its default command is serve) in the app's root, speaking the
// invocation protocol (not forwarded HTTP requests), with the extension
// bundle whose Storage extension has the Event Grid blob trigger.
func TestHostJSON(t *testing.T) {
	h, err := LoadHostJSON(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "version", h.Version, "2.0")
	expect(t, "extensionBundle.id", h.ExtensionBundle.ID, "Microsoft.Azure.Functions.ExtensionBundle")
	expect(t, "extensionBundle.version", h.ExtensionBundle.Version, "[4.*, 5.0.0)")
	expect(t, "customHandler.description.defaultExecutablePath", h.CustomHandler.Description.DefaultExecutablePath, deploy.Executable)
	expect(t, "customHandler.description.workingDirectory", h.CustomHandler.Description.WorkingDirectory, "")
	if len(h.CustomHandler.Description.Arguments) != 0 {
		t.Errorf("customHandler.description.arguments %v: the handler serves when started without arguments", h.CustomHandler.Description.Arguments)
	}
	if h.CustomHandler.EnableForwardingHTTPRequest {
		t.Error("enableForwardingHttpRequest is true: the handler answers invocation payloads on /{FunctionName}, not forwarded requests")
	}
	if h.FunctionTimeout != "" {
		d, err := parseTimeSpan(h.FunctionTimeout)
		if err != nil || d <= 0 {
			t.Errorf("functionTimeout %q: %v", h.FunctionTimeout, err)
		}
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(h.Raw, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["customHandler"]; !ok {
		t.Error("host.json has no customHandler section")
	}
}

// parseTimeSpan reads host.json's functionTimeout ("hh:mm:ss"; Flex
// Consumption also takes "-1", unbounded).
func parseTimeSpan(s string) (time.Duration, error) {
	if s == "-1" {
		return time.Duration(math.MaxInt64), nil
	}
	m := regexp.MustCompile(`^(\d{1,2}):(\d{2}):(\d{2})$`).FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("not hh:mm:ss")
	}
	h, _ := strconv.Atoi(m[1])
	mi, _ := strconv.Atoi(m[2])
	sec, _ := strconv.Atoi(m[3])
	return time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute + time.Duration(sec)*time.Second, nil
}

// TestNightlySchedule checks that every place that gives the timer its
// schedule gives the same, valid NCRONTAB expression: the handler's
// documented default, local.settings.json (handler local), and infra/'s
// parameter default and its azd parameter mapping.
func TestNightlySchedule(t *testing.T) {
	var local struct {
		Values map[string]string `json:"Values"`
	}
	if err := json.Unmarshal([]byte(readRepoFile(t, "local.settings.json")), &local); err != nil {
		t.Fatal(err)
	}
	bicepDefault := regexp.MustCompile(`(?m)^param nightlySchedule string = '([^']*)'$`).FindStringSubmatch(readRepoFile(t, "infra/main.bicep"))
	azdDefault := regexp.MustCompile(`"\$\{` + config.NightlySchedule + `=([^}]*)\}"`).FindStringSubmatch(readRepoFile(t, "infra/main.parameters.json"))
	if bicepDefault == nil || azdDefault == nil {
		t.Fatalf("nightlySchedule default not found: main.bicep %v, main.parameters.json %v", bicepDefault, azdDefault)
	}
	sources := []struct{ where, value string }{
		{"config.DefaultNightlySchedule", config.DefaultNightlySchedule},
		{"local.settings.json", local.Values[config.NightlySchedule]},
		{"infra/main.bicep", bicepDefault[1]},
		{"infra/main.parameters.json", azdDefault[1]},
	}
	for _, s := range sources {
		if err := ValidateSchedule(s.value); err != nil {
			t.Errorf("%s: %v", s.where, err)
		}
		if s.value != config.DefaultNightlySchedule {
			t.Errorf("%s has %q, config.DefaultNightlySchedule %q", s.where, s.value, config.DefaultNightlySchedule)
		}
	}
}

func TestValidateSchedule(t *testing.T) {
	tests := []struct {
		expr string
		ok   bool
	}{
		{"0 0 2 * * *", true},
		{"0 */5 * * * *", true},
		{"0 30 9 * * MON-FRI", true},
		{"0 0 0 1 JAN,JUL *", true},
		{"15,45 0-10/2 8-17 1-31 1-12 0-6", true},
		{"0 0 2 * *", false},     // five fields: no seconds
		{"0 0 24 * * *", false},  // hour out of range
		{"0 60 * * * *", false},  // minute out of range
		{"0 0 0 0 * *", false},   // day 0
		{"0 0 0 * 13 *", false},  // month 13
		{"0 0 0 * * 7", false},   // day-of-week 7
		{"0 0 5-2 * * *", false}, // backwards range
		{"0 */0 * * * *", false}, // step 0
		{"01:00:00", false},      // a TimeSpan: dedicated plans only
		{"%TINYHEAD_NIGHTLY_SCHEDULE%", false},
	}
	for _, tt := range tests {
		err := ValidateSchedule(tt.expr)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateSchedule(%q) = %v, want ok=%v", tt.expr, err, tt.ok)
		}
	}
}

// LoadHostJSON reads the repository's host.json.
func LoadHostJSON(root string) (functionapp.HostJSON, error) {
	return functionapp.LoadHostJSON(filepath.Join(root, deploy.HostFile))
}
