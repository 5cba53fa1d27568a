package ingest

// vectorCache remembers the embeddings computed for the last few batches of
// a file, so a text repeated across batches is not embedded again before
// the earlier batch is even written. It evicts in insertion order.
type vectorCache struct {
	max   int
	vecs  map[string][]float32
	order []string
}

func newVectorCache(max int) *vectorCache {
	return &vectorCache{max: max, vecs: make(map[string][]float32, max)}
}

func (c *vectorCache) get(hash string) []float32 { return c.vecs[hash] }

func (c *vectorCache) put(hash string, v []float32) {
	if _, ok := c.vecs[hash]; ok {
		return
	}
	if len(c.order) == c.max {
		delete(c.vecs, c.order[0])
		c.order = c.order[1:]
	}
	c.vecs[hash] = v
	c.order = append(c.order, hash)
}
