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
	out := filepath.Join(t.TempDir(), "use-lite")
	info, err := uselite.Convert(testenv.ModelSrcDir(t), out)
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
	embedtest.InitRuntime(t)
	e, err := onnxembed.Open(onnxembed.Config{Dir: out, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	embedtest.CheckReference(t, e)
}
