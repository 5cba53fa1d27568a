package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/app"
)

type labelEntry struct {
	Document int64   `json:"document"`
	Label    *string `json:"label,omitempty"`
}

type labelsAnswer struct {
	Task                             string
	Set, Removed, Unchanged, Unknown int
	Results                          []struct {
		Document int64
		Label    string
		Status   string
	}
}

func str(s string) *string { return &s }

// postLabels plays the host for POST /api/labels/{task}.
func (f *fixture) postLabels(task string, entries ...labelEntry) (int, labelsAnswer, string) {
	f.t.Helper()
	status, body := f.apiCall(app.LabelsFunction, task, map[string]any{"labels": entries})
	var ans labelsAnswer
	if status == http.StatusOK {
		if err := json.Unmarshal(body, &ans); err != nil {
			f.t.Fatalf("labels answer %s: %v", body, err)
		}
	}
	return status, ans, string(body)
}

// TestLabelsAPI labels stored documents through POST /api/labels/{task}:
// a new task made this way trains at once, unknown documents are reported
// per entry while the others are applied, bad entries fail the whole
// request, and a relabel makes the nightly run retrain.
func TestLabelsAPI(t *testing.T) {
	f := newFixture(t)
	f.ingestTopics("topics.csv", 0)
	ctx := context.Background()

	// A new task "place" (indoors/outdoors) over every stored row.
	var entries []labelEntry
	for i := 1; i <= 80; i++ {
		d := f.doc("incoming/topics.csv", "r"+strconv.Itoa(i))
		place := map[string]string{"weather": "outdoors", "cooking": "indoors"}[d.Labels["topic"]]
		entries = append(entries, labelEntry{Document: d.ID, Label: str(place)})
	}
	status, ans, body := f.postLabels("place", entries...)
	if status != http.StatusOK || ans.Set != 80 || ans.Unknown != 0 || len(ans.Results) != 80 || ans.Task != "place" {
		t.Fatalf("label 80 documents: %d %s", status, body)
	}
	out := f.train("place", map[string]any{"seed": 1})
	if !out.Promoted || out.Metrics.Accuracy < 0.9 {
		t.Errorf("place trained from API labels: %+v", out.Metrics)
	}

	// Unknown documents are reported per entry; the others are applied.
	d1, d2 := f.doc("incoming/topics.csv", "r1"), f.doc("incoming/topics.csv", "r2")
	status, ans, body = f.postLabels("place",
		labelEntry{Document: d1.ID, Label: str(" indoors ")},
		labelEntry{Document: 999999, Label: str("indoors")},
		labelEntry{Document: d2.ID, Label: str("outdoors")},
		labelEntry{Document: d2.ID + 1, Label: str("")},
	)
	if status != http.StatusOK || ans.Set != 1 || ans.Unchanged != 1 || ans.Removed != 1 || ans.Unknown != 1 {
		t.Fatalf("mixed request: %d %s", status, body)
	}
	wantStatus := []string{"set", "unknown", "unchanged", "removed"}
	for i, r := range ans.Results {
		if r.Status != wantStatus[i] {
			t.Errorf("entry %d: status %q, want %q (%s)", i, r.Status, wantStatus[i], body)
		}
	}
	if ans.Results[0].Label != "indoors" || ans.Results[1].Document != 999999 {
		t.Errorf("results %+v", ans.Results)
	}
	if got := f.doc("incoming/topics.csv", "r1").Labels["place"]; got != "indoors" {
		t.Errorf("r1 place %q, want indoors", got)
	}
	if _, ok := f.doc("incoming/topics.csv", "r3").Labels["place"]; ok {
		t.Errorf("r3 kept its place label after a removal")
	}
	// All unknown is still 200: each entry says so.
	if status, ans, body := f.postLabels("place", labelEntry{Document: 999998, Label: str("x")}); status != http.StatusOK || ans.Unknown != 1 {
		t.Errorf("only unknown documents: %d %s", status, body)
	}

	// Bad requests: 400, nothing written.
	before := f.doc("incoming/topics.csv", "r4").Labels
	long := strings.Repeat("x", 1025)
	for name, c := range map[string]struct {
		task string
		body any
	}{
		"no entries":        {"place", map[string]any{"labels": []labelEntry{}}},
		"no body":           {"place", nil},
		"no label":          {"place", map[string]any{"labels": []labelEntry{{Document: d1.ID}}}},
		"label too long":    {"place", map[string]any{"labels": []labelEntry{{Document: f.doc("incoming/topics.csv", "r4").ID, Label: str("a")}, {Document: d1.ID, Label: &long}}}},
		"id not positive":   {"place", map[string]any{"labels": []labelEntry{{Document: -1, Label: str("a")}}}},
		"unknown field":     {"place", map[string]any{"labels": []map[string]any{{"document": d1.ID, "label": "a", "source": "x"}}}},
		"task name":         {"..", map[string]any{"labels": []labelEntry{{Document: d1.ID, Label: str("a")}}}},
		"task with a space": {"place ", map[string]any{"labels": []labelEntry{{Document: d1.ID, Label: str("a")}}}},
	} {
		status, body := f.apiCall(app.LabelsFunction, c.task, c.body)
		if status != http.StatusBadRequest || !strings.Contains(string(body), `"error"`) {
			t.Errorf("%s: %d %s, want 400", name, status, body)
		}
	}
	if got := f.doc("incoming/topics.csv", "r4").Labels; got["place"] != before["place"] {
		t.Errorf("a failed request wrote r4's label: %v, was %v", got, before)
	}

	// The labels written here count as a change of the task: the nightly
	// run retrains it.
	f.train("topic", map[string]any{"seed": 1})
	if r := f.nightly()["topic"]; r.Action != "skipped" {
		t.Fatalf("topic before the relabel: %+v", r)
	}
	time.Sleep(10 * time.Millisecond)
	if status, ans, body := f.postLabels("topic", labelEntry{Document: d1.ID, Label: str("cooking")}); status != http.StatusOK || ans.Set != 1 {
		t.Fatalf("relabel: %d %s", status, body)
	}
	if r := f.nightly()["topic"]; r.Action != "trained" || !strings.Contains(r.Why, "data changed") {
		t.Errorf("topic after a relabel through the API: %+v", r)
	}
	sum, err := f.store.Tasks(ctx, f.model)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sum {
		if s.Task == "place" && s.Rows != 79 {
			t.Errorf("place has %d rows, want 79 (80, one removed)", s.Rows)
		}
	}
}

