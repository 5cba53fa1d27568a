// Package embedwin embeds whole documents with a model that reads a fixed
// number of tokens: a text's tokens are cut into overlapping windows, every
// window is embedded, and the document's vector is the mean of its windows'
// vectors. A Window of zero value clips instead (one window: the head).
// Both embedders (internal/onnxembed for USE-lite, internal/bertembed for
// BERT-family models) run their texts through Run, so batching by length
// and pooling are written once.
package embedwin

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Window says how a text longer than the model's input is read.
type Window struct {
	// Tokens is the window length in tokens (the text's own tokens, not
	// counting special tokens a model adds around them). 0 means no
	// windowing: the text is clipped to the model's MaxTokens.
	Tokens int `json:"tokens"`
	// Overlap is how many tokens consecutive windows share.
	Overlap int `json:"overlap"`
	// Max is the most windows per document; a longer document is read by
	// its first ⌈Max/2⌉ and last ⌊Max/2⌋ windows (head and tail). 0 means
	// DefaultMax.
	Max int `json:"max"`
}

// DefaultMax is the cap on windows per document when Window.Max is 0.
const DefaultMax = 8

// Enabled reports whether w windows texts (rather than clipping them).
func (w Window) Enabled() bool { return w.Tokens > 0 }

// max returns the cap on windows per document.
func (w Window) max() int {
	if w.Max <= 0 {
		return DefaultMax
	}
	return w.Max
}

// Validate checks w against the model's longest input, maxTokens.
func (w Window) Validate(maxTokens int) error {
	if !w.Enabled() {
		if w.Overlap != 0 || w.Max != 0 {
			return fmt.Errorf("window: overlap and max need a window length")
		}
		return nil
	}
	if w.Tokens > maxTokens {
		return fmt.Errorf("window of %d tokens is longer than the model's %d", w.Tokens, maxTokens)
	}
	if w.Overlap < 0 || w.Overlap >= w.Tokens {
		return fmt.Errorf("window overlap %d must be from 0 to %d", w.Overlap, w.Tokens-1)
	}
	if w.Max < 0 {
		return fmt.Errorf("window max %d must not be negative", w.Max)
	}
	return nil
}

// Suffix is what w adds to the model id stored with the vectors, so that
// clipped and windowed vectors of one model never mix: "" when clipping,
// "@win128o32x8" for 128-token windows overlapping by 32, at most 8.
func (w Window) Suffix() string {
	if !w.Enabled() {
		return ""
	}
	return fmt.Sprintf("@win%do%dx%d", w.Tokens, w.Overlap, w.max())
}

// String is w as Parse reads it: "off" or "128o32x8".
func (w Window) String() string {
	if !w.Enabled() {
		return "off"
	}
	return strings.TrimPrefix(w.Suffix(), "@win")
}

// Parse reads a window setting: "off" (or "") clips; "128" is 128-token
// windows without overlap; "128o32" overlap 32; "128o32x8" at most 8
// windows per document (DefaultMax when x is left out).
func Parse(s string) (Window, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "off" {
		return Window{}, nil
	}
	m := windowSyntax.FindStringSubmatch(s)
	if m == nil {
		return Window{}, fmt.Errorf("window %q: want off or TOKENS[oOVERLAP][xMAX], e.g. 128o32x8", s)
	}
	var w Window
	for i, dst := range []*int{&w.Tokens, &w.Overlap, &w.Max} {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.Atoi(m[i+1])
		if err != nil {
			return Window{}, fmt.Errorf("window %q: %w", s, err)
		}
		*dst = n
	}
	if w.Tokens == 0 {
		return Window{}, fmt.Errorf("window %q: the length must be positive", s)
	}
	return w, nil
}

var windowSyntax = regexp.MustCompile(`^([0-9]+)(?:o([0-9]+))?(?:x([0-9]+))?$`)

