package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tinyhead/tinyhead/internal/azurite/azuritetest"
	"github.com/tinyhead/tinyhead/internal/config"
	"github.com/tinyhead/tinyhead/internal/testenv"
)

// screenshotEnv names where TestDashboardInBrowser also writes its
// screenshot: the README's (docs/dashboard.png) is made with
//
//	TINYHEAD_DASHBOARD_SCREENSHOT=$PWD/docs/dashboard.png go test ./handler -run TestDashboardInBrowser
const screenshotEnv = "TINYHEAD_DASHBOARD_SCREENSHOT"

// dashboardData is a small labelled data set for the task "topic"
// (weather or cooking) with a few unlabelled rows to suggest.
func dashboardData() string {
	weather := []string{"Heavy rain is expected", "A cold front brings snow", "Sunny skies and warm temperatures are forecast",
		"Strong winds and thunderstorms are likely", "Morning fog clears by noon", "Frost is expected overnight"}
	where := []string{"in the north tonight", "along the coast this weekend", "for the city on Monday", "in the mountains tomorrow"}
	cooking := []string{"Simmer the onions in butter", "Whisk the eggs with the sugar", "Roast the chicken with garlic",
		"Knead the dough", "Season the soup with salt and pepper", "Fry the potatoes in olive oil"}
	how := []string{"until golden brown", "for twenty minutes", "and serve with fresh herbs", "then let it rest"}
	var b strings.Builder
	b.WriteString("id,text,topic\n")
	n := 0
	row := func(text, topic string) {
		n++
		fmt.Fprintf(&b, "r%d,%s,%s\n", n, text, topic)
	}
	for _, s := range weather {
		for _, w := range where {
			row(s+" "+w+".", "weather")
		}
	}
	for _, s := range cooking {
		for _, h := range how {
			row(s+" "+h+".", "cooking")
		}
	}
	for _, s := range []string{"Bake the bread while the storm passes", "A warm soup for a rainy evening",
		"Light drizzle over the market this morning", "Grill the vegetables outside if the sun comes out",
		"The picnic was cancelled because of hail", "Stir the sauce slowly over a low heat"} {
		row(s+".", "")
	}
	return b.String()
}