// TestLabelsFileTrains: a labels-only upload through the blob trigger
// defines a new task over documents already stored (named here by their
// texts, by source and id, and by document id); the task trains at once.
// Unknown documents are reported in the invocation's logs, and a
// re-delivery changes nothing.
func TestLabelsFileTrains(t *testing.T) {
	f := newFixture(t)
	f.ingestTopics("topics.csv", 0)
	var b strings.Builder
	b.WriteString("document,source,id,text,place\n")
	for i := 1; i <= 80; i++ {
		d := f.doc("incoming/topics.csv", "r"+strconv.Itoa(i))
		place := map[string]string{"weather": "outdoors", "cooking": "indoors"}[d.Labels["topic"]]
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, "%d,,,,%s\n", d.ID, place)
		case 1:
			fmt.Fprintf(&b, ",topics.csv,r%d,,%s\n", i, place)
		default:
			fmt.Fprintf(&b, ",,,%q,%s\n", d.Text, place)
		}
	}
	b.WriteString(",topics.csv,r999,,indoors\n")
	f.upload("_labels/place.csv", []byte(b.String()))
	docs := f.documents()
	status, out, res := f.trigger("_labels/place.csv")
	if status != http.StatusOK || !res.LabelsOnly || res.RowsOK != 80 || res.RowsRejected != 1 || res.LabelsChanged != 80 || res.Embedded != 0 {
		t.Fatalf("labels file: %d %+v %v", status, res, out.Logs)
	}
	logs := strings.Join(out.Logs, "\n")
	if !strings.Contains(logs, "labels file: 80 rows labelled stored documents (80 labels changed), 1 rejected") ||
		!strings.Contains(logs, `incoming/_labels/place.csv row 81: no stored document incoming/topics.csv item "r999"`) {
		t.Errorf("logs:\n%s", logs)
	}
	if f.documents() != docs {
		t.Errorf("%d documents after a labels file, want %d", f.documents(), docs)
	}
	out1 := f.train("place", map[string]any{"seed": 1})
	if !out1.Promoted || out1.Metrics.Accuracy < 0.9 || out1.Rows.Train+out1.Rows.Validation != 80 {
		t.Errorf("place trained from a labels file: %+v rows %+v", out1.Metrics, out1.Rows)
	}
	// Re-delivery: nothing to do, and nothing for the nightly run either.
	if status, out, res := f.trigger("_labels/place.csv"); status != http.StatusOK || !res.Redelivery ||
		!strings.Contains(strings.Join(out.Logs, "\n"), "already ingested") {
		t.Errorf("re-delivery: %d %+v %v", status, res, out.Logs)
	}
	if r := f.nightly()["place"]; r.Action != "skipped" {
		t.Errorf("place after a re-delivery: %+v", r)
	}
	// A new version that relabels: the nightly run retrains.
	time.Sleep(10 * time.Millisecond)
	f.upload("_labels/place.csv", []byte("source,id,place\ntopics.csv,r1,indoors\n"))
	if status, out, res := f.trigger("_labels/place.csv"); status != http.StatusOK || res.LabelsChanged != 1 {
		t.Fatalf("new version: %d %+v %v", status, res, out.Logs)
	}
	if r := f.nightly()["place"]; r.Action != "trained" || !strings.Contains(r.Why, "data changed") {
		t.Errorf("place after a relabelling labels file: %+v", r)
	}
}
