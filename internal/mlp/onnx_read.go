package mlp

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/tinyhead/tinyhead/internal/onnx"
)

// FromONNX reads back a graph that Model.ONNX exported: Gemm → Relu
// (optional) → Gemm → Softmax with initializers W1, B1, W2, B2, and the
// sketch layer's nodes and WS before the Softmax if it has one. Any other
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
	mlpOps, sketch := ops, false
	if len(ops) > len(sketchOps)+1 && slices.Equal(ops[len(ops)-1-len(sketchOps):len(ops)-1], sketchOps) {
		mlpOps = append(slices.Clone(ops[:len(ops)-1-len(sketchOps)]), ops[len(ops)-1])
		sketch = true
	}
	switch {
	case slices.Equal(mlpOps, []string{"Gemm", "Relu", "Gemm", "Softmax"}):
	case slices.Equal(mlpOps, []string{"Gemm", "Gemm", "Softmax"}):
		m.Activation = None
	default:
		return nil, fmt.Errorf("mlp: graph %v is not an exported head", ops)
	}
	weights := map[string]*[]float32{"W1": &m.W1, "B1": &m.B1, "W2": &m.W2, "B2": &m.B2}
	if sketch {
		weights["WS"] = &m.WS
		m.Features = Features(g.Metadata["features"])
	}
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
		case "WS":
			if len(t.Dims) != 2 {
				return nil, fmt.Errorf("mlp: WS has shape %v", t.Dims)
			}
			m.Buckets = int(t.Dims[0])
		}
	}
	if labels := g.Metadata["labels"]; labels != "" {
		if err := json.Unmarshal([]byte(labels), &m.Labels); err != nil {
			return nil, fmt.Errorf("mlp: labels in the graph's metadata: %w", err)
		}
	}
	if sketch && m.Buckets == 0 {
		return nil, fmt.Errorf("mlp: graph %v has no sketch weights", ops)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}