// TestDashboardInBrowser drives the dashboard in headless Chromium against
// a running handler local (Azurite, SQLite, the real model) with data: the
// page shows the task and its version, "Train" adds a version, a click on
// a suggested document's label stores it, and a screenshot is saved.
func TestDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the handler binary and runs a browser")
	}
	browser, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Missing(t, "chromium is required for the dashboard's browser test (scripts/setup.sh installs it: apt-get install chromium): %v", err)
	}
	bin := buildHandler(t)
	az := azuritetest.Start(t)
	root := testenv.RepoRoot()
	testenv.ModelDir(t)
	testenv.ORTLib(t)
	env := append(os.Environ(), config.StorageConnection+"="+az.ConnectionString(),
		config.SQLDSN+"="+filepath.Join(t.TempDir(), "tinyhead.db"))

	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "topics.csv"), []byte(dashboardData()), 0o644); err != nil {
		t.Fatal(err)
	}
	up := exec.Command(bin, "upload", "topics.csv")
	up.Dir, up.Env = data, env
	if out, err := up.CombinedOutput(); err != nil {
		t.Fatalf("handler upload: %v\n%s", err, out)
	}
	api, logs := startLocal(t, bin, root, env)
	waitIngests(t, api, "", 1)
	if !strings.Contains(logs.String(), api+"dashboard") {
		t.Errorf("handler local does not say where the dashboard is:\n%s", logs.String())
	}
	var first struct{ Version string }
	apiJSON(t, "POST", api+"train/topic", `{"seed": 1}`, &first)
	labelled := topicRows(t, api)

	alloc, cancel := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.WindowSize(1360, 1000))...)
	defer cancel()
	browserCtx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	// The first action starts the browser, whose life is that call's
	// context's: no time-out on it; the others are bounded.
	if err := chromedp.Do(browserCtx, chromedp.Navigate(api+"dashboard")); err != nil {
		t.Fatalf("open the dashboard: %v", err)
	}
	ctx, cancel := context.WithTimeout(browserCtx, 3*time.Minute)
	defer cancel()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}
	count := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+strconv.Quote(sel)+`).length`))
		if err != nil {
			t.Fatalf("count %s: %v", sel, err)
		}
		return n
	}
	// click waits for the element and clicks it the way a user's click
	// reaches the page (a click event on it).
	click := func(sel string) {
		t.Helper()
		do("wait for "+sel, chromedp.WaitReady(sel))
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(e => (e.click(), true))(document.querySelector(`+strconv.Quote(sel)+`))`)); err != nil {
			t.Fatalf("click %s: %v", sel, err)
		}
	}
	attr := func(sel, name string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.AttributeValue(sel, name))
		if err != nil {
			t.Fatalf("%s of %s: %v", name, sel, err)
		}
		return v.Value
	}

	// The task and its version are shown.
	do("the task and its version", chromedp.WaitVisible(`#tasks .task[data-task="topic"]`),
		chromedp.WaitVisible(`#versions tbody tr[data-version="`+first.Version+`"]`),
		chromedp.WaitVisible(`#suggestions li[data-document]`))
	if card := text(`#tasks .task[data-task="topic"]`); !strings.Contains(card, "weather 24") || !strings.Contains(card, "cooking 24") {
		t.Errorf("task card %q: want its label counts", card)
	}
	if n := count(`#versions tbody tr[data-version]`); n != 1 {
		t.Errorf("%d version rows before training, want 1", n)
	}

	// "Train" adds a version, which the table, the chart and the report show.
	click(`#train`)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelectorAll('#versions tbody tr[data-version]').length >= 2`,
		chromedp.WithPollingTimeout(2*time.Minute))); err != nil {
		t.Fatalf("no second version after Train: %v (status %q)", err, text(`#action-status`))
	}
	do("the report", chromedp.WaitVisible(`#report[src^="data:image/png;base64,"]`))
	if n := count(`#chart circle`); n != 2 {
		t.Errorf("%d points in the accuracy chart, want 2", n)
	}

	// A click on a suggested document's label stores it.
	do("suggestions", chromedp.WaitVisible(`#suggestions li[data-document] button[data-label="cooking"]`))
	item := `#suggestions li[data-document="` + attr(`#suggestions li[data-document]`, "data-document") + `"]`
	click(item + ` button[data-label="cooking"]`)
	do("the labelled suggestion leaves the list", chromedp.WaitNotPresent(item))
	if got := topicRows(t, api); got != labelled+1 {
		t.Errorf("labelled rows of topic: %d after a label was clicked, %d before", got, labelled)
	}

	// Classify a text, for the screenshot.
	do("type a text", chromedp.SetValue(`#text`, "Thunderstorms and heavy rain are forecast for the coast tomorrow."))
	click(`#classify button[type="submit"]`)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!document.querySelector('#answer .label')`, chromedp.WithPollingTimeout(time.Minute))); err != nil {
		t.Fatalf("no classification: %v (answer %q)", err, text(`#answer`))
	}
	if answer := text(`#answer`); !strings.HasPrefix(answer, "weather") {
		t.Errorf("classify answer %q", answer)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(shot, []byte("\x89PNG")) {
		t.Fatalf("the screenshot is not a PNG (%d bytes)", len(shot))
	}
	out := filepath.Join(t.TempDir(), "dashboard.png")
	if p := os.Getenv(screenshotEnv); p != "" {
		out = p
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", out)
}

// apiJSON calls the local API and decodes a 200 answer into v.
func apiJSON(t *testing.T, method, url, body string, v any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s %s: %v in %s", method, url, err, raw)
	}
}

// topicRows is the number of labelled rows of the task "topic".
func topicRows(t *testing.T, api string) int {
	t.Helper()
	var ans struct {
		Tasks []struct {
			Task string
			Rows int
		}
	}
	apiJSON(t, "GET", api+"tasks", "", &ans)
	for _, tk := range ans.Tasks {
		if tk.Task == "topic" {
			return tk.Rows
		}
	}
	t.Fatalf("GET /api/tasks lists no task topic: %+v", ans)
	return 0
}
