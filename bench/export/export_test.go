package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinyhead/tinyhead/internal/dataset"
	"github.com/tinyhead/tinyhead/internal/sqlstore"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// TestExport: the exported rows, labels, split and texts are the ones
// Train loads.
func TestExport(t *testing.T) {
	ctx := t.Context()
	store, err := sqlstore.Open(ctx, sqlstore.DriverSQLite, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	const dim, n = 4, 60
	var docs []tinyhead.Document
	for i := range n {
		text := fmt.Sprintf("text %d\nwith \"quotes\"", i)
		docs = append(docs, tinyhead.Document{
			Source: "incoming/x.jsonl", Item: fmt.Sprint(i), SourceVersion: "v1",
			ContentHash: tinyhead.ContentHash(text), Text: text,
			Embeddings: map[string][]float32{"m": {float32(i), -float32(i), 0.5, float32(i) / 7}},
			Labels:    map[string]string{"t": []string{"b", "a", "c"}[i%3]},
		})
	}
	if err := store.PutDocuments(ctx, docs); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sum, err := Export(ctx, store, "t", "m", dim, 0.2, dir)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := store.Tasks(ctx, "m")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.Load(ctx, store, tasks[0], dataset.Options{Model: "m", Dim: dim, ValFraction: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows != n || sum.Train != ds.TrainRows || sum.Validation != ds.ValRows || !slices.Equal(sum.Labels, ds.Labels) || !sum.Texts {
		t.Fatalf("summary %+v; Train loads %d + %d rows, labels %v", sum, ds.TrainRows, ds.ValRows, ds.Labels)
	}
	// What Train loads: the validation rows as the dataset streams them,
	// the training rows as the stable split puts the documents (id order).
	var wantTrainX, wantValX []float32
	var wantTrainY []int32
	for _, d := range docs {
		if dataset.SideOf(tinyhead.LabeledRow{Source: d.Source, Item: d.Item}, 0.2) == dataset.Train {
			y, _ := ds.LabelIndex(d.Labels["t"])
			wantTrainX, wantTrainY = append(wantTrainX, d.Embeddings["m"]...), append(wantTrainY, y)
		}
	}
	if err := ds.EachValidation(ctx, store, func(_ int, x []float32) error {
		wantValX = append(wantValX, x...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	raw, err := os.ReadFile(filepath.Join(dir, "t.f32"))
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 4*n*dim {
		t.Fatalf("t.f32 has %d bytes, want %d", len(raw), 4*n*dim)
	}
	f, err := os.Open(filepath.Join(dir, "t.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	texts, err := os.ReadFile(filepath.Join(dir, "t.texts.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	textLines := strings.Split(strings.TrimSuffix(string(texts), "\n"), "\n")
	var trainX, valX []float32
	var trainY, valY []int32
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for i := 0; sc.Scan(); i++ {
		var id int64
		var split, label string
		var y int32
		if _, err := fmt.Sscanf(sc.Text(), "%d\t%s\t%d\t%s", &id, &split, &y, &label); err != nil {
			t.Fatal(err)
		}
		row := make([]float32, dim)
		for j := range row {
			row[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*(i*dim+j):]))
		}
		if ds.Labels[y] != label {
			t.Errorf("row %d: y %d is %q, not %q", i, y, ds.Labels[y], label)
		}
		var text string
		if err := json.Unmarshal([]byte(textLines[i]), &text); err != nil || text != docs[int(row[0])].Text {
			t.Errorf("row %d: text %q (%v), want %q", i, text, err, docs[int(row[0])].Text)
		}
		if split == "val" {
			valX, valY = append(valX, row...), append(valY, y)
		} else {
			trainX, trainY = append(trainX, row...), append(trainY, y)
		}
	}
	if !slices.Equal(trainX, wantTrainX) || !slices.Equal(trainY, wantTrainY) || !slices.Equal(valX, wantValX) || !slices.Equal(valY, ds.ValY) {
		t.Error("the exported split differs from the one Train loads")
	}
}
