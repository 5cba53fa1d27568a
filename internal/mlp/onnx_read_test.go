package mlp

import (
	"reflect"
	"testing"
)

// TestFromONNXRoundTrip: a head read back from its export is the same
// model, with or without its activation and labels.
func TestFromONNXRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name       string
		activation Activation
		labels     []string
	}{
		{"relu with labels", ReLU, []string{"ham", "spam", "x"}},
		{"no activation", None, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := &Model{Dim: 4, Hidden: 2, Classes: 3, Activation: tt.activation, Labels: tt.labels,
				W1: []float32{1, -2, 3, 0.5, -1, 0.25, 2, -3}, B1: []float32{0.1, -0.2},
				W2: []float32{1, 2, -1, 0, 0.5, -0.5}, B2: []float32{0, 1, -1}}
			got, err := FromONNX(m.ONNX().Marshal())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Errorf("read back %+v, want %+v", got, m)
			}
		})
	}
}

func TestFromONNXRefusesOtherGraphs(t *testing.T) {
	for name, b := range map[string][]byte{
		"garbage": []byte("not a protobuf \xff\xff\xff"),
		"empty":   nil,
	} {
		if _, err := FromONNX(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
