package mlp

import (
	"math"
	"reflect"
	"testing"
)

func TestAssess(t *testing.T) {
	// Three classes; class 2 is never predicted, one row has no prediction.
	y := []int32{0, 0, 0, 1, 1, 2, 2, 1}
	pred := []int32{0, 0, 1, 1, 1, 1, 0, -1}
	m := Assess(y, pred, 3, []string{"a", "b", "c"})

	wantConfusion := [][]int{
		{2, 1, 0},
		{0, 2, 0}, // the third "b" row has no prediction
		{1, 1, 0},
	}
	if !reflect.DeepEqual(m.Confusion, wantConfusion) {
		t.Errorf("confusion %v, want %v", m.Confusion, wantConfusion)
	}
	// a: TP 2, predicted 3, support 3 → P 2/3, R 2/3, F1 2/3.
	// b: TP 2, predicted 4, support 3 → P 1/2, R 2/3, F1 4/7.
	// c: TP 0, predicted 0, support 2 → P 0, R 0, F1 0 (no division by zero).
	want := []ClassMetrics{
		{Label: "a", Precision: 2.0 / 3, Recall: 2.0 / 3, F1: 2.0 / 3, Support: 3},
		{Label: "b", Precision: 0.5, Recall: 2.0 / 3, F1: 4.0 / 7, Support: 3},
		{Label: "c", Precision: 0, Recall: 0, F1: 0, Support: 2},
	}
	for i, w := range want {
		g := m.PerClass[i]
		if g.Label != w.Label || g.Support != w.Support || !approx(g.Precision, w.Precision) || !approx(g.Recall, w.Recall) || !approx(g.F1, w.F1) {
			t.Errorf("class %d: %+v, want %+v", i, g, w)
		}
	}
	if !approx(m.Accuracy, 4.0/8) {
		t.Errorf("accuracy %v, want 0.5", m.Accuracy)
	}
	if wantF1 := (2.0/3 + 4.0/7 + 0) / 3; !approx(m.MacroF1, wantF1) {
		t.Errorf("macro-F1 %v, want %v", m.MacroF1, wantF1)
	}
	if m.Rows != 8 {
		t.Errorf("rows %d, want 8", m.Rows)
	}
	if acc, f1 := Score(y, pred, 3); acc != m.Accuracy || f1 != m.MacroF1 {
		t.Errorf("Score = %v, %v; want %v, %v", acc, f1, m.Accuracy, m.MacroF1)
	}
}

func TestAssessEdgeCases(t *testing.T) {
	tests := []struct {
		name          string
		y, pred       []int32
		classes       int
		accuracy, mf1 float64
	}{
		{"no rows", nil, nil, 2, 0, 0},
		{"perfect", []int32{0, 1, 1}, []int32{0, 1, 1}, 2, 1, 1},
		// A class absent from labels and predictions does not count in
		// the macro average (scikit-learn's).
		{"absent class", []int32{0, 1}, []int32{0, 1}, 3, 1, 1},
	}
	for _, tt := range tests {
		m := Assess(tt.y, tt.pred, tt.classes, nil)
		if m.Accuracy != tt.accuracy || !approx(m.MacroF1, tt.mf1) {
			t.Errorf("%s: accuracy %v, macro-F1 %v; want %v, %v", tt.name, m.Accuracy, m.MacroF1, tt.accuracy, tt.mf1)
		}
	}
}

func TestEvaluate(t *testing.T) {
	m := handModel(ReLU)
	m.Labels = []string{"pos", "neg"}
	// Logits (2.1, −2.1), (1.6, 2.9), (3.6, −2.1), (0.1, −0.1):
	// predictions 0, 1, 0, 0.
	x := []float32{2, 1, -2, -1, 3, 0, -1, 5}
	y := []int32{0, 1, 0, 1}
	got := Evaluate(m, x, Sparse{}, y)
	if got.Accuracy != 0.75 || got.PerClass[0].Label != "pos" || got.Confusion[1][0] != 1 {
		t.Errorf("Evaluate = %+v", got)
	}
}

func approx(a, b float64) bool { return math.Abs(a-b) < 1e-12 }
