// Package serving answers Classify: it embeds the texts and runs the
// task's promoted classifier head. Heads are cached per task and reloaded
// when the task's current.json changes, so every instance serves the
// version the registry names within one request of a promotion.
package serving

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/tinyhead/tinyhead/internal/docparse"
	"github.com/tinyhead/tinyhead/internal/registry"
	"github.com/tinyhead/tinyhead/internal/sketch"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// Models is where the promoted versions are read; *registry.Registry
// implements it.
type Models interface {
	// CurrentETag is the ETag of the task's current.json, "" if none.
	CurrentETag(ctx context.Context, task string) (string, error)
	Current(ctx context.Context, task string) (cur registry.Current, etag string, err error)
	LoadHead(ctx context.Context, task, version string) (*registry.Head, error)
}

// Service classifies texts with the tasks' current models.
type Service struct {
	Models Models
	// Embedders are the configured embedding models: a version is served
	// with the one it was trained on.
	Embedders tinyhead.Embedders
	Log       *slog.Logger
	// MaxTextBytes bounds each text, as ingest bounds a row's text (the
	// TINYHEAD_MAX_TEXT_BYTES setting); 0 means docparse.DefaultMaxTextBytes.
	// A longer text is refused (ErrInvalid, naming it), as ingest rejects
	// such a row, so that a text is either served or ingested whole, never
	// silently cut.
	MaxTextBytes int

	mu    sync.Mutex
	heads map[string]*head // by task
}

// head is a loaded current version, shared by the requests that use it.
type head struct {
	*registry.Head
	etag string // of current.json when it was loaded: the cache key

	// Guarded by Service.mu: requests using the head, and whether a newer
	// version replaced it (then the last user closes it).
	refs    int
	retired bool
}

// Prediction is one text's classification.
type Prediction struct {
	Label         string             `json:"label"`
	Probabilities map[string]float64 `json:"probabilities"`
}

// Classification is Classify's answer.
type Classification struct {
	Task        string       `json:"task"`
	Version     string       `json:"version"`
	Predictions []Prediction `json:"predictions"`
}

// MaxTexts bounds one Classify request.
const MaxTexts = 1000

// Classify embeds the texts and runs the task's current model on them, in
// order. The model is cached, and reloaded when current.json changes (one
// cheap properties request per call).
func (s *Service) Classify(ctx context.Context, task string, texts []string) (*Classification, error) {
	return s.ClassifyVersion(ctx, task, "", texts)
}

// ClassifyVersion is Classify with a given version of the task's model
// ("" for the current one): a version that is not promoted can be tried
// before it is (or after it was replaced). Such a version is loaded for
// the request only. A version the task does not have is
// tinyhead.ErrNotFound, a name that cannot be a version ErrInvalid.
func (s *Service) ClassifyVersion(ctx context.Context, task, version string, texts []string) (*Classification, error) {
	if err := tinyhead.CheckTaskName(task); err != nil {
		return nil, err
	}
	if len(texts) == 0 || len(texts) > MaxTexts {
		return nil, tinyhead.Errorf(tinyhead.ErrInvalid, "send 1 to %d texts, not %d", MaxTexts, len(texts))
	}
	if err := s.checkTexts(texts); err != nil {
		return nil, err
	}
	var h *registry.Head
	if version == "" {
		cur, err := s.currentHead(ctx, task)
		if err != nil {
			return nil, err
		}
		defer s.release(cur)
		h = cur.Head
	} else {
		var err error
		if h, err = s.Models.LoadHead(ctx, task, version); err != nil {
			return nil, fmt.Errorf("load version %s of %s: %w", version, task, err)
		}
		defer h.Close()
	}
	return s.run(ctx, task, h, texts)
}

