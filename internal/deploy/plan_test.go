package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tinyhead/tinyhead/internal/testenv"
)

// TestPlanCarriesABERTModel: a sentence-transformer's directory goes into
// the package as model.json names it, tokenizer.json included when
// model.json leaves "vocab" out (the "bert" format's default).
func TestPlanCarriesABERTModel(t *testing.T) {
	root := testenv.RepoRoot()
	src := filepath.Join(root, "internal/bertembed/testdata/tiny-bert")
	raw, err := os.ReadFile(filepath.Join(src, "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]any
	if err := json.Unmarshal(raw, &info); err != nil {
		t.Fatal(err)
	}
	delete(info, "vocab")
	dir := t.TempDir()
	raw, _ = json.Marshal(info)
	if err := os.WriteFile(filepath.Join(dir, "model.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"model.onnx", "tokenizer.json"} {
		if err := os.Symlink(filepath.Join(src, f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	files, err := plan(Sources{Root: root, Binary: "handler", ORTLib: "lib.so", ModelDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var model []string
	for _, f := range files {
		if dir, name := filepath.Split(f.dst); dir == ModelPath+"/" {
			model = append(model, name)
		}
	}
	if want := []string{"model.json", "model.onnx", "tokenizer.json"}; !slices.Equal(model, want) {
		t.Errorf("model files %v, want %v", model, want)
	}
}
