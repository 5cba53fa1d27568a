package dataset

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/sqlstore"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

func TestInValidation(t *testing.T) {
	tests := []struct {
		fraction float64
		lo, hi   int // expected count of 10,000 documents in validation
	}{
		{0, 0, 0},
		{0.2, 1900, 2100},
		{0.5, 4850, 5150},
		{1, 10000, 10000},
	}
	for _, tt := range tests {
		n := 0
		for i := range 10000 {
			if InValidation("incoming/a.jsonl", fmt.Sprint(i), tt.fraction) {
				n++
			}
		}
		if n < tt.lo || n > tt.hi {
			t.Errorf("fraction %.1f: %d of 10000 in validation, want %d..%d", tt.fraction, n, tt.lo, tt.hi)
		}
	}
	// Stable: the same document is always on the same side, and the split
	// depends on the whole identity, not on the item alone.
	same, differ := 0, 0
	for i := range 1000 {
		item := fmt.Sprint(i)
		first, again := InValidation("s", item, 0.2), InValidation("s", item, 0.2)
		if first != again {
			t.Fatal("the split is not stable")
		}
		if InValidation("x/a.csv", item, 0.5) == InValidation("x/b.csv", item, 0.5) {
			same++
		} else {
			differ++
		}
	}
	if differ < 300 {
		t.Errorf("source does not affect the split: %d same, %d differ", same, differ)
	}
}

// TestLoaders: the in-memory and keys-only loaders split the same rows the
// same way, in id order, and score a model identically; rows beyond the
// summary's count (labelled after it was read) are left for the next run.
func TestLoaders(t *testing.T) {
	ctx := t.Context()
	store, err := sqlstore.Open(ctx, sqlstore.DriverSQLite, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	// More rows than a ScanLabeled page and validation rows than a chunk.
	const dim, n, valFraction = 8, 2600, 0.5
	var docs []tinyhead.Document
	for i := range n {
		text := fmt.Sprintf("row %d", i)
		emb := make([]float32, dim)
		for j := range emb {
			emb[j] = float32((i*31+j*7)%17) / 17
		}
		emb[i%3] += 2 // class structure
		docs = append(docs, tinyhead.Document{
			Source: "incoming/x.jsonl", Item: fmt.Sprint(i), SourceVersion: "v1",
			ContentHash: tinyhead.ContentHash(text), Text: text, EmbeddingModel: "m",
			Embedding: emb, Labels: map[string]string{"t": []string{"a", "b", "c"}[i%3]},
		})
	}
	if err := store.PutDocuments(ctx, docs[:n-100]); err != nil {
		t.Fatal(err)
	}
	tasks, err := store.Tasks(ctx, "m")
	if err != nil || len(tasks) != 1 {
		t.Fatalf("tasks %v, %v", tasks, err)
	}
	// 100 more rows arrive after the summary was read.
	if err := store.PutDocuments(ctx, docs[n-100:]); err != nil {
		t.Fatal(err)
	}
	var wantTrainX, wantValX []float32
	var wantTrainY, wantValY []int32
	for _, d := range docs[:n-100] {
		y := int32(d.Labels["t"][0] - 'a')
		if InValidation(d.Source, d.Item, valFraction) {
			wantValX, wantValY = append(wantValX, d.Embedding...), append(wantValY, y)
		} else {
			wantTrainX, wantTrainY = append(wantTrainX, d.Embedding...), append(wantTrainY, y)
		}
	}
	if len(wantValY) <= validationChunk {
		t.Fatalf("only %d validation rows: the test needs more than a chunk", len(wantValY))
	}

	mem, err := Load(ctx, store, tasks[0], Options{Model: "m", Dim: dim, ValFraction: valFraction})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := Load(ctx, store, tasks[0], Options{Model: "m", Dim: dim, ValFraction: valFraction, FromSQL: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(mem.trainX, wantTrainX) || !slices.Equal(mem.trainY, wantTrainY) ||
		!slices.Equal(mem.valX, wantValX) || !slices.Equal(mem.ValY, wantValY) {
		t.Fatalf("in memory: %d+%d rows, not the %d+%d documents in id order", mem.TrainRows, mem.ValRows, len(wantTrainY), len(wantValY))
	}
	if keys.valX != nil || !slices.Equal(keys.trainY, wantTrainY) || !slices.Equal(keys.ValY, wantValY) ||
		len(keys.trainIDs) != len(wantTrainY) || len(keys.valIDs) != len(wantValY) {
		t.Fatalf("keys only: %d+%d rows, want %d+%d and no vectors", keys.TrainRows, keys.ValRows, len(wantTrainY), len(wantValY))
	}
	if !slices.Equal(mem.Scaler.Mean, keys.Scaler.Mean) || !slices.Equal(mem.Scaler.Std, keys.Scaler.Std) {
		t.Errorf("scalers differ: %+v and %+v", mem.Scaler, keys.Scaler)
	}
	var streamed []float32
	err = keys.EachValidation(ctx, store, func(first int, x []float32, _ mlp.Sparse) error {
		if first*dim != len(streamed) {
			t.Errorf("chunk at row %d after %d rows", first, len(streamed)/dim)
		}
		streamed = append(streamed, x...)
		return nil
	})
	if err != nil || !slices.Equal(streamed, wantValX) {
		t.Fatalf("keys-only validation rows differ from the documents (%v)", err)
	}

	cfg := mlp.Config{Steps: 200, LearningRate: 0.01}.WithDefaults(3)
	model, _, err := mlp.Train(ctx, cfg, dim, 3, mem.Batches(store, cfg))
	if err != nil {
		t.Fatal(err)
	}
	model.Labels = mem.Labels
	if err := model.Fold(mem.Scaler); err != nil {
		t.Fatal(err)
	}
	a, err := mem.Evaluate(ctx, store, model)
	if err != nil {
		t.Fatal(err)
	}
	b, err := keys.Evaluate(ctx, store, model)
	if err != nil {
		t.Fatal(err)
	}
	if a.Rows != len(wantValY) || !reflect.DeepEqual(a, b) {
		t.Errorf("metrics differ between the modes:\n%+v\n%+v", a, b)
	}
	if a.Accuracy < 0.9 {
		t.Errorf("accuracy %.3f on separable classes", a.Accuracy)
	}
}
