// Package onnxembed embeds texts with a sentence-embedding model run by ONNX
// Runtime (github.com/yalue/onnxruntime_go). It implements tinyhead.Embedder
// for the default model, Universal Sentence Encoder Lite, converted from
// TF.js to ONNX at set-up (cmd/convert-model, internal/uselite).
package onnxembed

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"unicode"
	"unicode/utf8"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/tinyhead/tinyhead/internal/sentencepiece"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// Config configures an Embedder.
type Config struct {
	// Dir is the model directory (model.json, model.onnx, vocab.json).
	Dir string
	// Threads is ONNX Runtime's intra-op thread count; 0 means one per CPU.
	Threads int
	// BatchSize is the most texts per model run; 0 means
	// DefaultBatchSize. Larger batches pad more, smaller ones pay more
	// per-run overhead.
	BatchSize int
}

// DefaultBatchSize is the most texts per model run when Config.BatchSize
// is 0.
const DefaultBatchSize = 32

// Embedder runs one ONNX Runtime session, shared by all callers; it is safe
// for concurrent use.
type Embedder struct {
	info  Info
	tok   *sentencepiece.Tokenizer
	sess  *ort.DynamicAdvancedSession
	batch int
}

var _ tinyhead.Embedder = (*Embedder)(nil)

// Open loads the model in cfg.Dir. onnxrt.Init must have been called.
func Open(cfg Config) (*Embedder, error) {
	info, err := ReadInfo(cfg.Dir)
	if err != nil {
		return nil, err
	}
	if info.Format != FormatUSELiteSparse {
		return nil, fmt.Errorf("model %s: input format %q is not supported", info.ID, info.Format)
	}
	tok, err := sentencepiece.LoadFile(filepath.Join(cfg.Dir, info.Vocab))
	if err != nil {
		return nil, fmt.Errorf("load tokenizer of %s: %w", info.ID, err)
	}
	threads := cfg.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("create session options: %w", err)
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(threads); err != nil {
		return nil, err
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, err
	}
	sess, err := ort.NewDynamicAdvancedSession(filepath.Join(cfg.Dir, info.Model),
		[]string{"indices", "values"}, []string{OutputName}, opts)
	if err != nil {
		return nil, fmt.Errorf("open ONNX session for %s: %w", info.ID, err)
	}
	batch := cfg.BatchSize
	if batch <= 0 {
		batch = DefaultBatchSize
	}
	return &Embedder{info: info, tok: tok, sess: sess, batch: batch}, nil
}

// ModelID implements tinyhead.Embedder.
func (e *Embedder) ModelID() string { return e.info.ID }

// Dim implements tinyhead.Embedder.
func (e *Embedder) Dim() int { return e.info.Dim }

// Info describes the loaded model.
func (e *Embedder) Info() Info { return e.info }

// Close releases the ONNX Runtime session.
func (e *Embedder) Close() error { return e.sess.Destroy() }

// Tokenize returns the token ids the model sees for a text: whitespace
// collapsed, clipped to MaxTokens. It is exported for benchmarks and tests.
func (e *Embedder) Tokenize(text string) []int32 {
	ids := e.tok.AppendEncode(nil, modelText(text, e.info.MaxTokens, e.maxRunes()))
	if len(ids) > e.info.MaxTokens {
		ids = ids[:e.info.MaxTokens]
	}
	return ids
}

// maxRunes is the most code points of a text the tokenizer is given:
// twice what MaxTokens ids can cover (sentencepiece's MaxPieceLen), so that
// the ids the model reads come out as for the whole text, while a text of
// any length — a 100 MB "word" without spaces included — costs the
// tokenizer at most about 14 bytes × maxRunes (115 KiB for USE-lite).
func (e *Embedder) maxRunes() int { return 2 * e.info.MaxTokens * e.tok.MaxPieceLen() }