// Split cuts tokens into the windows a model reads. Clipping (w not
// enabled) gives the first maxTokens tokens. Windows start every
// Tokens−Overlap tokens; the last one ends with the text; when there are
// more than Max, the first ⌈Max/2⌉ and the last ⌊Max/2⌋ are kept. An
// empty text gives one empty window.
func (w Window) Split(tokens []int32, maxTokens int) [][]int32 {
	if !w.Enabled() {
		return [][]int32{tokens[:min(len(tokens), maxTokens)]}
	}
	stride := w.Tokens - w.Overlap
	n := 1
	if len(tokens) > w.Tokens {
		n += (len(tokens) - w.Tokens + stride - 1) / stride
	}
	window := func(k int) []int32 {
		start := k * stride
		return tokens[start:min(start+w.Tokens, len(tokens))]
	}
	out := make([][]int32, 0, min(n, w.max()))
	if n <= w.max() {
		for k := range n {
			out = append(out, window(k))
		}
		return out
	}
	head := (w.max() + 1) / 2
	for k := range head {
		out = append(out, window(k))
	}
	for k := n - (w.max() - head); k < n; k++ {
		out = append(out, window(k))
	}
	return out
}

// Model is what Run needs from an embedder.
type Model struct {
	// ID names the model in errors.
	ID string
	// Dim is the length of every vector.
	Dim int
	// MaxTokens is the longest window the model reads (clipping length).
	MaxTokens int
	// Batch is the most windows per model run.
	Batch int
	// Window is how long texts are read.
	Window Window
	// Normalize scales every document vector to unit length after pooling
	// (models whose window vectors are unit vectors).
	Normalize bool
	// Tokenize gives a text's tokens; when clipping it may stop after
	// MaxTokens.
	Tokenize func(text string) []int32
	// Run embeds windows in one model run and returns their vectors back
	// to back, Dim each.
	Run func(windows [][]int32) ([]float32, error)
}

// Stats counts what one Run did, for benchmarks and logs.
type Stats struct {
	Texts, Windows, Tokens int
}

// Add adds o's counts to s.
func (s *Stats) Add(o Stats) {
	s.Texts += o.Texts
	s.Windows += o.Windows
	s.Tokens += o.Tokens
}

// Run returns one vector per text, in order, or an error naming the first
// empty text. Windows of all texts are run in batches of similar length,
// so that short windows are not padded to long ones.
func Run(ctx context.Context, m Model, texts []string) ([][]float32, Stats, error) {
	var windows [][]int32
	first := make([]int, len(texts)+1)
	st := Stats{Texts: len(texts)}
	for i, t := range texts {
		toks := m.Tokenize(t)
		if len(toks) == 0 {
			return nil, st, fmt.Errorf("embed: text %d is empty", i)
		}
		first[i] = len(windows)
		for _, w := range m.Window.Split(toks, m.MaxTokens) {
			// A copy: a long text's tokens are dropped as soon as its
			// windows are cut, not held until the last text is embedded.
			windows = append(windows, slices.Clone(w))
			st.Tokens += len(w)
		}
	}
	first[len(texts)] = len(windows)
	st.Windows = len(windows)

	order := make([]int, len(windows))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return len(windows[a]) - len(windows[b]) })
	vecs := make([][]float32, len(windows))
	batch := make([][]int32, 0, m.Batch)
	for start := 0; start < len(order); start += m.Batch {
		if err := ctx.Err(); err != nil {
			return nil, st, err
		}
		part := order[start:min(start+m.Batch, len(order))]
		batch = batch[:0]
		for _, k := range part {
			batch = append(batch, windows[k])
		}
		flat, err := m.Run(batch)
		if err != nil {
			return nil, st, err
		}
		if len(flat) != len(part)*m.Dim {
			return nil, st, fmt.Errorf("embed: %s returned %d values for %d windows of %d", m.ID, len(flat), len(part), m.Dim)
		}
		for j, k := range part {
			vecs[k] = flat[j*m.Dim : (j+1)*m.Dim : (j+1)*m.Dim]
		}
	}
	out := make([][]float32, len(texts))
	for i := range texts {
		out[i] = pool(vecs[first[i]:first[i+1]], m.Normalize)
	}
	return out, st, nil
}

// pool is the mean of vecs (vecs[0] itself when there is one window),
// scaled to unit length when normalize is set.
func pool(vecs [][]float32, normalize bool) []float32 {
	if len(vecs) == 1 && !normalize {
		return vecs[0]
	}
	dim := len(vecs[0])
	sum := make([]float64, dim)
	for _, v := range vecs {
		for k, x := range v {
			sum[k] += float64(x)
		}
	}
	scale := 1 / float64(len(vecs))
	if normalize {
		var norm float64
		for _, x := range sum {
			norm += x * x
		}
		if norm > 0 {
			scale = 1 / math.Sqrt(norm)
		}
	}
	out := make([]float32, dim)
	for k, x := range sum {
		out[k] = float32(x * scale)
	}
	return out
}
