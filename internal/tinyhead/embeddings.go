package tinyhead

import (
	"context"
	"strings"
	"time"
)

// Embedders are the embedding models an app is configured with, each
// under its ModelID; the first is the default (what a training request
// without "embedding_model" uses, and what ingest always embeds with).
type Embedders []Embedder

// Default is the first embedder, nil when there is none.
func (es Embedders) Default() Embedder {
	if len(es) == 0 {
		return nil
	}
	return es[0]
}

// Lookup returns the embedder of model id; "" is the default. A model
// that is not configured is an ErrInvalid naming the configured ones.
func (es Embedders) Lookup(id string) (Embedder, error) {
	if id == "" && len(es) > 0 {
		return es[0], nil
	}
	for _, e := range es {
		if e.ModelID() == id {
			return e, nil
		}
	}
	return nil, Errorf(ErrInvalid, "embedding model %q is not configured (configured: %s)", id, strings.Join(es.IDs(), ", "))
}

// IDs lists the model ids, the default first.
func (es Embedders) IDs() []string {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.ModelID()
	}
	return ids
}

// PendingText is a stored text that has no embedding of some model yet.
type PendingText struct {
	ContentHash string
	Text        string
}

// HashVector is the vector of the text with this content hash.
type HashVector struct {
	ContentHash string
	Vector      []float32
}

// EmbeddingProgress counts, for one embedding model, the distinct texts
// (content hashes) of the stored documents.
type EmbeddingProgress struct {
	Texts    int `json:"texts"`    // distinct texts stored
	Embedded int `json:"embedded"` // of those, the ones with a vector of the model
	Claimed  int `json:"claimed"`  // missing ones under a live claim (a run is embedding them)
}

// Missing is how many texts still lack a vector of the model.
func (p EmbeddingProgress) Missing() int { return p.Texts - p.Embedded }

// Backfill computes the embeddings of a model for stored texts that lack
// one (re-embedding), from several processes at once: each claims texts
// no one else holds, embeds them and stores the vectors.
type Backfill interface {
	// ClaimMissing claims for owner (a name unique to the caller) up to n
	// stored texts that have no embedding of model and no live claim,
	// those with a content hash after the given one, in hash order, and
	// returns them. A claim lasts lease; after that another caller may
	// claim the text again (its holder crashed). Two callers never hold
	// the same text at once.
	ClaimMissing(ctx context.Context, model, owner, after string, n int, lease time.Duration) ([]PendingText, error)
	// PutEmbeddings stores vectors of model for the content hashes that
	// have none yet and that a document still holds, and releases owner's
	// claims. A vector already stored is kept, so a text never has two
	// vectors of one model. It returns how many it stored.
	PutEmbeddings(ctx context.Context, model, owner string, vecs []HashVector) (int, error)
	// EmbeddingProgress counts the stored texts and those embedded by model.
	EmbeddingProgress(ctx context.Context, model string) (EmbeddingProgress, error)
}
