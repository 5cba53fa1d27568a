package mlp

import (
	"math"
	"testing"
)

// handModel: 2 inputs, 2 hidden units, 2 classes, small enough to work
// out by hand.
func handModel(act Activation) *Model {
	return &Model{
		Dim: 2, Hidden: 2, Classes: 2, Activation: act,
		W1: []float32{1, 0, 0, -1}, B1: []float32{0, 0.5},
		W2: []float32{1, 1, -1, 2}, B2: []float32{0.1, -0.1},
	}
}

func TestPredict(t *testing.T) {
	// x = (2, 1): hidden = (2, −1 + 0.5) = (2, −0.5).
	// relu: (2, 0) → logits (2.1, −2.1); none: logits (2 − 0.5 + 0.1, −2 − 1 − 0.1).
	tests := []struct {
		act    Activation
		logits [2]float64
	}{
		{ReLU, [2]float64{2.1, -2.1}},
		{None, [2]float64{1.6, -3.1}},
	}
	for _, tt := range tests {
		m := handModel(tt.act)
		if err := m.Validate(); err != nil {
			t.Fatal(err)
		}
		probs := make([]float32, 4)
		// The second row is the first's negation, to see rows kept apart.
		m.Predict([]float32{2, 1, -2, -1}, Sparse{}, 1, probs)
		p0 := 1 / (1 + math.Exp(tt.logits[1]-tt.logits[0]))
		if math.Abs(float64(probs[0])-p0) > 1e-6 || math.Abs(float64(probs[1])-(1-p0)) > 1e-6 {
			t.Errorf("%s: probabilities %v, want (%.6f, %.6f)", tt.act, probs[:2], p0, 1-p0)
		}
		if probs[2] != 0 || probs[3] != 0 {
			t.Errorf("%s: Predict of 1 row wrote a second: %v", tt.act, probs)
		}
	}
}

func TestPredictAllocatesNothing(t *testing.T) {
	m := handModel(ReLU)
	x := []float32{2, 1, -2, -1, 0, 3}
	probs := make([]float32, 6)
	if n := testing.AllocsPerRun(100, func() { m.Predict(x, Sparse{}, 3, probs) }); n != 0 {
		t.Errorf("Predict allocates %v times per call", n)
	}
}

func TestModelValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Model)
	}{
		{"short W1", func(m *Model) { m.W1 = m.W1[:3] }},
		{"long B2", func(m *Model) { m.B2 = append(m.B2, 0) }},
		{"no classes", func(m *Model) { m.Classes = 0 }},
		{"activation", func(m *Model) { m.Activation = "gelu" }},
		{"labels", func(m *Model) { m.Labels = []string{"one"} }},
	}
	for _, tt := range tests {
		m := handModel(ReLU)
		tt.mutate(m)
		if err := m.Validate(); err == nil {
			t.Errorf("%s: Validate = nil, want an error", tt.name)
		}
	}
}
