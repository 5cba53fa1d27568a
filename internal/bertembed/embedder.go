// Package bertembed embeds texts with a BERT-family sentence encoder
// exported to ONNX (a sentence-transformer such as all-MiniLM-L6-v2 or
// bge-small-en-v1.5, exported with Hugging Face's optimum), run by ONNX
// Runtime, with the model's own tokenizer.json (internal/wordpiece).
//
// The model directory holds model.json (onnxembed.Info with format "bert":
// pooling, normalize, max_tokens, prefixes), the ONNX graph and
// tokenizer.json. The graph takes input_ids and attention_mask (and
// token_type_ids if it declares it), int64 [N, T], and gives either token
// embeddings [N, T, H] (pooled here: mean over the mask, or the first
// token's) or a pooled vector [N, H].
package bertembed

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/tinyhead/tinyhead/internal/embedwin"
	"github.com/tinyhead/tinyhead/internal/onnxembed"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
	"github.com/tinyhead/tinyhead/internal/wordpiece"
)

// Pooling modes of model.json's "pooling".
const (
	PoolMean   = "mean"   // token embeddings averaged over the attention mask
	PoolCLS    = "cls"    // the first ([CLS]) token's embedding
	PoolPooler = "pooler" // the graph's output is already one vector per text
)

// Input names of the graph, as Hugging Face exports them.
const (
	inputIDs      = "input_ids"
	attentionMask = "attention_mask"
	tokenTypeIDs  = "token_type_ids"
)

// Embedder runs one ONNX Runtime session, shared by all callers; it is safe
// for concurrent use.
type Embedder struct {
	info     onnxembed.Info
	tok      *wordpiece.Tokenizer
	sess     *ort.DynamicAdvancedSession
	typeIDs  bool // the graph takes token_type_ids
	pooled   bool // the output is [N, H]
	passages embedwin.Model
	queries  embedwin.Model
}

var _ tinyhead.Embedder = (*Embedder)(nil)

// Open loads the model in cfg.Dir. onnxrt.Init must have been called.
func Open(cfg onnxembed.Config) (*Embedder, error) {
	info, err := onnxembed.ReadInfo(cfg.Dir)
	if err != nil {
		return nil, err
	}
	if info.Format != onnxembed.FormatBERT {
		return nil, fmt.Errorf("model %s: format %q is not %q", info.ID, info.Format, onnxembed.FormatBERT)
	}
	tok, err := wordpiece.Load(filepath.Join(cfg.Dir, info.Vocab))
	if err != nil {
		return nil, fmt.Errorf("load tokenizer of %s: %w", info.ID, err)
	}
	e := &Embedder{info: info, tok: tok}
	path := filepath.Join(cfg.Dir, info.Model)
	inputs, output, err := e.signature(path)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", info.ID, err)
	}
	passage := tok.Encode(info.PassagePrefix, 0)
	query := tok.Encode(info.QueryPrefix, 0)
	// Every window is [CLS] prefix tokens [SEP]: what is left of
	// max_tokens is the longest window of the text's own tokens.
	room := info.MaxTokens - len(tok.Head) - len(tok.Tail) - max(len(passage), len(query))
	if room < 1 {
		return nil, fmt.Errorf("model %s: max_tokens %d leaves no room for text after special tokens and prefix", info.ID, info.MaxTokens)
	}
	win, err := cfg.WindowFor(info, room)
	if err != nil {
		return nil, err
	}
	e.sess, err = onnxembed.NewSession(path, inputs, []string{output}, cfg.IntraOpThreads())
	if err != nil {
		return nil, fmt.Errorf("open ONNX session for %s: %w", info.ID, err)
	}
	model := func(prefix []int32) embedwin.Model {
		return embedwin.Model{
			ID: info.ID, Dim: info.Dim, MaxTokens: room, Batch: cfg.RunBatch(), Window: win,
			Normalize: info.Normalize,
			Tokenize: func(text string) []int32 {
				if win.Enabled() {
					return tok.Encode(text, 0)
				}
				return tok.Encode(text, room)
			},
			Run: func(windows [][]int32) ([]float32, error) { return e.run(prefix, windows) },
		}
	}
	e.passages, e.queries = model(passage), model(query)
	return e, nil
}

