package tfjs

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/tinyhead/tinyhead/internal/onnx"
)

// Opset is the ONNX opset the converter targets: 18 takes reduction axes
// as inputs and has every op the conversion needs.
const Opset = 18

// ConvertOptions name the converted graph's output.
type ConvertOptions struct {
	// Output is the TF tensor to export (default: the graph's only sink).
	Output string
	// OutputName is the ONNX name of that tensor (default "output").
	OutputName string
}

// TensorFlow DataType enum values used in attrs.
const (
	tfFloat = 1
	tfInt32 = 3
	tfInt64 = 9
	tfBool  = 10
)

// ToONNX converts the graph reachable from the output into an ONNX model.
// All integer tensors become int64: TF.js stores int64 as int32, and ONNX
// index and shape tensors are int64.
func (g *GraphModel) ToONNX(opt ConvertOptions) (*onnx.Model, error) {
	c := &converter{
		g:      g,
		nodes:  map[string]*NodeDef{},
		done:   map[string]bool{},
		dtype:  map[string]onnx.DataType{},
		rank:   map[string]int{},
		inited: map[string]bool{},
	}
	consumed := map[string]bool{}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		c.nodes[n.Name] = n
		for _, in := range n.Input {
			node, _ := splitRef(in)
			consumed[node] = true
		}
	}
	out := opt.Output
	if out == "" {
		var sinks []string
		for _, n := range g.Nodes {
			if !consumed[n.Name] && n.Op != "Const" {
				sinks = append(sinks, n.Name)
			}
		}
		if len(sinks) != 1 {
			return nil, fmt.Errorf("graph has %d sink nodes %v; name the output", len(sinks), sinks)
		}
		out = sinks[0]
	}
	name := opt.OutputName
	if name == "" {
		name = "output"
	}
	final, err := c.tensor(out)
	if err != nil {
		return nil, err
	}
	c.add("Identity", []string{final}, []string{name})
	c.graph.Outputs = append(c.graph.Outputs, onnx.ValueInfo{Name: name, ElemType: c.dtype[final]})
	c.graph.Name = "tfjs-converted"
	return &onnx.Model{Opset: Opset, ProducerName: "tinyhead-tfjs", Graph: c.graph}, nil
}

type converter struct {
	g      *GraphModel
	nodes  map[string]*NodeDef
	graph  onnx.Graph
	done   map[string]bool          // TF nodes already converted
	dtype  map[string]onnx.DataType // element type of every ONNX tensor made
	rank   map[string]int           // rank, where a later op needs it
	inited map[string]bool          // initializers already emitted
	seq    int
}

// splitRef splits a TF tensor reference "node:2" into node and output index.
func splitRef(ref string) (string, int) {
	ref = strings.TrimPrefix(ref, "^")
	if i := strings.LastIndexByte(ref, ':'); i >= 0 {
		if k, err := strconv.Atoi(ref[i+1:]); err == nil {
			return ref[:i], k
		}
	}
	return ref, 0
}

// onnxName is the ONNX tensor name of a node's k-th output.
func onnxName(node string, k int) string {
	if k == 0 {
		return node
	}
	return node + ":" + strconv.Itoa(k)
}

// tensor returns the ONNX name of a TF tensor, converting its producer (and
// everything it depends on) first. Constants become initializers on first use.
func (c *converter) tensor(ref string) (string, error) {
	node, k := splitRef(ref)
	name := onnxName(node, k)
	if w, ok := c.g.Weights[node]; ok && c.nodes[node] != nil && c.nodes[node].Op == "Const" {
		if !c.inited[name] {
			c.inited[name] = true
			c.graph.Initializers = append(c.graph.Initializers, weightTensor(name, w))
			c.dtype[name] = weightType(w)
			c.rank[name] = len(w.Shape)
		}
		return name, nil
	}
	if !c.done[node] {
		n := c.nodes[node]
		if n == nil {
			return "", fmt.Errorf("tensor %q: no node %q in the graph", ref, node)
		}
		c.done[node] = true
		if err := c.convert(n); err != nil {
			return "", fmt.Errorf("convert %s (%s): %w", n.Name, n.Op, err)
		}
	}
	if _, ok := c.dtype[name]; !ok {
		return "", fmt.Errorf("tensor %q was not produced by its node", ref)
	}
	return name, nil
}

