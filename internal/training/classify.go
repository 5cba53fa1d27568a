package training

import (
	"context"
	"fmt"
	"strings"

	"github.com/tinyhead/tinyhead/internal/mlp"
	"github.com/tinyhead/tinyhead/internal/onnxrt"
	"github.com/tinyhead/tinyhead/internal/registry"
)

// head is a loaded classifier version.
type head struct {
	version  string
	etag     string // of current.json when it was loaded (Classify's cache key)
	manifest *registry.Manifest
	clf      *onnxrt.Classifier

	// Guarded by Service.mu: requests using the head, and whether a newer
	// version replaced it (then the last user closes its session).
	refs    int
	retired bool
}

func (s *Service) loadHead(ctx context.Context, task, version string) (*head, error) {
	man, err := s.Registry.Manifest(ctx, task, version)
	if err != nil {
		return nil, err
	}
	model, err := s.Registry.Model(ctx, task, version)
	if err != nil {
		return nil, err
	}
	clf, err := onnxrt.NewClassifier(model, man.EmbeddingDim, len(man.Labels))
	if err != nil {
		return nil, fmt.Errorf("load model %s/%s: %w", task, version, err)
	}
	return &head{version: version, manifest: man, clf: clf}, nil
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

// MaxClassifyTexts bounds one Classify request.
const MaxClassifyTexts = 1000

// Classify embeds the texts and runs the task's current model on them. The
// model is cached, and reloaded when current.json changes (one cheap
// properties request per call).
func (s *Service) Classify(ctx context.Context, task string, texts []string) (*Classification, error) {
	if len(texts) == 0 || len(texts) > MaxClassifyTexts {
		return nil, fmt.Errorf("%w: send 1 to %d texts, not %d", ErrBadRequest, MaxClassifyTexts, len(texts))
	}
	for i, t := range texts {
		if strings.TrimSpace(t) == "" {
			return nil, fmt.Errorf("%w: text %d is empty", ErrBadRequest, i)
		}
	}
	h, err := s.currentHead(ctx, task)
	if err != nil {
		return nil, err
	}
	defer s.release(h)
	if h.manifest.EmbeddingModel != s.Embedder.ModelID() {
		return nil, fmt.Errorf("model %s/%s was trained on %s embeddings, but this app embeds with %s; retrain it",
			task, h.version, h.manifest.EmbeddingModel, s.Embedder.ModelID())
	}
	vecs, err := s.Embedder.Embed(ctx, texts)
	if err != nil {
		return nil, err
	}
	x := make([]float32, 0, len(vecs)*h.manifest.EmbeddingDim)
	for _, v := range vecs {
		x = append(x, v...)
	}
	probs, err := h.clf.Predict(x, len(vecs))
	if err != nil {
		return nil, err
	}
	classes := len(h.manifest.Labels)
	out := &Classification{Task: task, Version: h.version, Predictions: make([]Prediction, len(vecs))}
	for i := range vecs {
		p := probs[i*classes : (i+1)*classes]
		pred := Prediction{Label: h.manifest.Labels[mlp.Argmax(p)], Probabilities: make(map[string]float64, classes)}
		for k, l := range h.manifest.Labels {
			pred.Probabilities[l] = float64(p[k])
		}
		out.Predictions[i] = pred
	}
	return out, nil
}

// currentHead returns the cached current model of a task, reloading it if
// current.json changed since it was loaded. The caller must release it.
func (s *Service) currentHead(ctx context.Context, task string) (*head, error) {
	etag, err := s.Registry.CurrentETag(ctx, task)
	if err != nil {
		return nil, err
	}
	if etag == "" {
		return nil, fmt.Errorf("task %q has no trained model yet (POST /api/train/%s first): %w", task, task, registry.ErrNoModel)
	}
	s.mu.Lock()
	if h := s.heads[task]; h != nil && h.etag == etag {
		h.refs++
		s.mu.Unlock()
		return h, nil
	}
	s.mu.Unlock()

	cur, curETag, err := s.Registry.Current(ctx, task)
	if err != nil {
		return nil, err
	}
	nh, err := s.loadHead(ctx, task, cur.Version)
	if err != nil {
		return nil, err
	}
	nh.etag, nh.refs = curETag, 1
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

// closeIfUnused closes a replaced head's session once no request uses it.
// s.mu must be held.
func (s *Service) closeIfUnused(h *head) {
	if h.retired && h.refs == 0 {
		h.clf.Close()
	}
}