// signature reads the graph's inputs and output and checks them against
// model.json: the input names to feed, in order, and the output to read.
func (e *Embedder) signature(path string) (inputs []string, output string, err error) {
	ins, outs, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return nil, "", fmt.Errorf("read ONNX graph %s: %w", path, err)
	}
	have := map[string]bool{}
	for _, in := range ins {
		switch in.Name {
		case inputIDs, attentionMask, tokenTypeIDs:
			have[in.Name] = true
		default:
			return nil, "", fmt.Errorf("graph input %q is not one of %s, %s, %s", in.Name, inputIDs, attentionMask, tokenTypeIDs)
		}
	}
	if !have[inputIDs] || !have[attentionMask] {
		return nil, "", fmt.Errorf("graph inputs %v: want %s and %s", ins, inputIDs, attentionMask)
	}
	inputs = []string{inputIDs, attentionMask}
	if have[tokenTypeIDs] {
		inputs = append(inputs, tokenTypeIDs)
		e.typeIDs = true
	}
	i := slices.IndexFunc(outs, func(o ort.InputOutputInfo) bool { return e.info.Output == "" || o.Name == e.info.Output })
	if i < 0 || len(outs) == 0 {
		return nil, "", fmt.Errorf("graph has no output %q", e.info.Output)
	}
	out := outs[i]
	dims := out.Dimensions
	switch len(dims) {
	case 3:
		if e.info.Pooling == "" {
			e.info.Pooling = PoolMean
		}
		if e.info.Pooling != PoolMean && e.info.Pooling != PoolCLS {
			return nil, "", fmt.Errorf("output %s is token embeddings %v: pooling must be %q or %q, not %q", out.Name, dims, PoolMean, PoolCLS, e.info.Pooling)
		}
	case 2:
		if e.info.Pooling == "" {
			e.info.Pooling = PoolPooler
		}
		if e.info.Pooling != PoolPooler {
			return nil, "", fmt.Errorf("output %s is one vector per text %v: pooling must be %q, not %q", out.Name, dims, PoolPooler, e.info.Pooling)
		}
		e.pooled = true
	default:
		return nil, "", fmt.Errorf("output %s has shape %v: want [N, T, H] or [N, H]", out.Name, dims)
	}
	if h := dims[len(dims)-1]; h > 0 && h != int64(e.info.Dim) {
		return nil, "", fmt.Errorf("output %s has %d dimensions, model.json says dim %d", out.Name, h, e.info.Dim)
	}
	return inputs, out.Name, nil
}

// ModelID implements tinyhead.Embedder: the model's id, and how long texts
// are read when they are windowed ("bge-small-en-v1.5@win256o64x8").
func (e *Embedder) ModelID() string { return e.info.ID + e.passages.Window.Suffix() }

// Dim implements tinyhead.Embedder.
func (e *Embedder) Dim() int { return e.info.Dim }

// Info describes the loaded model (pooling filled in from the graph when
// model.json left it out).
func (e *Embedder) Info() onnxembed.Info { return e.info }

// Close releases the ONNX Runtime session.
func (e *Embedder) Close() error { return e.sess.Destroy() }

// Tokenize returns the ids the model reads for a text, clipped, with the
// special tokens and the passage prefix: for tests.
func (e *Embedder) Tokenize(text string) []int32 {
	w := embedwin.Window{}.Split(e.tok.Encode(text, e.passages.MaxTokens), e.passages.MaxTokens)[0]
	return e.sequence(e.tok.Encode(e.info.PassagePrefix, 0), w)
}

// Embed implements tinyhead.Embedder: one vector per text (with the
// passage prefix), in order, or an error naming the first empty text.
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	vecs, _, err := embedwin.Run(ctx, e.passages, texts)
	return vecs, err
}

// EmbedStats is Embed that also says how many windows and tokens the model
// read (benchmarks).
func (e *Embedder) EmbedStats(ctx context.Context, texts []string) ([][]float32, embedwin.Stats, error) {
	return embedwin.Run(ctx, e.passages, texts)
}

