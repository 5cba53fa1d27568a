package mlp

import "github.com/tinyhead/tinyhead/internal/sketch"

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

// Sparse holds the texts' sketches as the model reads them: see
// sketch.Batch. (The type lives there so that the ONNX Runtime wrapper
// can take it without importing the trainer.)
type Sparse = sketch.Batch

// addSketch adds to the logits p the sketch layer's share: the sum over
// the entries of value × row (index mod buckets) of ws, in entry order,
// each product rounded to float32.
func addSketch(p, ws []float32, buckets int, index []uint32, value []float32) {
	c := len(p)
	// Train's bucket counts are powers of two: a mask then replaces a
	// division per entry.
	pow2, mask := buckets&(buckets-1) == 0, uint32(buckets-1)
	if c == 2 && pow2 {
		// Two classes (the common case) in registers: the same sums, but
		// not a store and a load per entry and class.
		p0, p1 := p[0], p[1]
		for e, i := range index {
			row := ws[int(i&mask)*2:][:2]
			v := value[e]
			p0 += float32(v * row[0])
			p1 += float32(v * row[1])
		}
		p[0], p[1] = p0, p1
		return
	}
	for e, i := range index {
		if pow2 {
			i &= mask
		} else {
			i %= uint32(buckets)
		}
		row := ws[int(i)*c:][:c]
		v := value[e]
		for k := range p {
			p[k] += float32(v * row[k])
		}
	}
}
