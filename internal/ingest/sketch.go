package ingest

import (
	"github.com/tinyhead/tinyhead/internal/sketch"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// Sketches computes the encoded sketches (internal/sketch) of the
// documents' whole texts, by content hash: what ingest stores with them
// and the training's backfill fills in for documents stored before.
func Sketches(docs []tinyhead.Document) map[string][]byte {
	out := make(map[string][]byte, len(docs))
	for _, d := range docs {
		h := d.ContentHash
		if h == "" {
			h = tinyhead.ContentHash(d.Text)
		}
		if _, ok := out[h]; !ok {
			out[h] = sketch.Encode(nil, sketch.Of(d.Text))
		}
	}
	return out
}
