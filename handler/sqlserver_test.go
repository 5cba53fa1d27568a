package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	_ "github.com/microsoft/go-mssqldb"

	"github.com/tinyhead/tinyhead/internal/app"
	"github.com/tinyhead/tinyhead/internal/azurite/azuritetest"
	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/config"
	"github.com/tinyhead/tinyhead/internal/customhandler"
	"github.com/tinyhead/tinyhead/internal/handlertest"
	"github.com/tinyhead/tinyhead/internal/sqlstore"
	"github.com/tinyhead/tinyhead/internal/testenv"
)

// TestExecutableOnSQLServer is the production path end to end: the handler
// executable started as the host starts it, with TINYHEAD_SQL_DRIVER=
// sqlserver and a fresh database, ingests a labelled CSV from the blob
// trigger, trains the task through the Train function and classifies
// through Classify.
func TestExecutableOnSQLServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the handler binary")
	}
	db := testenv.FreshMSSQLDatabase(t, testenv.MSSQL(t), "tinyhead_e2e")
	bin := buildHandler(t)
	az := azuritetest.Start(t)
	blobs, err := blobstore.NewFromConnectionString(az.ConnectionString())
	if err != nil {
		t.Fatal(err)
	}
	h := handlertest.Start(t, bin, "", append(os.Environ(),
		config.StorageConnection+"="+az.ConnectionString(),
		config.SQLDriver+"=sqlserver",
		config.SQLDSN+"="+db,
		config.ModelDir+"="+testenv.ModelDir(t),
		config.ORTLib+"="+testenv.ORTLib(t),
	))
	h.Ready(t)

	csv, rows := topicsCSV()
	status, out := h.EmbedBlob(t, blobs, "topics.csv", csv, "text/csv")
	if status != 200 || !strings.Contains(out, fmt.Sprintf("%d rows stored", rows)) {
		t.Fatalf("EmbedBlob: %d %s\n%s", status, out, h.Logs())
	}

	var trained struct {
		Version  string `json:"version"`
		Promoted bool   `json:"promoted"`
		Metrics  struct {
			Accuracy float64 `json:"accuracy"`
		} `json:"metrics"`
	}
	callAPI(t, h, app.TrainFunction, "topic", `{"seed": 1}`, &trained)
	if !trained.Promoted || trained.Metrics.Accuracy < 0.9 {
		t.Errorf("Train: %+v, want a promoted model with validation accuracy ≥ 0.9", trained)
	}
	var classified struct {
		Version     string `json:"version"`
		Predictions []struct {
			Label string `json:"label"`
		} `json:"predictions"`
	}
	callAPI(t, h, app.ClassifyFunction, "topic", `{"texts": [
		"Thunderstorms and heavy rain are forecast for the coast tomorrow.",
		"Stir the garlic into the soup and simmer it for ten minutes."]}`, &classified)
	if classified.Version != trained.Version || len(classified.Predictions) != 2 ||
		classified.Predictions[0].Label != "weather" || classified.Predictions[1].Label != "cooking" {
		t.Errorf("Classify: %+v, want weather then cooking from version %s", classified, trained.Version)
	}

	// What the handler wrote is in the database.
	store, err := sqlstore.Open(t.Context(), sqlstore.DriverSQLServer, db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	st, err := store.Stats(t.Context())
	if err != nil || st.Documents != rows || st.Labels["topic"]["weather"] != rows/2 {
		t.Errorf("Stats = %+v, %v; want %d documents, half of them weather", st, err, rows)
	}

	// Labels added later: a labels file (by source and id, by text) and
	// POST /api/labels (by document id); GET /api/ingests lists the file.
	labels := "source,id,text,season\ntopics.csv,w1-4,,winter\n,,A cold front brings snow in the north tonight.,winter\ntopics.csv,none,,x\n"
	status, out = h.EmbedBlob(t, blobs, "_labels/season.csv", []byte(labels), "text/csv")
	if status != 200 || !strings.Contains(out, "labels file: 2 rows labelled stored documents (2 labels changed), 1 rejected") {
		t.Errorf("labels file: %d %s\n%s", status, out, h.Logs())
	}
	doc, err := store.GetDocument(t.Context(), "incoming/topics.csv", "w0-0")
	if err != nil {
		t.Fatal(err)
	}
	var labelled struct{ Set, Unknown int }
	callAPI(t, h, app.LabelsFunction, "season", fmt.Sprintf(`{"labels": [{"document": %d, "label": "summer"}, {"document": 999999, "label": "x"}]}`, doc.ID), &labelled)
	if labelled.Set != 1 || labelled.Unknown != 1 {
		t.Errorf("POST /api/labels/season: %+v", labelled)
	}
	if st, err := store.Stats(t.Context()); err != nil || st.Labels["season"]["winter"] != 2 || st.Labels["season"]["summer"] != 1 {
		t.Errorf("season labels: %+v, %v", st.Labels["season"], err)
	}
	status, out = h.Invoke(t, app.IngestsFunction, customhandler.HTTPTriggerRequest(app.IngestsFunction, app.HTTPRequestBinding,
		customhandler.HTTPRequest{Method: "GET", Query: map[string]string{"source": "_labels/season.csv"}}))
	if status != 200 || !strings.Contains(out, `\"rows_stored\":2,\"rows_rejected\":1`) || !strings.Contains(out, `\"status\":\"done\"`) {
		t.Errorf("GET /api/ingests: %d %s", status, out)
	}
	models, err := store.Models(t.Context(), "topic")
	if err != nil || len(models) != 1 || !models[0].Promoted || models[0].Version != trained.Version {
		t.Errorf("Models = %+v, %v; want version %s, promoted", models, err, trained.Version)
	}

	// Deletions: a blob deleted with its BlobDeleted event loses its rows at
	// once; one deleted without an event loses them at the next
	// NightlyTrain, before the night selects what to train.
	extra := []byte("id,text,topic\n1,Frost is expected overnight in the valley,weather\n")
	if status, out := h.EmbedBlob(t, blobs, "extra.csv", extra, "text/csv"); status != 200 {
		t.Fatalf("EmbedBlob extra.csv: %d %s", status, out)
	}
	status, out = h.DeleteBlob(t, blobs, "extra.csv")
	if status != 200 || !strings.Contains(out, "incoming/extra.csv was deleted: 1 documents deleted") {
		t.Errorf("BlobDeleted: %d %s\n%s", status, out, h.Logs())
	}
	if err := blobs.Delete(t.Context(), config.IncomingContainer, "topics.csv"); err != nil {
		t.Fatal(err)
	}
	status, out = h.Invoke(t, app.NightlyTrainFunction, customhandler.TimerTriggerRequest(app.NightlyTrainFunction, app.TimerBinding, false))
	if want := fmt.Sprintf("1 blobs with rows, 1 gone, %d documents deleted", rows); status != 200 || !strings.Contains(out, want) {
		t.Errorf("NightlyTrain: %d %s, want %q\n%s", status, out, want, h.Logs())
	}
	st, err = store.Stats(t.Context())
	if err != nil || st.Documents != 0 || len(st.Labels) != 0 {
		t.Errorf("Stats after the deletions = %+v, %v; want nothing", st, err)
	}
}

