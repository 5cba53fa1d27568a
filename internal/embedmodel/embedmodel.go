// Package embedmodel opens any embedding model directory tinyhead reads:
// it looks at the directory's model.json and returns the embedder for its
// format — Universal Sentence Encoder Lite as cmd/convert-model writes it
// (internal/onnxembed), or a BERT-family sentence-transformer exported to
// ONNX with its tokenizer.json (internal/bertembed).
package embedmodel

import (
	"fmt"

	"github.com/tinyhead/tinyhead/internal/bertembed"
	"github.com/tinyhead/tinyhead/internal/embedwin"
	"github.com/tinyhead/tinyhead/internal/onnxembed"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// Embedder is an open embedding model; Close releases its ONNX Runtime
// session.
type Embedder interface {
	tinyhead.Embedder
	Close() error
}

// Options tune how a model runs; none changes its vectors except Window.
type Options struct {
	// Threads is ONNX Runtime's intra-op thread count; 0 means one per CPU.
	Threads int
	// BatchSize is the most windows per model run; 0 means
	// onnxembed.DefaultBatchSize.
	BatchSize int
	// Window is how texts longer than the model's input are read; nil
	// means what the directory's model.json says (clipped when it says
	// nothing). It is part of the model id stored with the vectors.
	Window *embedwin.Window
}

// Open opens the model in dir. onnxrt.Init must have been called.
func Open(dir string, opts Options) (Embedder, error) {
	info, err := onnxembed.ReadInfo(dir)
	if err != nil {
		return nil, err
	}
	cfg := onnxembed.Config{Dir: dir, Threads: opts.Threads, BatchSize: opts.BatchSize, Window: opts.Window}
	switch info.Format {
	case onnxembed.FormatUSELiteSparse:
		e, err := onnxembed.Open(cfg)
		if err != nil {
			return nil, err
		}
		return e, nil
	case onnxembed.FormatBERT:
		e, err := bertembed.Open(cfg)
		if err != nil {
			return nil, err
		}
		return e, nil
	default:
		return nil, fmt.Errorf("model %s in %s: format %q is not supported (want %q or %q)",
			info.ID, dir, info.Format, onnxembed.FormatUSELiteSparse, onnxembed.FormatBERT)
	}
}