// Embed implements tinyhead.Embedder. It returns one vector per text, in
// order, or an error naming the first empty text. Texts are run in batches
// of similar token length, so that short texts are not padded to long ones.
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	tokens := make([][]int32, len(texts))
	for i, t := range texts {
		tokens[i] = e.Tokenize(t)
		if len(tokens[i]) == 0 {
			// The sparse input silently drops a trailing empty text and
			// fails on an all-empty batch, so empty texts never reach it.
			return nil, fmt.Errorf("embed: text %d is empty", i)
		}
	}
	order := make([]int, len(texts))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return len(tokens[a]) - len(tokens[b]) })

	out := make([][]float32, len(texts))
	for start := 0; start < len(order); start += e.batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		part := order[start:min(start+e.batch, len(order))]
		vecs, err := e.run(tokens, part)
		if err != nil {
			return nil, err
		}
		for k, i := range part {
			out[i] = vecs[k*e.info.Dim : (k+1)*e.info.Dim : (k+1)*e.info.Dim]
		}
	}
	return out, nil
}

// run embeds the texts tokens[part[0]], tokens[part[1]], … in one model run
// and returns their vectors back to back.
func (e *Embedder) run(tokens [][]int32, part []int) ([]float32, error) {
	n := 0
	for _, i := range part {
		n += len(tokens[i])
	}
	indices := make([]int64, 0, 2*n)
	values := make([]int64, 0, n)
	for row, i := range part {
		for pos, id := range tokens[i] {
			indices = append(indices, int64(row), int64(pos))
			values = append(values, int64(id))
		}
	}
	idxT, err := ort.NewTensor(ort.NewShape(int64(n), 2), indices)
	if err != nil {
		return nil, fmt.Errorf("embed: indices tensor: %w", err)
	}
	defer idxT.Destroy()
	valT, err := ort.NewTensor(ort.NewShape(int64(n)), values)
	if err != nil {
		return nil, fmt.Errorf("embed: values tensor: %w", err)
	}
	defer valT.Destroy()
	outs := []ort.Value{nil}
	if err := e.sess.Run([]ort.Value{idxT, valT}, outs); err != nil {
		return nil, fmt.Errorf("embed: run %s on %d texts: %w", e.info.ID, len(part), err)
	}
	defer outs[0].Destroy()
	res, ok := outs[0].(*ort.Tensor[float32])
	if !ok {
		return nil, fmt.Errorf("embed: model output is %T, want float32 tensor", outs[0])
	}
	// A text the model dropped would shift every later row: check the count.
	if shape := res.GetShape(); len(shape) != 2 || shape[0] != int64(len(part)) || shape[1] != int64(e.info.Dim) {
		return nil, fmt.Errorf("embed: model returned shape %v for %d texts, want [%d %d]", shape, len(part), len(part), e.info.Dim)
	}
	return slices.Clone(res.GetData()), nil
}

// modelText prepares a text for the tokenizer: runs of whitespace become one
// space (the tokenizer only treats ' ' as a word boundary; newlines and tabs
// would become unknown tokens), and only the start of the text is kept — at
// most 2 × maxTokens words (every word yields at least one token and the
// model reads at most maxTokens) and at most maxRunes code points, which
// caps the work on a long word without spaces. Tokenizing a long document
// whole would be wasted work, and memory proportional to its length.
func modelText(text string, maxTokens, maxRunes int) string {
	maxWords := 2 * maxTokens
	buf := make([]byte, 0, min(len(text), 4*maxRunes))
	words, runes := 0, 0
	inSpace := true
	for i := 0; i < len(text) && runes < maxRunes; {
		r, size := utf8.DecodeRuneInString(text[i:])
		if unicode.IsSpace(r) {
			inSpace = true
			i += size
			continue
		}
		if inSpace {
			if words == maxWords {
				break
			}
			if words > 0 {
				buf = append(buf, ' ')
				runes++
			}
			words++
			inSpace = false
		}
		buf = append(buf, text[i:i+size]...)
		runes++
		i += size
	}
	return string(buf)
}