// callAPI plays the host for an HTTP-triggered function: POST /api/…/{task}
// with body; it decodes the http output binding's body into v.
func callAPI(t *testing.T, h *handlertest.Handler, function, task, body string, v any) {
	t.Helper()
	status, out := h.Invoke(t, function, customhandler.HTTPTriggerRequest(function, app.HTTPRequestBinding, customhandler.HTTPRequest{
		Method: "POST", Params: map[string]string{"task": task},
		Headers: map[string][]string{"Content-Type": {"application/json"}}, Body: json.RawMessage(body),
	}))
	var resp struct {
		Outputs map[string]customhandler.HTTPResponse
	}
	if err := json.Unmarshal([]byte(out), &resp); status != 200 || err != nil {
		t.Fatalf("%s: %d %s (%v)\n%s", function, status, out, err, h.Logs())
	}
	res := resp.Outputs[app.HTTPResponseBinding]
	text, _ := res.Body.(string)
	if res.StatusCode != 200 {
		t.Fatalf("%s answered %d: %s\n%s", function, res.StatusCode, text, h.Logs())
	}
	if err := json.Unmarshal([]byte(text), v); err != nil {
		t.Fatalf("%s: %v in %s", function, err, text)
	}
}

// topicsCSV is a labelled data set of real sentences, task "topic": weather
// or cooking, half each. It returns the file and its row count.
func topicsCSV() ([]byte, int) {
	weather := []string{"Heavy rain is expected", "A cold front brings snow", "Sunny skies and warm temperatures are forecast",
		"Strong winds and thunderstorms are likely", "Morning fog clears by noon", "The heat wave continues"}
	where := []string{"in the north tonight", "along the coast this weekend", "for the city on Monday",
		"in the mountains tomorrow", "over the valley on Friday"}
	cooking := []string{"Simmer the onions in butter", "Whisk the eggs with the sugar", "Bake the bread",
		"Roast the chicken with garlic", "Knead the dough", "Season the soup with salt and pepper"}
	how := []string{"until golden brown", "for twenty minutes", "and serve with fresh herbs",
		"before adding the cream", "then let it rest"}
	var b strings.Builder
	b.WriteString("id,text,topic\n")
	n := 0
	for i, s := range weather {
		for j, w := range where {
			n++
			fmt.Fprintf(&b, "w%d-%d,%s %s.,weather\n", i, j, s, w)
			n++
			fmt.Fprintf(&b, "c%d-%d,%s %s.,cooking\n", i, j, cooking[i], how[j])
		}
	}
	return []byte(b.String()), n
}
