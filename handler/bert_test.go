package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinyhead/tinyhead/internal/azurite/azuritetest"
	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/config"
	"github.com/tinyhead/tinyhead/internal/handlertest"
	"github.com/tinyhead/tinyhead/internal/sqlstore"
	"github.com/tinyhead/tinyhead/internal/testenv"
)

// TestExecutableWithABERTModel: the handler pointed at a sentence-
// transformer's directory (the tiny BERT of internal/bertembed/testdata)
// and a window setting stores, for every ingested text, PyTorch's windowed
// vector under the model id that names the windows.
func TestExecutableWithABERTModel(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the handler binary")
	}
	dir, err := filepath.Abs("../internal/bertembed/testdata/tiny-bert")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Texts   []string               `json:"texts"`
		Vectors map[string][][]float32 `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	bin := buildHandler(t)
	az := azuritetest.Start(t)
	blobs, err := blobstore.NewFromConnectionString(az.ConnectionString())
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "tinyhead.db")
	h := handlertest.Start(t, bin, "", append(os.Environ(),
		config.StorageConnection+"="+az.ConnectionString(),
		config.SQLDSN+"="+db,
		config.ModelDir+"="+dir,
		config.EmbedWindow+"=8o2x4", // the windows of reference.json
		config.ORTLib+"="+testenv.ORTLib(t),
	))
	h.Ready(t)

	var lines strings.Builder
	for i, text := range ref.Texts {
		line, _ := json.Marshal(map[string]string{"id": fmt.Sprint(i), "text": text})
		lines.Write(append(line, '\n'))
	}
	status, out := h.EmbedBlob(t, blobs, "texts.jsonl", []byte(lines.String()), "application/x-ndjson")
	if want := fmt.Sprintf("%d rows stored", len(ref.Texts)); status != 200 || !strings.Contains(out, want) {
		t.Fatalf("EmbedBlob: %d %s\n%s", status, out, h.Logs())
	}
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, "sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	const model = "tiny-bert-test@win8o2x4"
	for i := range ref.Texts {
		doc, err := store.GetDocument(ctx, "incoming/texts.jsonl", fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		got, ok := doc.Embeddings[model]
		if !ok {
			t.Fatalf("text %d: no %s vector (models %v)", i, model, doc.Embeddings)
		}
		var worst float64
		for k, want := range ref.Vectors["windowed"][i] {
			worst = max(worst, math.Abs(float64(got[k]-want)))
		}
		if worst > 1e-4 {
			t.Errorf("text %d: largest difference from PyTorch %.2g", i, worst)
		}
	}
}