// inputs converts and returns the ONNX names of the node's first n inputs.
func (c *converter) inputs(n *NodeDef, count int) ([]string, error) {
	if len(n.Input) < count {
		return nil, fmt.Errorf("want %d inputs, have %d", count, len(n.Input))
	}
	out := make([]string, count)
	for i := 0; i < count; i++ {
		name, err := c.tensor(n.Input[i])
		if err != nil {
			return nil, err
		}
		out[i] = name
	}
	return out, nil
}

// constInts returns the values of n's input i, which must be an integer
// constant: the converter turns such inputs into static attributes (axes,
// permutations, slices).
func (c *converter) constInts(n *NodeDef, i int) ([]int64, error) {
	if i >= len(n.Input) {
		return nil, fmt.Errorf("want an integer constant as input %d, have %d inputs", i, len(n.Input))
	}
	ref := n.Input[i]
	node, _ := splitRef(ref)
	w, ok := c.g.Weights[node]
	if !ok || w.Ints == nil {
		return nil, fmt.Errorf("input %q must be an integer constant", ref)
	}
	return w.Ints, nil
}

// constInputs is constInts of n's inputs first, first+1, …, first+count−1.
func (c *converter) constInputs(n *NodeDef, first, count int) ([][]int64, error) {
	out := make([][]int64, count)
	for k := range out {
		v, err := c.constInts(n, first+k)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// constInt is constInts of a one-value input.
func (c *converter) constInt(n *NodeDef, i int) (int64, error) {
	v, err := c.constInts(n, i)
	if err != nil {
		return 0, err
	}
	if len(v) != 1 {
		return 0, fmt.Errorf("input %q: want one value, have %d", n.Input[i], len(v))
	}
	return v[0], nil
}

// add appends an ONNX node; outputs take the element type of the first
// input unless set afterwards.
func (c *converter) add(op string, inputs, outputs []string, attrs ...onnx.Attr) {
	c.seq++
	c.graph.Nodes = append(c.graph.Nodes, onnx.Node{
		Name:    fmt.Sprintf("%s_%d", op, c.seq),
		OpType:  op,
		Inputs:  inputs,
		Outputs: outputs,
		Attrs:   attrs,
	})
	if len(inputs) > 0 {
		for _, o := range outputs {
			c.dtype[o] = c.dtype[inputs[0]]
		}
	}
}

// tmp adds a node with one fresh output, derived from base, and returns it.
func (c *converter) tmp(base, op string, inputs []string, attrs ...onnx.Attr) string {
	out := c.fresh(base, op)
	c.add(op, inputs, []string{out}, attrs...)
	return out
}

// fresh returns a new, unused tensor name derived from base.
func (c *converter) fresh(base, op string) string {
	c.seq++
	return fmt.Sprintf("%s/%s_%d", base, op, c.seq)
}

// int64Const emits a fresh int64 initializer.
func (c *converter) int64Const(base string, dims []int64, vals ...int64) string {
	c.seq++
	name := fmt.Sprintf("%s/const_%d", base, c.seq)
	c.graph.Initializers = append(c.graph.Initializers, onnx.Int64Tensor(name, dims, vals))
	c.dtype[name] = onnx.Int64
	return name
}

func weightType(w *Weight) onnx.DataType {
	switch {
	case w.Floats != nil:
		return onnx.Float
	case w.Bools != nil:
		return onnx.Bool
	default:
		return onnx.Int64
	}
}

func weightTensor(name string, w *Weight) onnx.Tensor {
	switch weightType(w) {
	case onnx.Float:
		return onnx.FloatTensor(name, w.Shape, w.Floats)
	case onnx.Bool:
		return onnx.BoolTensor(name, w.Shape, w.Bools)
	default:
		return onnx.Int64Tensor(name, w.Shape, w.Ints)
	}
}

// onnxType maps a TF DataType attr to the ONNX type the converter uses.
func onnxType(tf int) (onnx.DataType, error) {
	switch tf {
	case tfFloat:
		return onnx.Float, nil
	case tfInt32, tfInt64:
		return onnx.Int64, nil
	case tfBool:
		return onnx.Bool, nil
	}
	return 0, fmt.Errorf("unsupported TF dtype %d", tf)
}

// Simple one-to-one op mappings.
var (
	binaryOps = map[string]string{
		"Add": "Add", "AddV2": "Add", "BiasAdd": "Add", "Sub": "Sub", "Mul": "Mul",
		"RealDiv": "Div", "Maximum": "Max", "Minimum": "Min",
	}
	compareOps = map[string]string{
		"Less": "Less", "Greater": "Greater", "Equal": "Equal",
		"LessEqual": "LessOrEqual", "GreaterEqual": "GreaterOrEqual",
	}
	unaryOps = map[string]string{
		"Relu": "Relu", "Tanh": "Tanh", "Sin": "Sin", "Cos": "Cos", "Sqrt": "Sqrt",
		"Exp": "Exp", "Neg": "Neg", "Sigmoid": "Sigmoid", "LogicalNot": "Not", "Identity": "Identity",
	}
	reduceOps = map[string]string{
		"Max": "ReduceMax", "Min": "ReduceMin", "Sum": "ReduceSum", "Mean": "ReduceMean", "Prod": "ReduceProd",
	}
)

func (c *converter) convert(n *NodeDef) error {
	out := n.Name
	if op, ok := binaryOps[n.Op]; ok {
		in, err := c.inputs(n, 2)
		if err != nil {
			return err
		}
		if n.Op == "BiasAdd" && n.str("data_format") != "" && n.str("data_format") != "NHWC" {
			return fmt.Errorf("data_format %q is not supported", n.str("data_format"))
		}
		c.add(op, in, []string{out})
		c.rank[out] = max(c.rank[in[0]], c.rank[in[1]])
		return nil
	}
	if op, ok := compareOps[n.Op]; ok {
		in, err := c.inputs(n, 2)
		if err != nil {
			return err
		}
		c.add(op, in, []string{out})
		c.dtype[out] = onnx.Bool
		return nil
	}
	if op, ok := unaryOps[n.Op]; ok {
		in, err := c.inputs(n, 1)
		if err != nil {
			return err
		}
		c.add(op, in, []string{out})
		c.rank[out] = c.rank[in[0]]
		return nil
	}
	if op, ok := reduceOps[n.Op]; ok {
		return c.reduce(n, op)
	}
	switch n.Op {
	case "Placeholder":
		return c.placeholder(n)
	case "Const":
		return fmt.Errorf("constant has no weight in the manifest")
	case "Square":
		in, err := c.inputs(n, 1)
		if err != nil {
			return err
		}
		c.add("Mul", []string{in[0], in[0]}, []string{out})
		c.rank[out] = c.rank[in[0]]
	case "Rsqrt":
		in, err := c.inputs(n, 1)
		if err != nil {
			return err
		}
		c.add("Reciprocal", []string{c.tmp(out, "Sqrt", in)}, []string{out})
	case "Softmax":
		in, err := c.inputs(n, 1)
		if err != nil {
			return err
		}
		c.add("Softmax", in, []string{out}, onnx.IntAttr("axis", -1))
	case "Cast":
		in, err := c.inputs(n, 1)
		if err != nil {
			return err
		}
		dst := n.Attr["DstT"].Type
		if dst == nil {
			return fmt.Errorf("no DstT")
		}
		to, err := onnxType(*dst)
		if err != nil {
			return err
		}
		c.add("Cast", in, []string{out}, onnx.IntAttr("to", int64(to)))
		c.dtype[out] = to
	case "Shape":
		in, err := c.inputs(n, 1)
		if err != nil {
			return err
		}
		c.add("Shape", in, []string{out})
		c.dtype[out] = onnx.Int64
		c.rank[out] = 1
	case "Reshape":
		in, err := c.inputs(n, 2)
		if err != nil {
			return err
		}
		c.add("Reshape", in, []string{out})
		if shape, err := c.constInts(n, 1); err == nil {
			c.rank[out] = len(shape)
		}
	case "Transpose":
		in, err := c.inputs(n, 1)
		if err != nil {
			return err
		}
		perm, err := c.constInts(n, 1)
		if err != nil {
			return err
		}
		c.add("Transpose", in, []string{out}, onnx.IntsAttr("perm", perm...))
		c.rank[out] = len(perm)
	case "ExpandDims":
		in, err := c.inputs(n, 1)
		if err != nil {
			return err
		}
		dim, err := c.constInt(n, 1)
		if err != nil {
			return err
		}
		c.add("Unsqueeze", []string{in[0], c.int64Const(out, []int64{1}, dim)}, []string{out})
	case "Squeeze":
		in, err := c.inputs(n, 1)
		if err != nil {
			return err
		}
		dims, err := n.ints("squeeze_dims")
		if err != nil {
			return err
		}
		if len(dims) == 0 {
			c.add("Squeeze", in, []string{out})
		} else {
			c.add("Squeeze", []string{in[0], c.int64Const(out, []int64{int64(len(dims))}, dims...)}, []string{out})
		}
	case "ConcatV2":
		k := len(n.Input) - 1 // the last input is the axis
		if k < 1 {
			return fmt.Errorf("want at least one tensor and an axis, have %d inputs", len(n.Input))
		}
		in, err := c.inputs(n, k)
		if err != nil {
			return err
		}
		axis, err := c.constInt(n, k)
		if err != nil {
			return err
		}
		c.add("Concat", in, []string{out}, onnx.IntAttr("axis", axis))
	case "Pack":
		in, err := c.inputs(n, len(n.Input))
		if err != nil {
			return err
		}
		axis, err := n.int("axis", 0)
		if err != nil {
			return err
		}
		axes := c.int64Const(out, []int64{1}, axis)
		parts := make([]string, len(in))
		for i, x := range in {
			parts[i] = c.tmp(out, "Unsqueeze", []string{x, axes})
		}
		c.add("Concat", parts, []string{out}, onnx.IntAttr("axis", axis))
	case "GatherV2":
		in, err := c.inputs(n, 2)
		if err != nil {
			return err
		}
		axis, err := c.constInt(n, 2)
		if err != nil {
			return err
		}
		if bd, _ := n.int("batch_dims", 0); bd != 0 {
			return fmt.Errorf("batch_dims %d is not supported", bd)
		}
		c.add("Gather", in, []string{out}, onnx.IntAttr("axis", axis))
	case "GatherNd":
		in, err := c.inputs(n, 2)
		if err != nil {
			return err
		}
		c.add("GatherND", in, []string{out})
	case "ScatterNd":
		// TF ScatterNd(indices, updates, shape) writes updates into zeros.
		in, err := c.inputs(n, 3)
		if err != nil {
			return err
		}
		zero := c.zeroScalar(out, c.dtype[in[1]])
		zeros := c.tmp(out, "ConstantOfShape", []string{in[2]}, onnx.TensorAttr("value", zero))
		c.dtype[zeros] = c.dtype[in[1]]
		c.add("ScatterND", []string{zeros, in[0], in[1]}, []string{out})
	case "SparseToDense":
		// SparseToDense(indices, shape, values, default): a tensor of the
		// default value with the values scattered in.
		in, err := c.inputs(n, 4)
		if err != nil {
			return err
		}
		dense := c.tmp(out, "Expand", []string{in[3], in[1]})
		c.add("ScatterND", []string{dense, in[0], in[2]}, []string{out})
		c.dtype[out] = c.dtype[in[2]]
	case "Where":
		if len(n.Input) == 3 {
			in, err := c.inputs(n, 3)
			if err != nil {
				return err
			}
			c.add("Where", in, []string{out})
			c.dtype[out] = c.dtype[in[1]]
			return nil
		}
		// One-input Where lists the coordinates of true elements as
		// [count, rank]; ONNX NonZero gives them as [rank, count].
		in, err := c.inputs(n, 1)
		if err != nil {
			return err
		}
		nz := c.tmp(out, "NonZero", in)
		c.dtype[nz] = onnx.Int64
		c.add("Transpose", []string{nz}, []string{out}, onnx.IntsAttr("perm", 1, 0))
		c.rank[out] = 2
	case "StridedSlice":
		return c.stridedSlice(n)
	case "Slice":
		return c.slice(n)
	case "SplitV":
		in, err := c.inputs(n, 1)
		if err != nil {
			return err
		}
		sizes, err := c.constInts(n, 1)
		if err != nil {
			return err
		}
		axis, err := c.constInt(n, 2)
		if err != nil {
			return err
		}
		for _, s := range sizes {
			if s < 0 {
				return fmt.Errorf("inferred split sizes (-1) are not supported")
			}
		}
		outs := make([]string, len(sizes))
		for i := range sizes {
			outs[i] = onnxName(out, i)
		}
		c.add("Split", []string{in[0], c.int64Const(out, []int64{int64(len(sizes))}, sizes...)}, outs, onnx.IntAttr("axis", axis))
		for _, o := range outs {
			c.rank[o] = c.rank[in[0]]
		}
	case "Range":
		in, err := c.inputs(n, 3)
		if err != nil {
			return err
		}
		c.add("Range", in, []string{out})
		c.rank[out] = 1
	case "MatMul":
		return c.matMul(n, n.bool("transpose_a"), n.bool("transpose_b"))
	case "BatchMatMul", "BatchMatMulV2":
		return c.matMul(n, n.bool("adj_x"), n.bool("adj_y"))
	case "Conv2D":
		return c.conv1x1(n)
	default:
		return fmt.Errorf("unsupported op %s", n.Op)
	}
	return nil
}

func (c *converter) placeholder(n *NodeDef) error {
	t := n.Attr["dtype"].Type
	if t == nil {
		return fmt.Errorf("placeholder without dtype")
	}
	typ, err := onnxType(*t)
	if err != nil {
		return err
	}
	var dims []onnx.Dim // nil: rank unknown
	if s := n.Attr["shape"].Shape; s != nil {
		dims = []onnx.Dim{}
		for _, d := range s.Dim {
			v, err := d.Size.Int64()
			if err != nil {
				return err
			}
			if v < 0 {
				dims = append(dims, onnx.Dim{Value: -1, Param: "n"})
			} else {
				dims = append(dims, onnx.Dim{Value: v})
			}
		}
	}
	c.graph.Inputs = append(c.graph.Inputs, onnx.ValueInfo{Name: n.Name, ElemType: typ, Dims: dims})
	c.dtype[n.Name] = typ
	c.rank[n.Name] = len(dims)
	return nil
}

func (c *converter) reduce(n *NodeDef, op string) error {
	in, err := c.inputs(n, 1)
	if err != nil {
		return err
	}
	axes, err := c.constInts(n, 1)
	if err != nil {
		return err
	}
	keep := int64(0)
	if n.bool("keep_dims") {
		keep = 1
	}
	c.add(op, []string{in[0], c.int64Const(n.Name, []int64{int64(len(axes))}, axes...)}, []string{n.Name},
		onnx.IntAttr("keepdims", keep))
	return nil
}

// stridedSlice supports constant begin/end/strides with begin, end and
// shrink-axis masks — what TF emits for shape arithmetic and x[:, 1].
func (c *converter) stridedSlice(n *NodeDef) error {
	in, err := c.inputs(n, 1)
	if err != nil {
		return err
	}
	args, err := c.constInputs(n, 1, 3)
	if err != nil {
		return err
	}
	begin, end, strides := args[0], args[1], args[2]
	if len(begin) != len(end) || len(begin) != len(strides) {
		return fmt.Errorf("begin/end/strides lengths differ")
	}
	masks := map[string]int64{}
	for _, m := range []string{"begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask"} {
		if masks[m], err = n.int(m, 0); err != nil {
			return err
		}
	}
	if masks["ellipsis_mask"] != 0 || masks["new_axis_mask"] != 0 {
		return fmt.Errorf("ellipsis and new-axis masks are not supported")
	}
	var starts, ends, axes, steps, squeeze []int64
	for i := range begin {
		bit := int64(1) << i
		b, e, s := begin[i], end[i], strides[i]
		if s == 0 {
			return fmt.Errorf("stride 0")
		}
		if masks["begin_mask"]&bit != 0 {
			b = 0
			if s < 0 {
				b = math.MaxInt64
			}
		}
		if masks["end_mask"]&bit != 0 {
			e = math.MaxInt64
			if s < 0 {
				e = math.MinInt64
			}
		}
		if masks["shrink_axis_mask"]&bit != 0 {
			// x[b] is the slice [b, b+1) with that axis dropped.
			e, s = b+1, 1
			if b == -1 {
				e = math.MaxInt64
			}
			squeeze = append(squeeze, int64(i))
		}
		starts, ends, axes, steps = append(starts, b), append(ends, e), append(axes, int64(i)), append(steps, s)
	}
	k := []int64{int64(len(starts))}
	sliced := n.Name
	if len(squeeze) > 0 {
		sliced = c.fresh(n.Name, "Slice")
	}
	c.add("Slice", []string{in[0], c.int64Const(n.Name, k, starts...), c.int64Const(n.Name, k, ends...),
		c.int64Const(n.Name, k, axes...), c.int64Const(n.Name, k, steps...)}, []string{sliced})
	if len(squeeze) > 0 {
		c.add("Squeeze", []string{sliced, c.int64Const(n.Name, []int64{int64(len(squeeze))}, squeeze...)}, []string{n.Name})
	}
	return nil
}

// slice converts TF Slice(x, begin, size) with constant begin and size;
// size -1 means "to the end".
func (c *converter) slice(n *NodeDef) error {
	in, err := c.inputs(n, 1)
	if err != nil {
		return err
	}
	args, err := c.constInputs(n, 1, 2)
	if err != nil {
		return err
	}
	begin, size := args[0], args[1]
	if len(begin) != len(size) {
		return fmt.Errorf("begin and size lengths differ")
	}
	ends := make([]int64, len(begin))
	axes := make([]int64, len(begin))
	for i := range begin {
		axes[i] = int64(i)
		ends[i] = begin[i] + size[i]
		if size[i] == -1 {
			ends[i] = math.MaxInt64
		}
	}
	k := []int64{int64(len(begin))}
	c.add("Slice", []string{in[0], c.int64Const(n.Name, k, begin...), c.int64Const(n.Name, k, ends...),
		c.int64Const(n.Name, k, axes...)}, []string{n.Name})
	return nil
}

// matMul converts MatMul and BatchMatMul; transposed operands get an
// explicit Transpose of their last two axes.
func (c *converter) matMul(n *NodeDef, transA, transB bool) error {
	in, err := c.inputs(n, 2)
	if err != nil {
		return err
	}
	for i, t := range []bool{transA, transB} {
		if !t {
			continue
		}
		r := c.rank[in[i]]
		if r < 2 {
			return fmt.Errorf("transposed operand %s has unknown rank", in[i])
		}
		perm := make([]int64, r)
		for j := range perm {
			perm[j] = int64(j)
		}
		perm[r-2], perm[r-1] = perm[r-1], perm[r-2]
		in[i] = c.tmp(n.Name, "Transpose", []string{in[i]}, onnx.IntsAttr("perm", perm...))
		c.rank[in[i]] = r
	}
	c.add("MatMul", in, []string{n.Name})
	c.rank[n.Name] = max(c.rank[in[0]], c.rank[in[1]])
	return nil
}

// conv1x1 converts a 1×1, stride-1 NHWC Conv2D — a dense layer applied at
// every position — into a MatMul with the kernel reshaped to [in, out].
func (c *converter) conv1x1(n *NodeDef) error {
	if len(n.Input) < 2 {
		return fmt.Errorf("want 2 inputs, have %d", len(n.Input))
	}
	// The kernel (input 1) becomes a reshaped initializer below, not a tensor.
	in, err := c.inputs(n, 1)
	if err != nil {
		return err
	}
	kernelNode, _ := splitRef(n.Input[1])
	w, ok := c.g.Weights[kernelNode]
	if !ok || w.Floats == nil || len(w.Shape) != 4 || w.Shape[0] != 1 || w.Shape[1] != 1 {
		return fmt.Errorf("only constant 1×1 kernels are supported")
	}
	if f := n.str("data_format"); f != "" && f != "NHWC" {
		return fmt.Errorf("data_format %q is not supported", f)
	}
	for _, attr := range []string{"strides", "dilations"} {
		vals, err := n.ints(attr)
		if err != nil {
			return err
		}
		for _, v := range vals {
			if v != 1 {
				return fmt.Errorf("%s %v are not supported", attr, vals)
			}
		}
	}
	name := kernelNode + "/as_matmul"
	if !c.inited[name] {
		c.inited[name] = true
		c.graph.Initializers = append(c.graph.Initializers, onnx.FloatTensor(name, w.Shape[2:], w.Floats))
		c.dtype[name] = onnx.Float
	}
	c.add("MatMul", []string{in[0], name}, []string{n.Name})
	return nil
}

// zeroScalar is a one-element zero tensor of the given type, the fill value
// for ConstantOfShape.
func (c *converter) zeroScalar(base string, t onnx.DataType) onnx.Tensor {
	switch t {
	case onnx.Int64:
		return onnx.Int64Tensor(base+"/zero", []int64{1}, []int64{0})
	case onnx.Bool:
		return onnx.BoolTensor(base+"/zero", []int64{1}, []bool{false})
	default:
		return onnx.FloatTensor(base+"/zero", []int64{1}, []float32{0})
	}
}