// EmbedQueries embeds search queries: as Embed, with the query prefix.
func (e *Embedder) EmbedQueries(ctx context.Context, texts []string) ([][]float32, error) {
	vecs, _, err := embedwin.Run(ctx, e.queries, texts)
	return vecs, err
}

// sequence is one model input row: [CLS] prefix window [SEP].
func (e *Embedder) sequence(prefix, window []int32) []int32 {
	seq := make([]int32, 0, len(e.tok.Head)+len(prefix)+len(window)+len(e.tok.Tail))
	seq = append(seq, e.tok.Head...)
	seq = append(seq, prefix...)
	seq = append(seq, window...)
	return append(seq, e.tok.Tail...)
}

// run embeds windows in one padded batch and returns their vectors back to
// back (unit vectors when the model normalizes).
func (e *Embedder) run(prefix []int32, windows [][]int32) ([]float32, error) {
	n := len(windows)
	width := 0
	seqs := make([][]int32, n)
	for i, w := range windows {
		seqs[i] = e.sequence(prefix, w)
		width = max(width, len(seqs[i]))
	}
	ids := make([]int64, n*width)
	mask := make([]int64, n*width)
	for i, s := range seqs {
		row := ids[i*width : (i+1)*width]
		for j := range row {
			row[j] = int64(e.tok.Pad)
		}
		for j, id := range s {
			row[j] = int64(id)
			mask[i*width+j] = 1
		}
	}
	shape := ort.NewShape(int64(n), int64(width))
	var values []ort.Value
	defer func() {
		for _, v := range values {
			v.Destroy()
		}
	}()
	inputs := [][]int64{ids, mask}
	if e.typeIDs {
		inputs = append(inputs, make([]int64, n*width)) // one segment
	}
	for _, data := range inputs {
		t, err := ort.NewTensor(shape, data)
		if err != nil {
			return nil, fmt.Errorf("embed: input tensor: %w", err)
		}
		values = append(values, t)
	}
	outs := []ort.Value{nil}
	if err := e.sess.Run(values, outs); err != nil {
		return nil, fmt.Errorf("embed: run %s on %d texts: %w", e.info.ID, n, err)
	}
	defer outs[0].Destroy()
	res, ok := outs[0].(*ort.Tensor[float32])
	if !ok {
		return nil, fmt.Errorf("embed: model output is %T, want float32 tensor", outs[0])
	}
	dim := e.info.Dim
	got := res.GetShape()
	data := res.GetData()
	vecs := make([]float32, n*dim)
	switch {
	case e.pooled && slices.Equal(got, ort.NewShape(int64(n), int64(dim))):
		copy(vecs, data)
	case !e.pooled && slices.Equal(got, ort.NewShape(int64(n), int64(width), int64(dim))):
		for i, s := range seqs {
			e.pool(vecs[i*dim:(i+1)*dim], data[i*width*dim:(i+1)*width*dim], len(s))
		}
	default:
		return nil, fmt.Errorf("embed: %s returned shape %v for %d texts of %d tokens", e.info.ID, got, n, width)
	}
	if e.info.Normalize {
		for i := range n {
			unit(vecs[i*dim : (i+1)*dim])
		}
	}
	return vecs, nil
}

// pool writes into dst the vector of one row of token embeddings, of which
// the first tokens are real and the rest padding.
func (e *Embedder) pool(dst, row []float32, tokens int) {
	dim := len(dst)
	if e.info.Pooling == PoolCLS {
		copy(dst, row[:dim])
		return
	}
	sum := make([]float64, dim)
	for t := range tokens {
		for k, x := range row[t*dim : (t+1)*dim] {
			sum[k] += float64(x)
		}
	}
	for k := range dst {
		dst[k] = float32(sum[k] / float64(tokens))
	}
}

// unit scales v to length 1 (a zero vector stays zero).
func unit(v []float32) {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	if ss == 0 {
		return
	}
	s := 1 / math.Sqrt(ss)
	for k := range v {
		v[k] = float32(float64(v[k]) * s)
	}
}
