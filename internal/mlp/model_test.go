package mlp

import (
	"math"
	"slices"
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

// TestPredictAllocations: Predict's scratch (W1 transposed, a block of
// hidden activations) is two allocations a call, however many rows.
func TestPredictAllocations(t *testing.T) {
	x, _ := smallData(1000, 1, 1)
	m := &Model{Dim: 64, Hidden: 16, Classes: 4, Activation: ReLU,
		W1: x[:64*16], B1: make([]float32, 16), W2: x[:4*16], B2: make([]float32, 4)}
	probs := make([]float32, 1000*4)
	for _, n := range []int{1, 2, 1000} {
		if got := testing.AllocsPerRun(20, func() { m.Predict(x, Sparse{}, n, probs) }); got > 2 {
			t.Errorf("Predict of %d rows allocates %v times per call", n, got)
		}
	}
}

// TestPredictRowsIndependent: a row's probabilities are the same to the
// bit whether it is predicted alone or in a batch (the one-row product
// runs the other way round), in blocks or not.
func TestPredictRowsIndependent(t *testing.T) {
	const n, d = 700, 64 // several of Predict's blocks, the last one short
	x, _ := smallData(n, 1, 2)
	for _, act := range []Activation{ReLU, None} {
		m := &Model{Dim: d, Hidden: 16, Classes: 4, Activation: act,
			W1: x[d : d+d*16], B1: x[:16], W2: x[2*d : 2*d+4*16], B2: x[3*d : 3*d+4]}
		all := make([]float32, n*4)
		m.Predict(x, Sparse{}, n, all)
		one := make([]float32, 4)
		for i := range n {
			m.Predict(x[i*d:(i+1)*d], Sparse{}, 1, one)
			if !slices.Equal(one, all[i*4:(i+1)*4]) {
				t.Fatalf("%s: row %d alone %v, in the batch %v", act, i, one, all[i*4:(i+1)*4])
			}
		}
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
