package mlp

import (
	"encoding/json"
	"strconv"

	"github.com/tinyhead/tinyhead/internal/onnx"
)

// Names of the exported graph's input and output.
const (
	InputName  = "embedding"
	OutputName = "probabilities"
)

// Opset is the ONNX opset of the export: Softmax over an explicit axis has
// meant a single-axis softmax since opset 13; 18 goes with IR version 8.
const Opset = 18

// ONNX exports the model as a standard graph any ONNX runtime can serve:
// "embedding" float [N, Dim] → Gemm → Relu (omitted for "none") → Gemm →
// Softmax → "probabilities" float [N, Classes]. The metadata carries the
// labels (a JSON array), the dimensions and the activation.
func (m *Model) ONNX() *onnx.Model {
	d, h, c := int64(m.Dim), int64(m.Hidden), int64(m.Classes)
	g := onnx.Graph{
		Name: "tinyhead_mlp",
		Initializers: []onnx.Tensor{
			onnx.FloatTensor("W1", []int64{h, d}, m.W1),
			onnx.FloatTensor("B1", []int64{h}, m.B1),
			onnx.FloatTensor("W2", []int64{c, h}, m.W2),
			onnx.FloatTensor("B2", []int64{c}, m.B2),
		},
		Inputs:  []onnx.ValueInfo{{Name: InputName, ElemType: onnx.Float, Dims: []onnx.Dim{{Value: -1, Param: "N"}, {Value: d}}}},
		Outputs: []onnx.ValueInfo{{Name: OutputName, ElemType: onnx.Float, Dims: []onnx.Dim{{Value: -1, Param: "N"}, {Value: c}}}},
	}
	hidden := "hidden"
	g.Nodes = append(g.Nodes, onnx.Node{Name: "layer1", OpType: "Gemm", Inputs: []string{InputName, "W1", "B1"},
		Outputs: []string{hidden}, Attrs: []onnx.Attr{onnx.IntAttr("transB", 1)}})
	if m.Activation != None {
		g.Nodes = append(g.Nodes, onnx.Node{Name: "relu", OpType: "Relu", Inputs: []string{hidden}, Outputs: []string{"hidden_relu"}})
		hidden = "hidden_relu"
	}
	g.Nodes = append(g.Nodes,
		onnx.Node{Name: "layer2", OpType: "Gemm", Inputs: []string{hidden, "W2", "B2"},
			Outputs: []string{"logits"}, Attrs: []onnx.Attr{onnx.IntAttr("transB", 1)}},
		onnx.Node{Name: "softmax", OpType: "Softmax", Inputs: []string{"logits"},
			Outputs: []string{OutputName}, Attrs: []onnx.Attr{onnx.IntAttr("axis", 1)}},
	)
	meta := map[string]string{
		"dim":        strconv.Itoa(m.Dim),
		"hidden":     strconv.Itoa(m.Hidden),
		"classes":    strconv.Itoa(m.Classes),
		"activation": string(m.activation()),
	}
	if m.Labels != nil {
		labels, _ := json.Marshal(m.Labels) // a []string always marshals
		meta["labels"] = string(labels)
	}
	return &onnx.Model{Opset: Opset, ProducerName: "tinyhead-mlp", Metadata: meta, Graph: g}
}

func (m *Model) activation() Activation {
	if m.Activation == None {
		return None
	}
	return ReLU
}
