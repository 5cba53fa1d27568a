package mlptest

import (
	"math"
	"slices"
	"testing"
)

func TestSynthetic(t *testing.T) {
	const n, dim, classes = 500, 32, 5
	x, y := Synthetic(n, dim, classes, 1)
	if len(x) != n*dim || len(y) != n {
		t.Fatalf("%d values and %d labels", len(x), len(y))
	}
	counts := make([]int, classes)
	for i, c := range y {
		if c < 0 || int(c) >= classes {
			t.Fatalf("label %d", c)
		}
		counts[c]++
		var ss float64
		for _, v := range x[i*dim : (i+1)*dim] {
			ss += float64(v) * float64(v)
		}
		if math.Abs(ss-1) > 1e-5 {
			t.Fatalf("row %d has norm² %v, want 1", i, ss)
		}
	}
	if slices.Contains(counts, 0) {
		t.Errorf("a class has no rows: %v", counts)
	}
	x2, y2 := Synthetic(2*n, dim, classes, 1)
	if !slices.Equal(x, x2[:n*dim]) || !slices.Equal(y, y2[:n]) {
		t.Error("a longer set does not extend a shorter one")
	}
	if x3, _ := Synthetic(n, dim, classes, 2); slices.Equal(x, x3) {
		t.Error("another seed gave the same data")
	}

	// Without noise every row of a class is its centroid.
	x0, y0 := Spec{N: 50, Dim: dim, Classes: 2, Seed: 3}.Generate()
	for i := range y0 {
		j := slices.Index(y0, y0[i])
		if !slices.Equal(x0[i*dim:(i+1)*dim], x0[j*dim:(j+1)*dim]) {
			t.Fatalf("rows %d and %d of class %d differ without noise", i, j, y0[i])
		}
	}
}
