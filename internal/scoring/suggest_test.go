package scoring_test

import (
	"cmp"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/tinyhead/tinyhead/internal/inmem"
	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/registry"
	"github.com/tinyhead/tinyhead/internal/scoring"
)

// TestSuggestThreshold: for a binary version with a decision threshold,
// the documents to label next are those whose positive probability is
// nearest the threshold (not those nearest 0.5), each with the
// threshold's guess; labelled documents are left out.
func TestSuggestThreshold(t *testing.T) {
	const n, dim, want = 400, 8, 40
	th := &registry.Threshold{Label: "spam", Value: 0.85}
	head := randomHead(dim, 4, []string{"ham", "spam"}, 3)
	store := inmem.NewStore()
	docs, vecs := randomDocs(rand.New(rand.NewPCG(5, 5)), n, dim)
	for i := range docs {
		if i%10 == 0 {
			docs[i].Labels = map[string]string{"task": "ham"}
		}
	}
	if err := store.PutDocuments(t.Context(), docs); err != nil {
		t.Fatal(err)
	}
	reg := newRegistry()
	saveHeadWith(t, reg, "task", "v1", embModel, head, th)
	svc := &scoring.Service{Store: store, Models: reg, Log: slog.New(slog.DiscardHandler)}

	got, err := svc.Suggest(t.Context(), "task", want)
	if err != nil {
		t.Fatal(err)
	}
	// The expected ranking, from the head itself.
	type doc struct {
		item     string
		distance float64 // |P(spam) - threshold|
		gap      float64 // the gap between the two probabilities
		guess    string
	}
	var all []doc
	p := make([]float32, 2)
	for i := range n {
		if i%10 == 0 {
			continue
		}
		item := strconv.Itoa(i)
		head.Predict(vecs[item], mlp.Sparse{}, 1, p)
		guess := "ham"
		if float64(p[1]) >= th.Value {
			guess = "spam"
		}
		all = append(all, doc{item, math.Abs(float64(p[1]) - th.Value), math.Abs(float64(p[1] - p[0])), guess})
	}
	byDistance := slices.Clone(all)
	slices.SortStableFunc(byDistance, func(a, b doc) int { return cmp.Compare(a.distance, b.distance) })
	byGap := slices.Clone(all)
	slices.SortStableFunc(byGap, func(a, b doc) int { return cmp.Compare(a.gap, b.gap) })
	var wantItems, gapItems []string
	for i := range want {
		wantItems, gapItems = append(wantItems, byDistance[i].item), append(gapItems, byGap[i].item)
	}
	if slices.Equal(wantItems, gapItems) {
		t.Fatal("the threshold does not change the ranking: the test would not tell them apart")
	}
	var items []string
	spam := 0
	for i, d := range got.Documents {
		items = append(items, d.Item)
		w := byDistance[i]
		if d.Label != w.guess {
			t.Errorf("item %s: guess %q, want %q (threshold %v)", d.Item, d.Label, w.guess, th.Value)
		}
		if math.Abs(d.Margin-2*w.distance) > 1e-6 {
			t.Errorf("item %s: margin %v, want %v", d.Item, d.Margin, 2*w.distance)
		}
		if d.Label == "spam" {
			spam++
		}
	}
	if !slices.Equal(items, wantItems) {
		t.Errorf("suggested %v,\nwant (nearest the threshold) %v", items, wantItems)
	}
	if spam == 0 || spam == len(got.Documents) {
		t.Errorf("%d of %d guesses spam: the list should straddle the threshold", spam, len(got.Documents))
	}
}
