package mlp

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/tinyhead/tinyhead/internal/onnxembed/embedtest"
)

// TestONNXMatchesPredict runs the exported graph in ONNX Runtime and
// compares its probabilities with Predict's.
func TestONNXMatchesPredict(t *testing.T) {
	embedtest.InitRuntime(t)
	const dim, classes, rows = 64, 4, 300
	x, y := smallData(2000, 2, 5)
	for _, act := range []Activation{ReLU, None} {
		t.Run(string(act), func(t *testing.T) {
			m, _, err := Train(context.Background(), Config{Activation: act, Steps: 100}, dim, classes,
				NewMemoryBatches(x, y, dim, 256, 0))
			if err != nil {
				t.Fatal(err)
			}
			m.Labels = []string{"alpha", "beta", "gamma", "delta"}
			model := m.ONNX()
			if got := len(model.Graph.Nodes); got != map[Activation]int{ReLU: 4, None: 3}[act] {
				t.Errorf("graph of %d nodes", got)
			}
			sess, err := ort.NewDynamicAdvancedSessionWithONNXData(model.Marshal(), []string{InputName}, []string{OutputName}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Destroy()

			in, err := ort.NewTensor(ort.NewShape(rows, dim), x[:rows*dim])
			if err != nil {
				t.Fatal(err)
			}
			defer in.Destroy()
			outs := []ort.Value{nil}
			if err := sess.Run([]ort.Value{in}, outs); err != nil {
				t.Fatal(err)
			}
			defer outs[0].Destroy()
			out, ok := outs[0].(*ort.Tensor[float32])
			if !ok {
				t.Fatalf("output is %T", outs[0])
			}
			if shape := out.GetShape(); !slices.Equal(shape, ort.NewShape(rows, classes)) {
				t.Fatalf("output shape %v", shape)
			}
			want := make([]float32, rows*classes)
			m.Predict(x, Sparse{}, rows, want)
			var worst float64
			for i, v := range out.GetData() {
				worst = max(worst, math.Abs(float64(v)-float64(want[i])))
			}
			t.Logf("largest difference %g", worst)
			if worst > 1e-5 {
				t.Errorf("ONNX Runtime and Predict differ by up to %g", worst)
			}

			meta, err := sess.GetModelMetadata()
			if err != nil {
				t.Fatal(err)
			}
			defer meta.Destroy()
			wantMeta := map[string]string{"dim": "64", "hidden": strconv.Itoa(m.Hidden), "classes": "4", "activation": string(act)}
			labels, _ := json.Marshal(m.Labels)
			wantMeta["labels"] = string(labels)
			for k, v := range wantMeta {
				got, ok, err := meta.LookupCustomMetadataMap(k)
				if err != nil || !ok || got != v {
					t.Errorf("metadata %q = %q, %v, %v; want %q", k, got, ok, err, v)
				}
			}
		})
	}
}