// run embeds the texts and classifies them with h, deciding by its
// manifest's rule (the binary threshold it was trained with, if any).
func (s *Service) run(ctx context.Context, task string, h *registry.Head, texts []string) (*Classification, error) {
	man := h.Manifest
	emb, err := s.Embedders.Lookup(man.EmbeddingModel)
	if err != nil || man.EmbeddingModel == "" {
		return nil, tinyhead.Errorf(tinyhead.ErrUnprocessable, "model %s/%s was trained on %s embeddings, which this app is not configured with (it has %s); configure that model or retrain the task",
			task, h.Version, man.EmbeddingModel, strings.Join(s.Embedders.IDs(), ", "))
	}
	if man.EmbeddingDim != emb.Dim() {
		return nil, tinyhead.Errorf(tinyhead.ErrUnprocessable, "model %s/%s was trained on %d-d %s embeddings, but the model configured under that id is %d-d; retrain the task",
			task, h.Version, man.EmbeddingDim, man.EmbeddingModel, emb.Dim())
	}
	vecs, err := emb.Embed(ctx, texts)
	if err != nil {
		return nil, fmt.Errorf("embed %d texts: %w", len(texts), err)
	}
	x := make([]float32, 0, len(vecs)*man.EmbeddingDim)
	for _, v := range vecs {
		x = append(x, v...)
	}
	sk, err := Sketches(man, texts)
	if err != nil {
		return nil, tinyhead.Errorf(tinyhead.ErrUnprocessable, "model %s/%s: %w", task, h.Version, err)
	}
	probs, err := h.Predict(x, sk, len(vecs))
	if err != nil {
		return nil, fmt.Errorf("run model %s/%s: %w", task, h.Version, err)
	}
	classes := len(man.Labels)
	out := &Classification{Task: task, Version: h.Version, Predictions: make([]Prediction, len(vecs))}
	for i := range vecs {
		p := probs[i*classes : (i+1)*classes]
		pred := Prediction{Label: man.Labels[man.Decide(p)], Probabilities: make(map[string]float64, classes)}
		for k, l := range man.Labels {
			pred.Probabilities[l] = float64(p[k])
		}
		out.Predictions[i] = pred
	}
	return out, nil
}

// Sketches computes the texts' sketches for a model that reads them (its
// manifest names a sketch version), exactly as ingest stored those it was
// trained on; for any other model it returns none.
func Sketches(man *registry.Manifest, texts []string) (sketch.Batch, error) {
	var sk sketch.Batch
	if man.Sketch == "" {
		return sk, nil
	}
	if man.Sketch != sketch.Version {
		return sk, fmt.Errorf("it reads %s sketches, but this app computes %s; retrain it", man.Sketch, sketch.Version)
	}
	for _, t := range texts {
		v := sketch.Of(t)
		sk.Append(v.Index, v.Value)
	}
	return sk, nil
}

// checkTexts refuses a request with an empty text or one over the byte
// limit, naming the first (0-based).
func (s *Service) checkTexts(texts []string) error {
	limit := s.MaxTextBytes
	if limit <= 0 {
		limit = docparse.DefaultMaxTextBytes
	}
	for i, t := range texts {
		if len(t) > limit {
			return tinyhead.Errorf(tinyhead.ErrInvalid, "text %d is %d bytes, over the limit of %d", i, len(t), limit)
		}
		if strings.TrimSpace(t) == "" {
			return tinyhead.Errorf(tinyhead.ErrInvalid, "text %d is empty", i)
		}
	}
	return nil
}

// currentHead returns the cached current model of a task, reloading it if
// current.json changed since it was loaded. The caller must release it.
func (s *Service) currentHead(ctx context.Context, task string) (*head, error) {
	etag, err := s.Models.CurrentETag(ctx, task)
	if err != nil {
		return nil, err
	}
	if etag == "" {
		return nil, tinyhead.Errorf(tinyhead.ErrNotFound, "task %q has no trained model yet (POST /api/train/%s first)", task, task)
	}
	s.mu.Lock()
	if h := s.heads[task]; h != nil && h.etag == etag {
		h.refs++
		s.mu.Unlock()
		return h, nil
	}
	s.mu.Unlock()

	cur, curETag, err := s.Models.Current(ctx, task)
	if err != nil {
		return nil, err
	}
	loaded, err := registry.LoadCurrentHead(ctx, s.Models.LoadHead, task, cur.Version)
	if err != nil {
		return nil, err
	}
	nh := &head{Head: loaded, etag: curETag, refs: 1}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.heads == nil {
		s.heads = map[string]*head{}
	}
	if old := s.heads[task]; old != nil {
		old.retired = true
		s.closeIfUnused(old)
	}
	s.heads[task] = nh
	return nh, nil
}

func (s *Service) release(h *head) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h.refs--
	s.closeIfUnused(h)
}

// closeIfUnused closes a replaced head once no request uses it. s.mu must
// be held.
func (s *Service) closeIfUnused(h *head) {
	if h.retired && h.refs == 0 {
		if err := h.Close(); err != nil {
			s.log().Warn("closing a replaced model failed", "version", h.Version, "error", err)
		}
	}
}

func (s *Service) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}
