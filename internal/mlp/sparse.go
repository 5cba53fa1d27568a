package mlp

import "fmt"

// Features names the inputs a head is trained on.
type Features string

const (
	// FeatureEmbedding: the sentence embedding only (the MLP).
	FeatureEmbedding Features = "embedding"
	// FeatureSketch: the text's sketch only (a linear layer over it).
	FeatureSketch Features = "sketch"
	// FeatureBoth: the MLP over the embedding, plus the linear layer over
	// the sketch, their logits added and trained jointly.
	FeatureBoth Features = "both"
)

// uses reports whether a model of features f reads input g (an empty f is
// an older model: the embedding only).
func (f Features) uses(g Features) bool {
	if f == "" {
		f = FeatureEmbedding
	}
	return f == g || f == FeatureBoth
}

func (f Features) valid() bool {
	return f == "" || f == FeatureEmbedding || f == FeatureSketch || f == FeatureBoth
}

// Sparse holds sparse input rows (the texts' sketches) in compressed
// rows: row i's entries are Index[Start[i]:Start[i+1]] with the values
// Value[Start[i]:Start[i+1]]. Indices are the sketch's raw hashes; a
// model folds them into its buckets. The zero Sparse has no rows.
type Sparse struct {
	Start []int
	Index []uint32
	Value []float32
}

// Rows is the number of rows.
func (s Sparse) Rows() int { return max(len(s.Start)-1, 0) }

// Append adds a row.
func (s *Sparse) Append(index []uint32, value []float32) {
	if len(index) != len(value) {
		panic(fmt.Sprintf("mlp: sparse row of %d indices and %d values", len(index), len(value)))
	}
	if len(s.Start) == 0 {
		s.Start = append(s.Start, 0)
	}
	s.Index = append(s.Index, index...)
	s.Value = append(s.Value, value...)
	s.Start = append(s.Start, len(s.Index))
}

// Row returns row i's entries.
func (s Sparse) Row(i int) ([]uint32, []float32) {
	lo, hi := s.Start[i], s.Start[i+1]
	return s.Index[lo:hi], s.Value[lo:hi]
}

// Slice returns rows lo…hi−1 (sharing memory).
func (s Sparse) Slice(lo, hi int) Sparse {
	if s.Rows() == 0 {
		return Sparse{}
	}
	out := Sparse{Start: make([]int, hi-lo+1), Index: s.Index, Value: s.Value}
	copy(out.Start, s.Start[lo:hi+1])
	return out
}

// Width is the largest number of entries in a row: the K of the padded
// [N, K] inputs of the exported graph.
func (s Sparse) Width() int {
	k := 0
	for i := range s.Rows() {
		k = max(k, s.Start[i+1]-s.Start[i])
	}
	return k
}

// Padded returns the rows as the exported graph's sketch inputs: indices
// (as int64) and values, n×k row-major with k = max(Width, 1), each row
// padded with zero values (index 0), which add nothing.
func (s Sparse) Padded() (index []int64, value []float32, k int) {
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

// addSketch adds to the logits p the sketch layer's share: the sum over
// the entries of value × row (index mod buckets) of ws, in entry order,
// each product rounded to float32.
func addSketch(p, ws []float32, buckets int, index []uint32, value []float32) {
	c := len(p)
	for e, i := range index {
		row := ws[int(i%uint32(buckets))*c:][:c]
		v := value[e]
		for k := range p {
			p[k] += float32(v * row[k])
		}
	}
}
