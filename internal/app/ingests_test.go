package app_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/tinyhead/tinyhead/internal/app"
	"github.com/tinyhead/tinyhead/internal/customhandler"
)

type ingestsAnswer struct {
	Ingests []struct {
		ID                   int64
		Source, ETag, Status string
		RowsStored           int    `json:"rows_stored"`
		RowsRejected         int    `json:"rows_rejected"`
		Error                string `json:"error"`
		Attempts             int
		ElapsedS             float64 `json:"elapsed_s"`
	}
	NextBefore int64 `json:"next_before"`
}

// getIngests plays the host for GET /api/ingests with a query.
func (f *fixture) getIngests(query map[string]string) (int, ingestsAnswer, string) {
	f.t.Helper()
	status, raw := f.httpCall(app.IngestsFunction, customhandler.HTTPRequest{
		URL: "http://localhost:7071/api/ingests", Method: "GET", Query: query,
		Headers: map[string][]string{}, Params: map[string]string{},
	})
	body := string(raw)
	var ans ingestsAnswer
	if status == http.StatusOK {
		if err := json.Unmarshal(raw, &ans); err != nil {
			f.t.Fatalf("ingests answer %s: %v", body, err)
		}
	}
	return status, ans, body
}

// TestIngestsAPI lists what the blob trigger did with each blob version:
// status, rows stored and rejected, the reasons, newest first, filtered
// (by blob, folder and status) and a page at a time.
func TestIngestsAPI(t *testing.T) {
	f := newFixture(t)
	f.ingestTopics("topics.csv", 0)
	f.upload("bad.csv", []byte("id,body\n1,x\n")) // no text column
	if status, _, _ := f.trigger("bad.csv"); status == http.StatusOK {
		t.Fatal("bad.csv was ingested")
	}
	f.upload("_labels/t.csv", []byte("source,item,topic\ntopics.csv,r1,weather\ntopics.csv,nope,weather\n"))
	if status, out, _ := f.trigger("_labels/t.csv"); status != http.StatusOK {
		t.Fatalf("labels file: %d %v", status, out.Logs)
	}

	status, ans, body := f.getIngests(map[string]string{})
	if status != http.StatusOK || len(ans.Ingests) != 3 || ans.NextBefore != 0 {
		t.Fatalf("all: %d %s", status, body)
	}
	labels, bad, topics := ans.Ingests[0], ans.Ingests[1], ans.Ingests[2]
	if labels.Source != "incoming/_labels/t.csv" || labels.Status != "done" || labels.RowsStored != 1 || labels.RowsRejected != 1 ||
		!strings.Contains(labels.Error, `row 2: no stored document incoming/topics.csv item "nope"`) {
		t.Errorf("labels file: %+v", labels)
	}
	if bad.Source != "incoming/bad.csv" || bad.Status != "failed" || !strings.Contains(bad.Error, `no "text" column`) {
		t.Errorf("bad file: %+v", bad)
	}
	if topics.Source != "incoming/topics.csv" || topics.Status != "done" || topics.RowsStored != 80 || topics.Attempts != 1 ||
		topics.ETag == "" || topics.ElapsedS <= 0 {
		t.Errorf("topics: %+v", topics)
	}

	for _, c := range []struct {
		query map[string]string
		want  []string
	}{
		{map[string]string{"source": "topics.csv"}, []string{"incoming/topics.csv"}},
		{map[string]string{"source": "incoming/bad.csv"}, []string{"incoming/bad.csv"}},
		{map[string]string{"status": "failed"}, []string{"incoming/bad.csv"}},
		{map[string]string{"status": "running"}, nil},
		{map[string]string{"prefix": "_labels/"}, []string{"incoming/_labels/t.csv"}},
		{map[string]string{"prefix": "incoming/_labels/"}, []string{"incoming/_labels/t.csv"}},
		{map[string]string{"prefix": "_labels/", "status": "failed"}, nil},
		{map[string]string{"prefix": "_labels/", "status": "done"}, []string{"incoming/_labels/t.csv"}},
		{map[string]string{"prefix": "b"}, []string{"incoming/bad.csv"}},
		{map[string]string{"prefix": "T"}, nil},
		{map[string]string{"prefix": "emails/"}, nil},
		{map[string]string{"limit": "2"}, []string{"incoming/_labels/t.csv", "incoming/bad.csv"}},
		{map[string]string{"before": strconv.FormatInt(bad.ID, 10)}, []string{"incoming/topics.csv"}},
	} {
		status, ans, body := f.getIngests(c.query)
		var got []string
		for _, in := range ans.Ingests {
			got = append(got, in.Source)
		}
		if status != http.StatusOK || strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%v: %d %s, want %v", c.query, status, body, c.want)
		}
		if c.query["limit"] == "2" && ans.NextBefore != bad.ID {
			t.Errorf("limit 2: next_before %d, want %d", ans.NextBefore, bad.ID)
		}
	}
	for _, q := range []map[string]string{
		{"status": "finished"}, {"limit": "0"}, {"limit": "1001"}, {"limit": "x"}, {"before": "-1"}, {"sort": "asc"},
		{"prefix": strings.Repeat("x", 3000)}, {"source": strings.Repeat("x", 3000)},
	} {
		if status, _, body := f.getIngests(q); status != http.StatusBadRequest || !strings.Contains(body, `"error"`) {
			t.Errorf("%v: %d %s, want 400", q, status, body)
		}
	}
}
