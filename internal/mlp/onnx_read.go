package mlp

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/tinyhead/tinyhead/internal/onnx"
)

// FromONNX reads back a graph that Model.ONNX exported: Gemm → Relu
// (optional) → Gemm → Softmax with initializers W1, B1, W2, B2. Any other
// graph is refused. It lets a head be run in Go, with Predict, from the
// bytes the registry stores.
func FromONNX(b []byte) (*Model, error) {
	g, err := onnx.Unmarshal(b)
	if err != nil {
		return nil, err
	}
	ops := make([]string, len(g.Graph.Nodes))
	for i, n := range g.Graph.Nodes {
		ops[i] = n.OpType
	}
	m := &Model{Activation: ReLU}
	switch {
	case slices.Equal(ops, []string{"Gemm", "Relu", "Gemm", "Softmax"}):
	case slices.Equal(ops, []string{"Gemm", "Gemm", "Softmax"}):
		m.Activation = None
	default:
		return nil, fmt.Errorf("mlp: graph %v is not an exported head", ops)
	}
	weights := map[string]*[]float32{"W1": &m.W1, "B1": &m.B1, "W2": &m.W2, "B2": &m.B2}
	for _, t := range g.Graph.Initializers {
		dst, ok := weights[t.Name]
		if !ok {
			continue
		}
		if *dst, err = t.Floats(); err != nil {
			return nil, err
		}
		switch t.Name {
		case "W1":
			if len(t.Dims) != 2 {
				return nil, fmt.Errorf("mlp: W1 has shape %v", t.Dims)
			}
			m.Hidden, m.Dim = int(t.Dims[0]), int(t.Dims[1])
		case "W2":
			if len(t.Dims) != 2 {
				return nil, fmt.Errorf("mlp: W2 has shape %v", t.Dims)
			}
			m.Classes = int(t.Dims[0])
		}
	}
	if labels := g.Metadata["labels"]; labels != "" {
		if err := json.Unmarshal([]byte(labels), &m.Labels); err != nil {
			return nil, fmt.Errorf("mlp: labels in the graph's metadata: %w", err)
		}
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}
