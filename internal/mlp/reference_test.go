package mlp

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// torchReference is testdata/torch_reference.json: the reference recipe
// run by PyTorch in float64 from given weights on given batches.
type torchReference struct {
	Dim, Hidden, Classes, Rows, Steps int
	LR                                float64
	WeightDecay                       float64 `json:"weight_decay"`
	Cases                             []struct {
		Name        string
		ReLU        bool `json:"relu"`
		AMSGrad     bool `json:"amsgrad"`
		Init, Final []float64
		X           [][]float32
		Y           [][]int32
		Loss        []float64
	}
}

// TestTorchReference replays PyTorch's training steps — forward, loss,
// backward, AdamW (with and without AMSGrad) and the linear schedule — and
// compares losses and weights: to rounding in float64, and to float32
// precision in the float32 trainer.
func TestTorchReference(t *testing.T) {
	data, err := os.ReadFile("testdata/torch_reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref torchReference
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	for _, c := range ref.Cases {
		cfg := Config{
			Hidden: ref.Hidden, Activation: None, LearningRate: ref.LR, WeightDecay: ref.WeightDecay,
			NoAMSGrad: !c.AMSGrad, BatchSize: ref.Rows, Steps: ref.Steps,
		}.WithDefaults(ref.Classes)
		if c.ReLU {
			cfg.Activation = ReLU
		}
		t.Run(c.Name+"/float64", func(t *testing.T) {
			replay[float64](t, cfg, ref, c.Init, c.X, c.Y, c.Loss, c.Final, 1e-12)
		})
		t.Run(c.Name+"/float32", func(t *testing.T) {
			replay[float32](t, cfg, ref, c.Init, c.X, c.Y, c.Loss, c.Final, 2e-5)
		})
	}
}

func replay[T float32 | float64](t *testing.T, cfg Config, ref torchReference, init []float64, xs [][]float32, ys [][]int32, loss, final []float64, tol float64) {
	tr := newTrainer(cfg, ref.Dim, ref.Classes, 2, gemmFor[T]())
	defer tr.stop()
	if len(init) != len(tr.params) || len(final) != len(tr.params) {
		t.Fatalf("reference has %d and %d parameters, model %d", len(init), len(final), len(tr.params))
	}
	tr.setTorchParams(init)
	for step := range ref.Steps {
		copy(tr.x, xs[step])
		copy(tr.y, ys[step])
		got := tr.step(ref.Rows, cfg.rate(step))
		if !near(got, loss[step], tol) {
			t.Errorf("step %d: loss %.15g, PyTorch %.15g", step, got, loss[step])
		}
	}
	params := tr.torchParams()
	for i, want := range final {
		if got := params[i]; !near(got, want, tol) {
			t.Errorf("parameter %d: %.15g, PyTorch %.15g", i, got, want)
		}
	}
}

func near(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*max(1, math.Abs(b))
}
