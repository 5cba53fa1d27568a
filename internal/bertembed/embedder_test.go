package bertembed_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinyhead/tinyhead/internal/bertembed"
	"github.com/tinyhead/tinyhead/internal/embedmodel"
	"github.com/tinyhead/tinyhead/internal/embedwin"
	"github.com/tinyhead/tinyhead/internal/onnxembed"
	"github.com/tinyhead/tinyhead/internal/onnxembed/embedtest"
)

// testdata/tiny-bert is written by testdata/make_tiny_bert.py (a random
// tiny BERT exported by torch.onnx.export, a WordPiece tokenizer.json,
// and PyTorch's vectors for fixed texts).
const tinyBERT = "testdata/tiny-bert"

type reference struct {
	Texts   []string               `json:"texts"`
	IDs     [][]int32              `json:"ids"`
	Vectors map[string][][]float32 `json:"vectors"`
	Window  embedwin.Window        `json:"window"`
}

func readReference(t *testing.T, dir string) reference {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref reference
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

// modelDir is the tiny model's directory with model.json changed by edit.
func modelDir(t *testing.T, edit func(*onnxembed.Info)) string {
	t.Helper()
	src, err := filepath.Abs(tinyBERT)
	if err != nil {
		t.Fatal(err)
	}
	info, err := onnxembed.ReadInfo(src)
	if err != nil {
		t.Fatal(err)
	}
	edit(&info)
	dir := t.TempDir()
	for _, f := range []string{"model.onnx", "pooled.onnx", "tokenizer.json"} {
		if err := os.Symlink(filepath.Join(src, f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := onnxembed.WriteInfo(dir, info); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestMatchesPyTorch: tinyhead's token ids and vectors are PyTorch's, for
// every pooling, for the graph that pools itself, and windowed; the texts
// are embedded together, in padded batches of 4 sorted by length, while
// PyTorch embedded each alone.
func TestMatchesPyTorch(t *testing.T) {
	embedtest.InitRuntime(t)
	ref := readReference(t, tinyBERT)
	tests := []struct {
		name, vectors string
		edit          func(*onnxembed.Info)
		id            string
	}{
		{"mean, normalized", "mean", func(*onnxembed.Info) {}, "tiny-bert-test"},
		{"mean", "mean_raw", func(i *onnxembed.Info) { i.Normalize = false }, "tiny-bert-test"},
		{"cls", "cls", func(i *onnxembed.Info) { i.Pooling, i.Normalize = bertembed.PoolCLS, false }, "tiny-bert-test"},
		{"pooler output", "pooler", func(i *onnxembed.Info) {
			i.Pooling, i.Normalize, i.Output = bertembed.PoolPooler, false, "pooler_output"
		}, "tiny-bert-test"},
		{"pooled graph without token_type_ids", "mean", func(i *onnxembed.Info) { i.Model, i.Pooling = "pooled.onnx", "" }, "tiny-bert-test"},
		{"windowed", "windowed", func(i *onnxembed.Info) { w := ref.Window; i.Window = &w }, "tiny-bert-test@win8o2x4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := embedmodel.Open(modelDir(t, tt.edit), embedmodel.Options{Threads: 1, BatchSize: 4})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			if e.ModelID() != tt.id || e.Dim() != 32 {
				t.Errorf("model %q, %d-d; want %q, 32-d", e.ModelID(), e.Dim(), tt.id)
			}
			vecs, err := e.Embed(context.Background(), ref.Texts)
			if err != nil {
				t.Fatal(err)
			}
			for i, text := range ref.Texts {
				if ids := e.(*bertembed.Embedder).Tokenize(text); !slices.Equal(ids, ref.IDs[i]) {
					t.Errorf("text %d %q: ids %v, want %v", i, text, ids, ref.IDs[i])
				}
				want := ref.Vectors[tt.vectors][i]
				var worst float64
				for k := range want {
					worst = max(worst, math.Abs(float64(vecs[i][k]-want[k])))
				}
				if worst > 1e-4 {
					t.Errorf("text %d %.30q: largest difference from PyTorch %.2g", i, text, worst)
				}
			}
		})
	}
}

// TestWindowedIsMeanOfWindows: with normalisation off, a long text's
// windowed vector is the mean of its windows' vectors, each embedded
// alone as text (the tiny vocabulary makes each word below one token).
func TestWindowedIsMeanOfWindows(t *testing.T) {
	embedtest.InitRuntime(t)
	w := embedwin.Window{Tokens: 5, Overlap: 1, Max: 3}
	open := func(win *embedwin.Window) embedmodel.Embedder {
		e, err := embedmodel.Open(modelDir(t, func(i *onnxembed.Info) { i.Normalize = false }), embedmodel.Options{Threads: 1, Window: win})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return e
	}
	windowed, clipped := open(&w), open(nil)
	words := strings.Fields("the quick brown fox jump over the lazy dog hello world cafe naive resume elan mixed")
	// 16 tokens, stride 4: windows at 0, 4, 8, 12 → head 0, 4 and tail 12.
	got, err := windowed.Embed(context.Background(), []string{strings.Join(words, " ")})
	if err != nil {
		t.Fatal(err)
	}
	parts := []string{strings.Join(words[0:5], " "), strings.Join(words[4:9], " "), strings.Join(words[12:16], " ")}
	vecs, err := clipped.Embed(context.Background(), parts)
	if err != nil {
		t.Fatal(err)
	}
	for k := range got[0] {
		mean := (float64(vecs[0][k]) + float64(vecs[1][k]) + float64(vecs[2][k])) / 3
		if math.Abs(mean-float64(got[0][k])) > 1e-5 {
			t.Fatalf("component %d: windowed %.6f, mean of windows %.6f", k, got[0][k], mean)
		}
	}
}

// TestBadModelDirectories: model.json that does not fit the graph is
// refused at Open, with a reason.
func TestBadModelDirectories(t *testing.T) {
	embedtest.InitRuntime(t)
	tests := []struct {
		name, want string
		edit       func(*onnxembed.Info)
	}{
		{"dim", "dim 64", func(i *onnxembed.Info) { i.Dim = 64 }},
		{"pooling of a pooled graph", `pooling must be "pooler"`, func(i *onnxembed.Info) { i.Model, i.Pooling = "pooled.onnx", "mean" }},
		{"unknown pooling", `pooling must be "mean" or "cls"`, func(i *onnxembed.Info) { i.Pooling = "max" }},
		{"no such output", `no output "sentence_embedding"`, func(i *onnxembed.Info) { i.Output = "sentence_embedding" }},
		{"window too long", "longer than the model's 14", func(i *onnxembed.Info) { i.Window = &embedwin.Window{Tokens: 15} }},
		{"format", "not supported", func(i *onnxembed.Info) { i.Format = "gpt" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := embedmodel.Open(modelDir(t, tt.edit), embedmodel.Options{Threads: 1})
			if err == nil {
				e.Close()
				t.Fatal("Open accepted it")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to say %q", err, tt.want)
			}
		})
	}
}

// TestGeneratorReproducesTestdata runs make_tiny_bert.py where Debian's
// python3-torch is installed and checks that it writes the committed
// tokenizer and reference vectors.
func TestGeneratorReproducesTestdata(t *testing.T) {
	if testing.Short() {
		t.Skip("runs PyTorch")
	}
	python := ""
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import torch, onnx").Run() == nil {
			python = p
			break
		}
	}
	if python == "" {
		t.Skip("python3-torch and python3-onnx are not installed (apt-get install python3-torch python3-onnx)")
	}
	out := t.TempDir()
	cmd := exec.Command(python, "testdata/make_tiny_bert.py", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, msg)
	}
	for _, f := range []string{"tokenizer.json", "model.json"} {
		a, _ := os.ReadFile(filepath.Join(out, f))
		b, _ := os.ReadFile(filepath.Join(tinyBERT, f))
		if f == "model.json" { // names the torch version
			a, b = []byte(strings.Split(string(a), `"converter"`)[0]), []byte(strings.Split(string(b), `"converter"`)[0])
		}
		if !slices.Equal(a, b) {
			t.Errorf("%s differs from the committed one: rerun testdata/make_tiny_bert.py testdata/tiny-bert", f)
		}
	}
	got, want := readReference(t, out), readReference(t, tinyBERT)
	if !slices.Equal(got.Texts, want.Texts) || len(got.IDs) != len(want.IDs) {
		t.Fatalf("texts differ: rerun testdata/make_tiny_bert.py testdata/tiny-bert")
	}
	for i := range got.IDs {
		if !slices.Equal(got.IDs[i], want.IDs[i]) {
			t.Errorf("text %d: ids %v, committed %v", i, got.IDs[i], want.IDs[i])
		}
	}
	for name, vecs := range want.Vectors {
		for i := range vecs {
			for k := range vecs[i] {
				if d := math.Abs(float64(got.Vectors[name][i][k] - vecs[i][k])); d > 1e-5 {
					t.Fatalf("%s vector %d differs by %.2g from the committed one", name, i, d)
				}
			}
		}
	}
}
