package dataset

import (
	"fmt"
	"hash/fnv"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/sqlstore"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

func TestSideOf(t *testing.T) {
	inVal := func(source, item string, fraction float64) bool {
		return SideOf(tinyhead.LabeledRow{Source: source, Item: item}, fraction) == Validation
	}
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
			if inVal("incoming/a.jsonl", fmt.Sprint(i), tt.fraction) {
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
		first, again := inVal("s", item, 0.2), inVal("s", item, 0.2)
		if first != again {
			t.Fatal("the split is not stable")
		}
		if inVal("x/a.csv", item, 0.5) == inVal("x/b.csv", item, 0.5) {
			same++
		} else {
			differ++
		}
	}
	if differ < 300 {
		t.Errorf("source does not affect the split: %d same, %d differ", same, differ)
	}
}

// TestSideOfGroups: every row of a group is on one side whatever its
// source and item, a test row is a test row whatever its group, and a
// row without a group keeps the side it had before groups existed.
func TestSideOfGroups(t *testing.T) {
	for _, tc := range []struct {
		name string
		rows []tinyhead.LabeledRow
		want []Side // nil: all on one side, Train or Validation
	}{{
		name: "one group across files and items",
		rows: []tinyhead.LabeledRow{
			{Source: "a.jsonl", Item: "1", Group: "thread-9"},
			{Source: "a.jsonl", Item: "2", Group: "thread-9"},
			{Source: "b.csv", Item: "#1", Group: "thread-9"},
			{Source: "mail/x.eml", Item: "#1", Group: "thread-9"},
		},
	}, {
		name: "test rows leave their group's side",
		rows: []tinyhead.LabeledRow{
			{Source: "a.jsonl", Item: "1", Group: "g", Test: true},
			{Source: "a.jsonl", Item: "2", Test: true},
		},
		want: []Side{Test, Test},
	}} {
		for _, fraction := range []float64{0.2, 0.5, 0.8} {
			first := SideOf(tc.rows[0], fraction)
			for i, r := range tc.rows {
				got := SideOf(r, fraction)
				if tc.want != nil && got != tc.want[i] || tc.want == nil && got != first {
					t.Errorf("%s, fraction %g: row %d (%+v) is on the %s side", tc.name, fraction, i, r, got)
				}
			}
		}
	}
	// Groups are spread over both sides by the fraction.
	val := 0
	for g := range 10000 {
		if SideOf(tinyhead.LabeledRow{Source: "s", Item: "1", Group: fmt.Sprint("g", g)}, 0.2) == Validation {
			val++
		}
	}
	if val < 1900 || val > 2100 {
		t.Errorf("%d of 10000 groups in validation at fraction 0.2", val)
	}
	// Without a group: the (source, item) hash the split always used
	// (FNV-1a of source, NUL, item), so older tasks keep their sides.
	for i := range 1000 {
		r := tinyhead.LabeledRow{Source: "incoming/old.csv", Item: fmt.Sprint(i)}
		h := fnv.New64a()
		h.Write([]byte(r.Source + "\x00" + r.Item))
		if want := float64(h.Sum64()%10000) < 2000; (SideOf(r, 0.2) == Validation) != want {
			t.Fatalf("row %+v moved to another side than before groups", r)
		}
	}
}

// TestGroupedSplitStable: a group's rows stay on their side when rows and
// groups are added (in another file, with later ids), through Scan and
// Load on a real store; test rows are never among the training or
// validation rows.
func TestGroupedSplitStable(t *testing.T) {
	ctx := t.Context()
	store := openStore(t)
	const dim = 2
	doc := func(source, item, group string, test bool) tinyhead.Document {
		return tinyhead.Document{Source: source, Item: item, SourceVersion: "v", Text: source + item,
			Embeddings: map[string][]float32{"m": {float32(len(item)), 1}}, Group: group, Test: test,
			Labels: map[string]string{"t": []string{"a", "b"}[len(source+item)%2]}}
	}
	// sides maps each row to its side, and checks that every group is on
	// one side.
	sides := func(when string) map[string]Side {
		bySide := map[string]Side{}
		groups := map[string]map[Side]bool{}
		_, err := Scan(ctx, store, mustTask(t, store), Options{Model: "m", Dim: dim, ValFraction: 0.3}, func(r tinyhead.LabeledRow, _ int32, side Side) error {
			bySide[r.Source+"/"+r.Item] = side
			if r.Group != "" && side != Test {
				if groups[r.Group] == nil {
					groups[r.Group] = map[Side]bool{}
				}
				groups[r.Group][side] = true
			}
			if r.Test != (side == Test) {
				t.Errorf("row %s/%s (test %v) on the %s side", r.Source, r.Item, r.Test, side)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for g, s := range groups {
			if len(s) != 1 {
				t.Errorf("%s: group %s is on both sides: %v", when, g, s)
			}
		}
		return bySide
	}
	var first []tinyhead.Document
	for i := range 300 {
		first = append(first, doc("incoming/a.jsonl", fmt.Sprint(i), fmt.Sprint("thread-", i%40), i%10 == 0))
	}
	if err := store.PutDocuments(ctx, first); err != nil {
		t.Fatal(err)
	}
	before := sides("one file")
	// Another file adds rows to old groups and new groups, before the old
	// file's rows in id order would not matter: sides depend on names only.
	var more []tinyhead.Document
	for i := range 200 {
		more = append(more, doc("incoming/b.csv", fmt.Sprint(i), fmt.Sprint("thread-", i%70), false))
	}
	if err := store.PutDocuments(ctx, more); err != nil {
		t.Fatal(err)
	}
	after := sides("after more rows")
	for key, s := range before {
		if after[key] != s {
			t.Errorf("row %s moved from %s to %s when rows were added", key, s, after[key])
		}
	}
	mem, err := Load(ctx, store, mustTask(t, store), Options{Model: "m", Dim: dim, ValFraction: 0.3})
	if err != nil {
		t.Fatal(err)
	}
	if mem.TestRows != 30 || mem.TrainRows+mem.ValRows != 470 || len(mem.TestY) != 30 || len(mem.testX) != 30*dim {
		t.Errorf("Load: %d train, %d validation, %d test rows; want 470 and 30 test", mem.TrainRows, mem.ValRows, mem.TestRows)
	}
}

func openStore(t *testing.T) *sqlstore.Store {
	t.Helper()
	store, err := sqlstore.Open(t.Context(), sqlstore.DriverSQLite, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

func mustTask(t *testing.T, store *sqlstore.Store) tinyhead.TaskSummary {
	t.Helper()
	tasks, err := store.Tasks(t.Context(), "m")
	if err != nil || len(tasks) != 1 {
		t.Fatalf("tasks %v, %v", tasks, err)
	}
	return tasks[0]
}

// TestLoaders: the in-memory and keys-only loaders split the same rows the
// same way, in id order, and score a model identically; rows beyond the
// summary's count (labelled after it was read) are left for the next run.
func TestLoaders(t *testing.T) {
	ctx := t.Context()
	store := openStore(t)
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
			ContentHash: tinyhead.ContentHash(text), Text: text,
			Embeddings: map[string][]float32{"m": emb}, Labels: map[string]string{"t": []string{"a", "b", "c"}[i%3]}, Test: i%13 == 0,
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
	var wantTrainX, wantValX, wantTestX []float32
	var wantTrainY, wantValY, wantTestY []int32
	for _, d := range docs[:n-100] {
		y := int32(d.Labels["t"][0] - 'a')
		if d.Test {
			wantTestX, wantTestY = append(wantTestX, d.Embeddings["m"]...), append(wantTestY, y)
		} else if SideOf(tinyhead.LabeledRow{Source: d.Source, Item: d.Item}, valFraction) == Validation {
			wantValX, wantValY = append(wantValX, d.Embeddings["m"]...), append(wantValY, y)
		} else {
			wantTrainX, wantTrainY = append(wantTrainX, d.Embeddings["m"]...), append(wantTrainY, y)
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
	err = keys.EachValidation(ctx, store, func(first int, x []float32) error {
		if first*dim != len(streamed) {
			t.Errorf("chunk at row %d after %d rows", first, len(streamed)/dim)
		}
		streamed = append(streamed, x...)
		return nil
	})
	if err != nil || !slices.Equal(streamed, wantValX) {
		t.Fatalf("keys-only validation rows differ from the documents (%v)", err)
	}
	for _, ds := range []*Dataset{mem, keys} {
		var test []float32
		err := ds.Each(ctx, store, Test, func(_ int, x []float32) error {
			test = append(test, x...)
			return nil
		})
		if err != nil || !slices.Equal(test, wantTestX) || !slices.Equal(ds.TestY, wantTestY) || ds.TestRows != len(wantTestY) {
			t.Fatalf("from SQL %v: %d test rows, want the %d marked test (%v)", ds.fromSQL, ds.TestRows, len(wantTestY), err)
		}
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
