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
	"strings"
	"unicode"
	"unicode/utf8"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/tinyhead/tinyhead/internal/embedwin"
	"github.com/tinyhead/tinyhead/internal/sentencepiece"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// Config configures an Embedder.
type Config struct {
	// Dir is the model directory (model.json, model.onnx, vocab.json).
	Dir string
	// Threads is ONNX Runtime's intra-op thread count; 0 means one per CPU.
	Threads int
	// BatchSize is the most texts (windows) per model run; 0 means
	// DefaultBatchSize. Larger batches pad more, smaller ones pay more
	// per-run overhead.
	BatchSize int
	// Window is how texts longer than the model's MaxTokens are read; nil
	// means what model.json says (clipped when it says nothing).
	Window *embedwin.Window
}

// WindowFor returns the window cfg asks for, or else info's, checked
// against limit, the most tokens of a text one model run reads.
func (cfg Config) WindowFor(info Info, limit int) (embedwin.Window, error) {
	w := embedwin.Window{}
	switch {
	case cfg.Window != nil:
		w = *cfg.Window
	case info.Window != nil:
		w = *info.Window
	}
	if err := w.Validate(limit); err != nil {
		return embedwin.Window{}, fmt.Errorf("model %s: %w", info.ID, err)
	}
	return w, nil
}

// IntraOpThreads is ONNX Runtime's intra-op thread count cfg asks for.
func (cfg Config) IntraOpThreads() int {
	if cfg.Threads <= 0 {
		return runtime.NumCPU()
	}
	return cfg.Threads
}

// RunBatch is the most windows per model run cfg asks for.
func (cfg Config) RunBatch() int {
	if cfg.BatchSize <= 0 {
		return DefaultBatchSize
	}
	return cfg.BatchSize
}

// DefaultBatchSize is the most texts (windows, when texts are read in
// windows) per model run when Config.BatchSize is 0.
const DefaultBatchSize = 32

// Embedder runs one ONNX Runtime session, shared by all callers; it is safe
// for concurrent use.
type Embedder struct {
	info  Info
	tok   *sentencepiece.Tokenizer
	sess  *ort.DynamicAdvancedSession
	model embedwin.Model
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
	win, err := cfg.WindowFor(info, info.MaxTokens)
	if err != nil {
		return nil, err
	}
	tok, err := sentencepiece.LoadFile(filepath.Join(cfg.Dir, info.Vocab))
	if err != nil {
		return nil, fmt.Errorf("load tokenizer of %s: %w", info.ID, err)
	}
	sess, err := NewSession(filepath.Join(cfg.Dir, info.Model), []string{"indices", "values"}, []string{OutputName}, cfg.IntraOpThreads())
	if err != nil {
		return nil, fmt.Errorf("open ONNX session for %s: %w", info.ID, err)
	}
	e := &Embedder{info: info, tok: tok, sess: sess}
	e.model = embedwin.Model{
		ID: info.ID, Dim: info.Dim, MaxTokens: info.MaxTokens, Batch: cfg.RunBatch(), Window: win,
		Tokenize: e.Tokenize, Run: e.run,
	}
	if win.Enabled() {
		e.model.Tokenize = e.tokenizeAll
	}
	return e, nil
}

// NewSession opens an ONNX Runtime session on the model file path with
// the given inputs and outputs and intra-op thread count.
func NewSession(path string, inputs, outputs []string, threads int) (*ort.DynamicAdvancedSession, error) {
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
	return ort.NewDynamicAdvancedSession(path, inputs, outputs, opts)
}

// ModelID implements tinyhead.Embedder: the model's id, and how long
// texts are read when they are windowed ("use-lite-en@0.2.0@win128o32x8").
func (e *Embedder) ModelID() string { return e.info.ID + e.model.Window.Suffix() }

// Window is how the embedder reads texts longer than the model's input.
func (e *Embedder) Window() embedwin.Window { return e.model.Window }

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

// tokenizeAll returns all of a text's token ids (windowed reading); the
// text's length is bounded by the ingest's MaxTextBytes.
func (e *Embedder) tokenizeAll(text string) []int32 {
	return e.tok.AppendEncode(nil, strings.Join(strings.Fields(text), " "))
}

// maxRunes is the most code points of a text the tokenizer is given:
// twice what MaxTokens ids can cover (sentencepiece's MaxPieceLen), so that
// the ids the model reads come out as for the whole text, while a text of
// any length — a 100 MB "word" without spaces included — costs the
// tokenizer at most about 14 bytes × maxRunes (115 KiB for USE-lite).
func (e *Embedder) maxRunes() int { return 2 * e.info.MaxTokens * e.tok.MaxPieceLen() }

// Embed implements tinyhead.Embedder. It returns one vector per text, in
// order, or an error naming the first empty text. Texts are run in batches
// of similar token length, so that short texts are not padded to long ones;
// a windowed embedder returns the mean of a text's window vectors.
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	vecs, _, err := embedwin.Run(ctx, e.model, texts)
	return vecs, err
}

// EmbedStats is Embed that also says how many windows and tokens the model
// read (benchmarks).
func (e *Embedder) EmbedStats(ctx context.Context, texts []string) ([][]float32, embedwin.Stats, error) {
	return embedwin.Run(ctx, e.model, texts)
}

// run embeds windows (sparse empty texts never reach it: Run refuses
// them, and the sparse input silently drops a trailing empty text) in one
// model run and returns their vectors back to back.
func (e *Embedder) run(windows [][]int32) ([]float32, error) {
	n := 0
	for _, w := range windows {
		n += len(w)
	}
	indices := make([]int64, 0, 2*n)
	values := make([]int64, 0, n)
	for row, w := range windows {
		for pos, id := range w {
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
		return nil, fmt.Errorf("embed: run %s on %d texts: %w", e.info.ID, len(windows), err)
	}
	defer outs[0].Destroy()
	res, ok := outs[0].(*ort.Tensor[float32])
	if !ok {
		return nil, fmt.Errorf("embed: model output is %T, want float32 tensor", outs[0])
	}
	// A text the model dropped would shift every later row: check the count.
	if shape := res.GetShape(); len(shape) != 2 || shape[0] != int64(len(windows)) || shape[1] != int64(e.info.Dim) {
		return nil, fmt.Errorf("embed: model returned shape %v for %d texts, want [%d %d]", shape, len(windows), len(windows), e.info.Dim)
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
