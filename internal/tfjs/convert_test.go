package tfjs_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/tinyhead/tinyhead/internal/onnxembed/embedtest"
	"github.com/tinyhead/tinyhead/internal/tfjs"
)

// graph builds a GraphModel from a compact description: constants become
// Const nodes with weights, and "x" is an int64 or float placeholder.
type graph struct {
	m *tfjs.GraphModel
}

func newGraph() *graph {
	return &graph{m: &tfjs.GraphModel{Weights: map[string]*tfjs.Weight{}}}
}

func (g *graph) placeholder(name string, tfType int) {
	g.m.Nodes = append(g.m.Nodes, tfjs.NodeDef{Name: name, Op: "Placeholder", Attr: map[string]tfjs.Attr{"dtype": {Type: &tfType}}})
}

func (g *graph) ints(name string, shape []int64, v ...int64) string {
	g.m.Nodes = append(g.m.Nodes, tfjs.NodeDef{Name: name, Op: "Const"})
	g.m.Weights[name] = &tfjs.Weight{Name: name, DType: "int32", Shape: shape, Ints: v}
	return name
}

func (g *graph) floats(name string, shape []int64, v ...float32) string {
	g.m.Nodes = append(g.m.Nodes, tfjs.NodeDef{Name: name, Op: "Const"})
	g.m.Weights[name] = &tfjs.Weight{Name: name, DType: "float32", Shape: shape, Floats: v}
	return name
}

// op adds a node; attrs is TF.js JSON for the attr map.
func (g *graph) op(name, op, attrs string, inputs ...string) string {
	n := tfjs.NodeDef{Name: name, Op: op, Input: inputs}
	if attrs != "" {
		if err := json.Unmarshal([]byte(attrs), &n.Attr); err != nil {
			panic(err)
		}
	}
	g.m.Nodes = append(g.m.Nodes, n)
	return name
}

