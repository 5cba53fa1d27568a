package training

import (
	"fmt"
	"testing"
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
			if inValidation("incoming/a.jsonl", fmt.Sprint(i), tt.fraction) {
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
		if inValidation("s", item, 0.2) != inValidation("s", item, 0.2) {
			t.Fatal("the split is not stable")
		}
		if inValidation("x/a.csv", item, 0.5) == inValidation("x/b.csv", item, 0.5) {
			same++
		} else {
			differ++
		}
	}
	if differ < 300 {
		t.Errorf("source does not affect the split: %d same, %d differ", same, differ)
	}
}
