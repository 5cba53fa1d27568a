package mlp

import (
	"context"
	"fmt"
	"math/rand/v2"
)

// Batches feeds training: from memory (NewMemoryBatches) or sampled from
// SQL for tables larger than memory.
type Batches interface {
	// Next fills the first rows of x (row-major, BatchSize×dim) and y with
	// the next training mini-batch and returns its row count, at least 1
	// and at most BatchSize. Train calls it from one goroutine.
	Next(ctx context.Context, x []float32, y []int32) (int, error)
}

// MemoryBatches serves mini-batches of an in-memory matrix in shuffled
// epochs, like a PyTorch DataLoader with shuffle=True and drop_last=True:
// every batch holds distinct rows; the few rows left at the end of an
// epoch wait for a later one, as each epoch reshuffles all rows. It is not
// safe for concurrent use.
type MemoryBatches struct {
	x         []float32
	y         []int32
	dim, size int
	perm      []int32
	pos       int
	rng       *rand.Rand
	sketch    Sparse // the rows' sketches, for a sketch layer
}

// WithSketch gives the rows' sketches (row i of s is row i of x) to a
// training whose features use them, and returns b. It keeps s, and
// training may reorder the entries within its rows (a sketch is a set).
func (b *MemoryBatches) WithSketch(s Sparse) *MemoryBatches {
	if s.Rows() != len(b.y) {
		panic(fmt.Sprintf("mlp: %d sketches for %d rows", s.Rows(), len(b.y)))
	}
	b.sketch = s
	return b
}

// NewMemoryBatches serves x (len(y)×dim, row-major) and its labels y in
// batches of batchSize rows (all rows if there are fewer), in an order
// that depends only on seed. It keeps x and y; it does not copy them.
func NewMemoryBatches(x []float32, y []int32, dim, batchSize int, seed uint64) *MemoryBatches {
	if dim < 1 || len(x) != len(y)*dim {
		panic(fmt.Sprintf("mlp: %d values for %d rows of %d", len(x), len(y), dim))
	}
	b := &MemoryBatches{
		x: x, y: y, dim: dim, size: min(max(batchSize, 1), len(y)),
		perm: make([]int32, len(y)),
		rng:  rand.New(rand.NewPCG(seed, 0x6261746368)), // "batch": a stream apart from the weights'
	}
	for i := range b.perm {
		b.perm[i] = int32(i)
	}
	b.pos = len(b.perm) // shuffle before the first batch
	return b
}

// Next implements Batches. It allocates nothing.
func (b *MemoryBatches) Next(ctx context.Context, x []float32, y []int32) (int, error) {
	n := b.size
	if n == 0 {
		return 0, fmt.Errorf("mlp: no training rows")
	}
	if len(y) < n || len(x) < n*b.dim {
		return 0, fmt.Errorf("mlp: batch buffers of %d rows, need %d", len(y), n)
	}
	d := b.dim
	for i, r := range b.next() {
		copy(x[i*d:(i+1)*d], b.x[int(r)*d:(int(r)+1)*d])
		y[i] = b.y[r]
	}
	return n, nil
}

// next advances to the next batch and returns its row indices. Train uses
// it directly to copy each shard's rows in parallel, where they are used.
func (b *MemoryBatches) next() []int32 {
	n := b.size
	if b.pos+n > len(b.perm) {
		// Fisher–Yates by hand: rand.Shuffle's callback would be a closure.
		for i := len(b.perm) - 1; i > 0; i-- {
			j := b.rng.IntN(i + 1)
			b.perm[i], b.perm[j] = b.perm[j], b.perm[i]
		}
		b.pos = 0
	}
	b.pos += n
	return b.perm[b.pos-n : b.pos]
}
