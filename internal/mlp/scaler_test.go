package mlp

import (
	"context"
	"math"
	"testing"

	"github.com/tinyhead/tinyhead/internal/mlp/mlptest"
)

func TestScalerFit(t *testing.T) {
	// Three 3-d rows: feature 0 has mean 2 and std sqrt(2/3), feature 1
	// is constant, feature 2 has mean 0 and std sqrt(8/3).
	x := []float32{1, 5, -2, 2, 5, 0, 3, 5, 2}
	tests := []struct {
		name string
		fit  func() Scaler
	}{
		{"whole", func() Scaler { return FitScaler(x, 3) }},
		{"streamed", func() Scaler {
			f := NewScalerFit(3)
			f.Add(x[:3])
			f.Add(x[3:])
			return f.Scaler()
		}},
	}
	want := Scaler{Mean: []float32{2, 5, 0}, Std: []float32{float32(math.Sqrt(2.0 / 3)), 1, float32(math.Sqrt(8.0 / 3))}}
	for _, tt := range tests {
		s := tt.fit()
		for j := range 3 {
			if math.Abs(float64(s.Mean[j]-want.Mean[j])) > 1e-6 || math.Abs(float64(s.Std[j]-want.Std[j])) > 1e-6 {
				t.Errorf("%s: feature %d: mean %g std %g, want %g %g", tt.name, j, s.Mean[j], s.Std[j], want.Mean[j], want.Std[j])
			}
		}
	}
	if s := NewScalerFit(2).Scaler(); s.Mean[0] != 0 || s.Std[1] != 1 {
		t.Errorf("empty fit is not the identity: %+v", s)
	}
}

// TestFold: a model trained on standardised rows, folded, gives on raw
// rows the probabilities it gave on the standardised ones.
func TestFold(t *testing.T) {
	const dim, classes = 16, 3
	x, y := mlptest.Synthetic(300, dim, classes, 5)
	// Shift and stretch the features so the scaler has work to do.
	for i := range x {
		x[i] = x[i]*float32(1+i%dim) + float32(i%dim)/10
	}
	s := FitScaler(x, dim)
	scaled := append([]float32(nil), x...)
	s.Apply(scaled)
	cfg := Config{Steps: 50}.WithDefaults(classes)
	m, _, err := Train(context.Background(), cfg, dim, classes, ScaleBatches(NewMemoryBatches(x, y, dim, cfg.BatchSize, 1), s))
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, len(y)*classes)
	m.Predict(scaled, Sparse{}, len(y), want)
	if err := m.Fold(s); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, len(y)*classes)
	m.Predict(x, Sparse{}, len(y), got)
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > 1e-5 {
			t.Fatalf("probability %d: %g folded, %g on scaled rows", i, got[i], want[i])
		}
	}
	if err := m.Fold(Scaler{Mean: make([]float32, 2), Std: make([]float32, 2)}); err == nil {
		t.Error("a scaler of the wrong width was folded")
	}
}
