package inmem

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"unicode"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// Embedder is a small deterministic embedding model for logic tests: a
// bag of words by feature hashing. A text's lower-cased words (runs of
// letters and digits; a text without any is taken by its space-separated
// fields) and word bigrams are hashed into Dim buckets, bigrams with half
// a word's weight, and the vector is L2-normalised. It is a real (if
// simple) embedding, never random:
//
//   - the same text always gives the same vector, in any batch;
//   - each bucket has a fixed sign, so components are positive and
//     negative while two texts' dot product is a sum of non-negative
//     terms: texts that share a word have a positive cosine, texts that
//     share none a cosine of 0 unless their words' buckets collide (a
//     head can learn from it; bigger Dim, fewer collisions).
//
// Like the real embedder (onnxembed), Embed fails on a text that is empty
// after trimming white space (an error of no kind, naming the text),
// returns exactly one vector per text, in order, and gives up on a
// canceled context. It is safe for concurrent use.
type Embedder struct {
	dim int
}

var _ tinyhead.Embedder = (*Embedder)(nil)

// NewEmbedder returns an Embedder of dim dimensions; it panics if dim < 1.
func NewEmbedder(dim int) *Embedder {
	if dim < 1 {
		panic(fmt.Sprintf("inmem.NewEmbedder: dimension %d < 1", dim))
	}
	return &Embedder{dim: dim}
}

// ModelID names the model, with its dimension: "inmem-hash-64".
func (e *Embedder) ModelID() string { return fmt.Sprintf("inmem-hash-%d", e.dim) }

// Dim is the length of every embedding.
func (e *Embedder) Dim() int { return e.dim }

// embedCheckEvery is how many texts Embed embeds between looks at ctx.
const embedCheckEvery = 256

// Embed returns one unit vector per text, in order.
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	for i, t := range texts {
		if strings.TrimSpace(t) == "" {
			return nil, fmt.Errorf("embed: text %d is empty", i)
		}
	}
	out := make([][]float32, len(texts))
	for i, t := range texts {
		if i%embedCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		out[i] = e.embed(t)
	}
	return out, nil
}

func (e *Embedder) embed(text string) []float32 {
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	if len(words) == 0 {
		words = strings.Fields(text) // punctuation or symbols only
	}
	v := make([]float64, e.dim)
	for i, w := range words {
		e.add(v, w, 1)
		if i > 0 {
			e.add(v, words[i-1]+" "+w, 0.5)
		}
	}
	var norm float64
	for _, x := range v {
		norm += x * x
	}
	norm = math.Sqrt(norm) // > 0: every text has a word, and buckets never cancel
	out := make([]float32, e.dim)
	for i, x := range v {
		out[i] = float32(x / norm)
	}
	return out
}

// add adds a feature's weight to its bucket, with the bucket's sign.
func (e *Embedder) add(v []float64, feature string, weight float64) {
	h := fnv.New64a()
	h.Write([]byte(feature))
	i := int(h.Sum64() % uint64(e.dim))
	v[i] += weight * bucketSign(i)
}

// bucketSign is a fixed pseudo-random sign per bucket.
func bucketSign(i int) float64 {
	x := uint64(i)*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019
	x ^= x >> 31
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 29
	if x&1 == 0 {
		return -1
	}
	return 1
}
