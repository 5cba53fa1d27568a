package registry_test

import (
	"math"
	"testing"

	"github.com/tinyhead/tinyhead/internal/registry"
)

// TestDecideAndMargin: a binary version with a threshold answers by it
// and measures its certainty from it; without one, the most probable
// label and the gap to the next.
func TestDecideAndMargin(t *testing.T) {
	binary := []string{"ham", "spam"}
	for _, c := range []struct {
		name       string
		labels     []string
		threshold  *registry.Threshold
		probs      []float32
		wantLabel  int
		wantMargin float64
	}{
		{"no threshold", binary, nil, []float32{0.3, 0.7}, 1, 0.4},
		{"three labels", []string{"a", "b", "c"}, nil, []float32{0.2, 0.5, 0.3}, 1, 0.2},
		{"threshold 0.5 agrees with the gap", binary, &registry.Threshold{Label: "spam", Value: 0.5}, []float32{0.3, 0.7}, 1, 0.4},
		{"above a low threshold", binary, &registry.Threshold{Label: "spam", Value: 0.2}, []float32{0.75, 0.25}, 1, 0.1},
		{"below a high threshold", binary, &registry.Threshold{Label: "spam", Value: 0.9}, []float32{0.2, 0.8}, 0, 0.2},
		{"on the threshold", binary, &registry.Threshold{Label: "ham", Value: 0.6}, []float32{0.6, 0.4}, 0, 0},
		{"threshold on the first label", binary, &registry.Threshold{Label: "ham", Value: 0.3}, []float32{0.1, 0.9}, 1, 0.4},
	} {
		m := &registry.Manifest{Labels: c.labels, Threshold: c.threshold}
		if got := m.Decide(c.probs); got != c.wantLabel {
			t.Errorf("%s: Decide = %d, want %d", c.name, got, c.wantLabel)
		}
		if got := m.Margin(c.probs); math.Abs(got-c.wantMargin) > 1e-6 {
			t.Errorf("%s: Margin = %v, want %v", c.name, got, c.wantMargin)
		}
	}
}
