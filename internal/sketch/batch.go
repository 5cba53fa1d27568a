package sketch

import (
	"fmt"
	"slices"
)

// Batch holds the sketches of several texts in compressed rows: row i's
// entries are Index[Start[i]:Start[i+1]] with the values
// Value[Start[i]:Start[i+1]]. Indices are the sketches' raw hashes; a
// model folds them into its buckets. The zero Batch has no rows.
type Batch struct {
	Start []int
	Index []uint32
	Value []float32
}

// Rows is the number of rows.
func (s Batch) Rows() int { return max(len(s.Start)-1, 0) }

// Reset empties s, keeping its buffers for the next rows.
func (s *Batch) Reset() {
	s.Start, s.Index, s.Value = s.Start[:0], s.Index[:0], s.Value[:0]
}

// Grow makes room for rows more rows of entries entries in all, so that
// appending them allocates nothing: a page of known size is allocated
// once, where growing entry by entry would copy it several times.
func (s *Batch) Grow(rows, entries int) {
	s.Start = slices.Grow(s.Start, rows+1)
	s.Index = slices.Grow(s.Index, entries)
	s.Value = slices.Grow(s.Value, entries)
}

// Append adds a row.
func (s *Batch) Append(index []uint32, value []float32) {
	if len(index) != len(value) {
		panic(fmt.Sprintf("sketch: sparse row of %d indices and %d values", len(index), len(value)))
	}
	if len(s.Start) == 0 {
		s.Start = append(s.Start, 0)
	}
	s.Index = append(s.Index, index...)
	s.Value = append(s.Value, value...)
	s.Start = append(s.Start, len(s.Index))
}

// Row returns row i's entries.
func (s Batch) Row(i int) ([]uint32, []float32) {
	lo, hi := s.Start[i], s.Start[i+1]
	return s.Index[lo:hi], s.Value[lo:hi]
}

// Slice returns rows lo…hi−1 (sharing memory).
func (s Batch) Slice(lo, hi int) Batch {
	if s.Rows() == 0 {
		return Batch{}
	}
	out := Batch{Start: make([]int, hi-lo+1), Index: s.Index, Value: s.Value}
	copy(out.Start, s.Start[lo:hi+1])
	return out
}

// Width is the largest number of entries in a row: the K of the padded
// [N, K] inputs of the exported graph.
func (s Batch) Width() int {
	k := 0
	for i := range s.Rows() {
		k = max(k, s.Start[i+1]-s.Start[i])
	}
	return k
}

// Padded returns the rows as the exported graph's sketch inputs: indices
// (as int64) and values, n×k row-major with k = max(Width, 1), each row
// padded with zero values (index 0), which add nothing.
func (s Batch) Padded() (index []int64, value []float32, k int) {
	n := s.Rows()
	k = max(s.Width(), 1)
	index, value = make([]int64, n*k), make([]float32, n*k)
	for i := range n {
		idx, val := s.Row(i)
		for j, v := range idx {
			index[i*k+j] = int64(v)
		}
		copy(value[i*k:], val)
	}
	return index, value, k
}
