package mlp

import (
	"encoding/json"
	"strconv"

	"github.com/tinyhead/tinyhead/internal/onnx"
)

// Names of the exported graph's inputs and output.
const (
	InputName         = "embedding"
	SketchIndicesName = "sketch_indices"
	SketchValuesName  = "sketch_values"
	OutputName        = "probabilities"
)

// Opset is the ONNX opset of the export: Softmax over an explicit axis has
// meant a single-axis softmax since opset 13; 18 goes with IR version 8.
const Opset = 18

// ONNX exports the model as a standard graph any ONNX runtime can serve:
// "embedding" float [N, Dim] → Gemm → Relu (omitted for "none") → Gemm →
// Softmax → "probabilities" float [N, Classes]. The metadata carries the
// labels (a JSON array), the dimensions and the activation.
//
// A model with a sketch layer (Buckets > 0) takes two more inputs, the
// texts' sketches padded to K entries (Sparse.Padded): "sketch_indices"
// int64 [N, K] (the raw hashes) and "sketch_values" float [N, K] (0 for
// padding). Their logits, ReduceSum over K of values × Gather(WS, indices
// mod Buckets), are added to the MLP's before the Softmax.
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
	g.Nodes = append(g.Nodes, onnx.Node{Name: "layer2", OpType: "Gemm", Inputs: []string{hidden, "W2", "B2"},
		Outputs: []string{"logits"}, Attrs: []onnx.Attr{onnx.IntAttr("transB", 1)}})
	logits := "logits"
	if m.Buckets > 0 {
		m.sketchGraph(&g)
		logits = "logits_sum"
	}
	g.Nodes = append(g.Nodes, onnx.Node{Name: "softmax", OpType: "Softmax", Inputs: []string{logits},
		Outputs: []string{OutputName}, Attrs: []onnx.Attr{onnx.IntAttr("axis", 1)}})
	meta := map[string]string{
		"dim":        strconv.Itoa(m.Dim),
		"hidden":     strconv.Itoa(m.Hidden),
		"classes":    strconv.Itoa(m.Classes),
		"activation": string(m.activation()),
	}
	if m.Buckets > 0 {
		meta["buckets"] = strconv.Itoa(m.Buckets)
		meta["features"] = string(m.Features)
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

// sketchOps are the sketch layer's nodes, in graph order (FromONNX checks
// them).
var sketchOps = []string{"Mod", "Gather", "Unsqueeze", "Mul", "ReduceSum", "Add"}

// sketchGraph adds the sketch layer's inputs, weights and nodes, ending in
// "logits_sum" = "logits" + the sketch's logits.
func (m *Model) sketchGraph(g *onnx.Graph) {
	b, c := int64(m.Buckets), int64(m.Classes)
	nk := []onnx.Dim{{Value: -1, Param: "N"}, {Value: -1, Param: "K"}}
	g.Inputs = append(g.Inputs,
		onnx.ValueInfo{Name: SketchIndicesName, ElemType: onnx.Int64, Dims: nk},
		onnx.ValueInfo{Name: SketchValuesName, ElemType: onnx.Float, Dims: nk})
	g.Initializers = append(g.Initializers,
		onnx.FloatTensor("WS", []int64{b, c}, m.WS),
		onnx.Int64Tensor("buckets", nil, []int64{b}),
		onnx.Int64Tensor("axis2", []int64{1}, []int64{2}),
		onnx.Int64Tensor("axis1", []int64{1}, []int64{1}))
	g.Nodes = append(g.Nodes,
		onnx.Node{Name: "fold", OpType: "Mod", Inputs: []string{SketchIndicesName, "buckets"}, Outputs: []string{"sketch_buckets"}},
		onnx.Node{Name: "gather", OpType: "Gather", Inputs: []string{"WS", "sketch_buckets"}, Outputs: []string{"sketch_rows"},
			Attrs: []onnx.Attr{onnx.IntAttr("axis", 0)}},
		onnx.Node{Name: "unsqueeze", OpType: "Unsqueeze", Inputs: []string{SketchValuesName, "axis2"}, Outputs: []string{"sketch_values3"}},
		onnx.Node{Name: "scale", OpType: "Mul", Inputs: []string{"sketch_rows", "sketch_values3"}, Outputs: []string{"sketch_terms"}},
		onnx.Node{Name: "sum", OpType: "ReduceSum", Inputs: []string{"sketch_terms", "axis1"}, Outputs: []string{"sketch_logits"},
			Attrs: []onnx.Attr{onnx.IntAttr("keepdims", 0)}},
		onnx.Node{Name: "add", OpType: "Add", Inputs: []string{"logits", "sketch_logits"}, Outputs: []string{"logits_sum"}})
}