// run converts the graph and runs it on one input x, returning the output
// as float64s with its shape.
func run(t *testing.T, g *graph, x ort.Value) ([]float64, []int64) {
	t.Helper()
	m, err := g.m.ToONNX(tfjs.ConvertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(m.Marshal(), []string{"x"}, []string{"output"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Destroy()
	outs := []ort.Value{nil}
	if err := sess.Run([]ort.Value{x}, outs); err != nil {
		t.Fatal(err)
	}
	defer outs[0].Destroy()
	switch o := outs[0].(type) {
	case *ort.Tensor[float32]:
		var out []float64
		for _, v := range o.GetData() {
			out = append(out, float64(v))
		}
		return out, o.GetShape()
	case *ort.Tensor[int64]:
		var out []float64
		for _, v := range o.GetData() {
			out = append(out, float64(v))
		}
		return out, o.GetShape()
	case *ort.Tensor[bool]:
		var out []float64
		for _, v := range o.GetData() {
			if v {
				out = append(out, 1)
			} else {
				out = append(out, 0)
			}
		}
		return out, o.GetShape()
	}
	t.Fatalf("unexpected output type %T", outs[0])
	return nil, nil
}

const (
	tfFloat = 1
	tfInt64 = 9
)

// TestOps checks each converted op against TensorFlow's semantics on small
// inputs whose results are worked out by hand.
func TestOps(t *testing.T) {
	embedtest.InitRuntime(t)
	x23 := []int64{1, 2, 3, 4, 5, 6} // [[1 2 3] [4 5 6]]
	tests := []struct {
		name      string
		build     func(g *graph)
		x         []int64
		xShape    []int64
		want      []float64
		wantShape []int64
	}{
		{
			name: "StridedSlice column with shrink (x[:, 1])",
			build: func(g *graph) {
				g.op("out", "StridedSlice", `{"begin_mask":{"i":"1"},"end_mask":{"i":"1"},"shrink_axis_mask":{"i":"2"}}`,
					"x", g.ints("b", []int64{2}, 0, 1), g.ints("e", []int64{2}, 0, 2), g.ints("s", []int64{2}, 1, 1))
			},
			x: x23, xShape: []int64{2, 3}, want: []float64{2, 5}, wantShape: []int64{2},
		},
		{
			name: "StridedSlice last row with shrink (x[-1])",
			build: func(g *graph) {
				g.op("out", "StridedSlice", `{"shrink_axis_mask":{"i":"1"}}`,
					"x", g.ints("b", []int64{1}, -1), g.ints("e", []int64{1}, 0), g.ints("s", []int64{1}, 1))
			},
			x: x23, xShape: []int64{2, 3}, want: []float64{4, 5, 6}, wantShape: []int64{3},
		},
		{
			name: "Where lists coordinates of true elements",
			build: func(g *graph) {
				g.op("gt", "Greater", "", "x", g.ints("three", nil, 3))
				g.op("out", "Where", "", "gt")
			},
			x: x23, xShape: []int64{2, 3}, want: []float64{1, 0, 1, 1, 1, 2}, wantShape: []int64{3, 2},
		},
		{
			name: "SparseToDense scatters values over the default",
			build: func(g *graph) {
				g.op("out", "SparseToDense", "",
					g.ints("idx", []int64{2, 2}, 0, 1, 1, 0), g.ints("shape", []int64{2}, 2, 2), "x", g.ints("def", nil, 7))
			},
			x: []int64{5, 9}, xShape: []int64{2}, want: []float64{7, 5, 9, 7}, wantShape: []int64{2, 2},
		},
		{
			name: "ScatterNd writes rows into zeros; GatherNd reads them back",
			build: func(g *graph) {
				idx := g.ints("idx", []int64{2, 1}, 2, 0)
				g.op("sc", "ScatterNd", "", idx, "x", g.ints("shape", []int64{2}, 3, 3))
				g.op("out", "GatherNd", "", "sc", g.ints("idx2", []int64{2, 1}, 0, 1))
			},
			x: x23, xShape: []int64{2, 3}, want: []float64{4, 5, 6, 0, 0, 0}, wantShape: []int64{2, 3},
		},
		{
			name: "Pack and Reduce Prod",
			build: func(g *graph) {
				g.op("sh", "Shape", "", "x")
				g.op("p", "Prod", `{"keep_dims":{"b":false}}`, "sh", g.ints("ax", []int64{1}, 0))
				g.op("out", "Pack", `{"axis":{"i":"0"}}`, "p", g.ints("k", nil, 4))
			},
			x: x23, xShape: []int64{2, 3}, want: []float64{6, 4}, wantShape: []int64{2},
		},
		{
			name: "SplitV then ConcatV2 in reverse order",
			build: func(g *graph) {
				g.op("sp", "SplitV", `{"num_split":{"i":"2"}}`, "x", g.ints("sizes", []int64{2}, 1, 2), g.ints("ax", nil, 1))
				g.op("out", "ConcatV2", `{"N":{"i":"2"}}`, "sp:1", "sp", g.ints("ax2", nil, 1))
			},
			x: x23, xShape: []int64{2, 3}, want: []float64{2, 3, 1, 5, 6, 4}, wantShape: []int64{2, 3},
		},
		{
			name: "Slice with size -1, Range, ExpandDims and Squeeze",
			build: func(g *graph) {
				g.op("sl", "Slice", "", "x", g.ints("b", []int64{1}, 2), g.ints("s", []int64{1}, -1))
				g.op("r", "Range", "", g.ints("zero", nil, 0), g.ints("lim", nil, 2), g.ints("one", nil, 1))
				g.op("e", "ExpandDims", "", "r", g.ints("d", nil, -1))
				g.op("sq", "Squeeze", `{"squeeze_dims":{"list":{"i":["1"]}}}`, "e")
				g.op("out", "ConcatV2", "", "sl", "sq", g.ints("ax", nil, 0))
			},
			x: x23, xShape: []int64{6}, want: []float64{3, 4, 5, 6, 0, 1}, wantShape: []int64{6},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGraph()
			g.placeholder("x", tfInt64)
			tt.build(g)
			x, err := ort.NewTensor(ort.NewShape(tt.xShape...), tt.x)
			if err != nil {
				t.Fatal(err)
			}
			defer x.Destroy()
			got, shape := run(t, g, x)
			if !equalInts(shape, tt.wantShape) {
				t.Fatalf("shape %v, want %v", shape, tt.wantShape)
			}
			for i := range tt.want {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// TestFloatOps covers the dense-layer ops: a 1×1 Conv2D as MatMul, a
// BatchMatMul with a transposed operand, Rsqrt and Softmax.
func TestFloatOps(t *testing.T) {
	embedtest.InitRuntime(t)
	g := newGraph()
	g.placeholder("x", tfFloat)                           // [1, 2, 2]: batch, positions, channels
	g.op("e", "ExpandDims", "", "x", g.ints("d", nil, 2)) // [1, 2, 1, 2]
	kernel := g.floats("k", []int64{1, 1, 2, 2}, 1, 2, 3, 4)
	g.op("conv", "Conv2D", `{"strides":{"list":{"i":["1","1","1","1"]}},"data_format":{"s":"TkhXQw=="}}`, "e", kernel)
	g.op("sq", "Squeeze", `{"squeeze_dims":{"list":{"i":["2"]}}}`, "conv") // [1, 2, 2]
	g.op("t", "Transpose", "", "sq", g.ints("perm", []int64{3}, 0, 1, 2))
	g.op("mm", "BatchMatMul", `{"adj_y":{"b":true}}`, "sq", "t") // sq·sqᵀ: [1, 2, 2]
	g.op("rs", "Rsqrt", "", "mm")
	g.op("out", "Softmax", "", "rs")
	x, _ := ort.NewTensor(ort.NewShape(1, 2, 2), []float32{1, 0, 0, 1})
	defer x.Destroy()
	got, shape := run(t, g, x)
	// conv rows: [1 0]·K = [1 2], [0 1]·K = [3 4]; gram = [[5 11] [11 25]];
	// rsqrt then softmax per row.
	gram := [][]float64{{5, 11}, {11, 25}}
	var want []float64
	for _, row := range gram {
		a, b := 1/math.Sqrt(row[0]), 1/math.Sqrt(row[1])
		want = append(want, math.Exp(a)/(math.Exp(a)+math.Exp(b)), math.Exp(b)/(math.Exp(a)+math.Exp(b)))
	}
	if !equalInts(shape, []int64{1, 2, 2}) {
		t.Fatalf("shape %v", shape)
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-6 {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func TestUnsupportedOpIsNamed(t *testing.T) {
	g := newGraph()
	g.placeholder("x", tfFloat)
	g.op("out", "FFT", "", "x")
	_, err := g.m.ToONNX(tfjs.ConvertOptions{})
	if err == nil || !strings.Contains(err.Error(), "unsupported op FFT") {
		t.Fatalf("err = %v, want it to name the op", err)
	}
}

// TestMissingInputs: a node with fewer inputs than its op takes is an
// error that names it, not a panic.
func TestMissingInputs(t *testing.T) {
	for _, op := range []string{"StridedSlice", "Slice", "Transpose", "ExpandDims", "SplitV", "ConcatV2", "Sum", "Conv2D"} {
		t.Run(op, func(t *testing.T) {
			g := newGraph()
			g.placeholder("x", tfFloat)
			g.op("out", op, "", "x")
			_, err := g.m.ToONNX(tfjs.ConvertOptions{})
			if err == nil || !strings.Contains(err.Error(), "out") {
				t.Fatalf("err = %v, want one that names the node", err)
			}
			t.Log(err)
		})
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
