package mlp

import (
	"context"
	"slices"
	"testing"
)

// indexed is a data set whose row i holds i in every column and label i.
func indexed(rows, dim int) ([]float32, []int32) {
	x := make([]float32, rows*dim)
	y := make([]int32, rows)
	for i := range y {
		y[i] = int32(i)
		for j := range dim {
			x[i*dim+j] = float32(i)
		}
	}
	return x, y
}

// drawBatches returns the labels of the next count batches.
func drawBatches(t *testing.T, b Batches, count, size, dim int) [][]int32 {
	t.Helper()
	x := make([]float32, size*dim)
	y := make([]int32, size)
	var out [][]int32
	for range count {
		n, err := b.Next(context.Background(), x, y)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if x[i*dim] != float32(y[i]) || x[i*dim+dim-1] != float32(y[i]) {
				t.Fatalf("row %d holds %v, label %d", i, x[i*dim:(i+1)*dim], y[i])
			}
		}
		out = append(out, slices.Clone(y[:n]))
	}
	return out
}

func TestMemoryBatches(t *testing.T) {
	const dim = 3
	tests := []struct {
		name                string
		rows, size, batches int
		wantN               int
		epoch               int // batches per epoch
	}{
		{"whole epochs", 1000, 100, 30, 100, 10},
		{"remainder skipped", 250, 100, 6, 100, 2},
		{"fewer rows than a batch", 30, 256, 3, 30, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, y := indexed(tt.rows, dim)
			got := drawBatches(t, NewMemoryBatches(x, y, dim, tt.size, 7), tt.batches, tt.size, dim)
			for e := 0; e < tt.batches; e += tt.epoch {
				var seen []int32
				for _, b := range got[e : e+tt.epoch] {
					if len(b) != tt.wantN {
						t.Fatalf("batch of %d rows, want %d", len(b), tt.wantN)
					}
					seen = append(seen, b...)
				}
				slices.Sort(seen)
				if len(slices.Compact(seen)) != tt.epoch*tt.wantN {
					t.Errorf("epoch %d repeats rows", e/tt.epoch)
				}
			}
			if slices.Equal(got[0], got[tt.epoch]) && tt.rows > 1 {
				t.Errorf("the second epoch repeats the first's order")
			}
			again := drawBatches(t, NewMemoryBatches(x, y, dim, tt.size, 7), tt.batches, tt.size, dim)
			if !slices.EqualFunc(got, again, slices.Equal) {
				t.Errorf("the same seed gave another order")
			}
			other := drawBatches(t, NewMemoryBatches(x, y, dim, tt.size, 8), tt.batches, tt.size, dim)
			if slices.EqualFunc(got, other, slices.Equal) {
				t.Errorf("another seed gave the same order")
			}
		})
	}
}

func TestMemoryBatchesErrors(t *testing.T) {
	x, y := indexed(10, 2)
	if _, err := NewMemoryBatches(x, y, 2, 4, 0).Next(context.Background(), make([]float32, 6), make([]int32, 3)); err == nil {
		t.Error("Next into a 3-row buffer of a 4-row batch: no error")
	}
	if _, err := NewMemoryBatches(nil, nil, 2, 4, 0).Next(context.Background(), make([]float32, 8), make([]int32, 4)); err == nil {
		t.Error("Next of no rows: no error")
	}
}

func TestMemoryBatchesAllocateNothing(t *testing.T) {
	x, y := indexed(1000, 4)
	b := NewMemoryBatches(x, y, 4, 64, 0)
	bx, by := make([]float32, 64*4), make([]int32, 64)
	if n := testing.AllocsPerRun(100, func() { b.Next(context.Background(), bx, by) }); n != 0 {
		t.Errorf("Next allocates %v times per call", n)
	}
}
