package uselite_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tinyhead/tinyhead/internal/onnxembed"
	"github.com/tinyhead/tinyhead/internal/onnxembed/embedtest"
	"github.com/tinyhead/tinyhead/internal/testenv"
	"github.com/tinyhead/tinyhead/internal/uselite"
)

// TestConvert converts the TF.js model that scripts/setup.sh fetched and
// checks the result against the original model's cosines.
func TestConvert(t *testing.T) {
	src, out := testenv.ModelSrcDir(t), filepath.Join(t.TempDir(), "use-lite")
	info, err := uselite.Convert(src, out)
	if err != nil {
		t.Fatal(err)
	}
	read, err := onnxembed.ReadInfo(out)
	if err != nil {
		t.Fatal(err)
	}
	if read != info || info.ID != onnxembed.USELiteID || info.Dim != 512 || info.Format != onnxembed.FormatUSELiteSparse {
		t.Fatalf("model.json = %+v, Convert returned %+v", read, info)
	}
	for _, f := range []string{info.Model, info.Vocab} {
		if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	// Every weight is stored once: the graph is the weights and little more.
	shards, err := filepath.Glob(filepath.Join(src, "group1-shard*"))
	if err != nil || len(shards) == 0 {
		t.Fatalf("no weight shards in %s (%v)", src, err)
	}
	var weights int64
	for _, f := range shards {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		weights += fi.Size()
	}
	if fi, err := os.Stat(filepath.Join(out, info.Model)); err == nil && fi.Size() > weights+weights/50 {
		t.Errorf("%s is %d bytes for %d bytes of weights: a weight is stored twice?", info.Model, fi.Size(), weights)
	}
	embedtest.InitRuntime(t)
	e, err := onnxembed.Open(onnxembed.Config{Dir: out, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	embedtest.CheckReference(t, e)
}
