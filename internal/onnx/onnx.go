// Package onnx writes ONNX models: the small subset of the ONNX protobuf
// schema (onnx.proto, IR version 8) that tinyhead needs to export graphs —
// the converted embedding model and the trained classifier heads.
//
// Models are encoded with protowire directly, field by field, so the package
// needs no generated code; field numbers are those of onnx/onnx.proto.
package onnx

import (
	"encoding/binary"
	"math"
	"sort"

	"google.golang.org/protobuf/encoding/protowire"
)

// DataType is onnx.TensorProto.DataType.
type DataType int32

const (
	Float  DataType = 1
	Uint8  DataType = 2
	Int8   DataType = 3
	Int32  DataType = 6
	Int64  DataType = 7
	String DataType = 8
	Bool   DataType = 9
	Double DataType = 11
)

// IRVersion 8 is the IR that goes with opset 18; every ONNX Runtime since
// 1.14 reads it.
const IRVersion = 8

// Model is an ONNX ModelProto with a single default-domain opset.
type Model struct {
	Opset           int64
	ProducerName    string
	ProducerVersion string
	DocString       string
	Metadata        map[string]string
	Graph           Graph
}

// Graph is an ONNX GraphProto.
type Graph struct {
	Name         string
	Nodes        []Node
	Initializers []Tensor
	Inputs       []ValueInfo
	Outputs      []ValueInfo
}

// Node is one operator application (NodeProto).
type Node struct {
	Name    string
	OpType  string
	Inputs  []string // "" marks an omitted optional input
	Outputs []string
	Attrs   []Attr
}

// Tensor is a constant tensor (TensorProto) stored as raw little-endian bytes.
type Tensor struct {
	Name     string
	DataType DataType
	Dims     []int64
	Raw      []byte
}

// ValueInfo declares a graph input or output. Nil Dims leave the rank
// unknown; an empty, non-nil Dims declares a scalar. A Dim with Value < 0 is
// symbolic and takes Param as its name.
type ValueInfo struct {
	Name     string
	ElemType DataType
	Dims     []Dim
}

// Dim is one dimension of a ValueInfo's shape.
type Dim struct {
	Value int64
	Param string
}

// AttrType is onnx.AttributeProto.AttributeType.
type AttrType int32

const (
	AttrFloat   AttrType = 1
	AttrInt     AttrType = 2
	AttrString  AttrType = 3
	AttrTensor  AttrType = 4
	AttrFloats  AttrType = 6
	AttrInts    AttrType = 7
	AttrStrings AttrType = 8
)

// Attr is one node attribute (AttributeProto). Only the field that matches
// Type is written.
type Attr struct {
	Name   string
	Type   AttrType
	F      float32
	I      int64
	S      string
	T      *Tensor
	Floats []float32
	Ints   []int64
}

// Convenience constructors for attributes.
func IntAttr(name string, v int64) Attr         { return Attr{Name: name, Type: AttrInt, I: v} }
func IntsAttr(name string, v ...int64) Attr     { return Attr{Name: name, Type: AttrInts, Ints: v} }
func FloatAttr(name string, v float32) Attr     { return Attr{Name: name, Type: AttrFloat, F: v} }
func StringAttr(name, v string) Attr            { return Attr{Name: name, Type: AttrString, S: v} }
func TensorAttr(name string, t Tensor) Attr     { return Attr{Name: name, Type: AttrTensor, T: &t} }
func FloatsAttr(name string, v ...float32) Attr { return Attr{Name: name, Type: AttrFloats, Floats: v} }

// FloatTensor builds a float32 tensor.
func FloatTensor(name string, dims []int64, data []float32) Tensor {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return Tensor{Name: name, DataType: Float, Dims: dims, Raw: raw}
}

// Int64Tensor builds an int64 tensor.
func Int64Tensor(name string, dims []int64, data []int64) Tensor {
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	return Tensor{Name: name, DataType: Int64, Dims: dims, Raw: raw}
}

// BoolTensor builds a bool tensor.
func BoolTensor(name string, dims []int64, data []bool) Tensor {
	raw := make([]byte, len(data))
	for i, v := range data {
		if v {
			raw[i] = 1
		}
	}
	return Tensor{Name: name, DataType: Bool, Dims: dims, Raw: raw}
}

// Marshal encodes the model as ONNX protobuf bytes.
func (m *Model) Marshal() []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType) // ir_version
	b = protowire.AppendVarint(b, IRVersion)
	b = appendString(b, 2, m.ProducerName)
	b = appendString(b, 3, m.ProducerVersion)
	b = appendString(b, 6, m.DocString)
	b = appendMessage(b, 7, m.Graph.marshal())
	var opset []byte // OperatorSetIdProto{domain: "", version}
	opset = protowire.AppendTag(opset, 2, protowire.VarintType)
	opset = protowire.AppendVarint(opset, uint64(m.Opset))
	b = appendMessage(b, 8, opset)
	keys := make([]string, 0, len(m.Metadata))
	for k := range m.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic bytes for the same model
	for _, k := range keys {
		var kv []byte // StringStringEntryProto
		kv = appendString(kv, 1, k)
		kv = appendString(kv, 2, m.Metadata[k])
		b = appendMessage(b, 14, kv)
	}
	return b
}

func (g *Graph) marshal() []byte {
	var b []byte
	for i := range g.Nodes {
		b = appendMessage(b, 1, g.Nodes[i].marshal())
	}
	b = appendString(b, 2, g.Name)
	for i := range g.Initializers {
		b = appendMessage(b, 5, g.Initializers[i].marshal())
	}
	for i := range g.Inputs {
		b = appendMessage(b, 11, g.Inputs[i].marshal())
	}
	for i := range g.Outputs {
		b = appendMessage(b, 12, g.Outputs[i].marshal())
	}
	return b
}

func (n *Node) marshal() []byte {
	var b []byte
	for _, in := range n.Inputs {
		b = appendStringAlways(b, 1, in)
	}
	for _, out := range n.Outputs {
		b = appendStringAlways(b, 2, out)
	}
	b = appendString(b, 3, n.Name)
	b = appendString(b, 4, n.OpType)
	for i := range n.Attrs {
		b = appendMessage(b, 5, n.Attrs[i].marshal())
	}
	return b
}

func (a *Attr) marshal() []byte {
	var b []byte
	b = appendString(b, 1, a.Name)
	switch a.Type {
	case AttrFloat:
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.F))
	case AttrInt:
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(a.I))
	case AttrString:
		b = appendStringAlways(b, 4, a.S)
	case AttrTensor:
		b = appendMessage(b, 5, a.T.marshal())
	case AttrFloats:
		var packed []byte
		for _, f := range a.Floats {
			packed = protowire.AppendFixed32(packed, math.Float32bits(f))
		}
		b = appendMessage(b, 7, packed)
	case AttrInts:
		var packed []byte
		for _, v := range a.Ints {
			packed = protowire.AppendVarint(packed, uint64(v))
		}
		b = appendMessage(b, 8, packed)
	}
	b = protowire.AppendTag(b, 20, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(a.Type))
	return b
}

func (t *Tensor) marshal() []byte {
	var b []byte
	if len(t.Dims) > 0 {
		var packed []byte
		for _, d := range t.Dims {
			packed = protowire.AppendVarint(packed, uint64(d))
		}
		b = appendMessage(b, 1, packed)
	}
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(t.DataType))
	b = appendString(b, 8, t.Name)
	b = protowire.AppendTag(b, 9, protowire.BytesType)
	b = protowire.AppendBytes(b, t.Raw)
	return b
}

func (v *ValueInfo) marshal() []byte {
	var shape []byte // TensorShapeProto
	for _, d := range v.Dims {
		var dim []byte
		if d.Value >= 0 {
			dim = protowire.AppendTag(dim, 1, protowire.VarintType)
			dim = protowire.AppendVarint(dim, uint64(d.Value))
		} else {
			dim = appendString(dim, 2, d.Param)
		}
		shape = appendMessage(shape, 1, dim)
	}
	var tensorType []byte // TypeProto.Tensor
	tensorType = protowire.AppendTag(tensorType, 1, protowire.VarintType)
	tensorType = protowire.AppendVarint(tensorType, uint64(v.ElemType))
	if v.Dims != nil {
		tensorType = appendMessage(tensorType, 2, shape)
	}
	var typ []byte // TypeProto
	typ = appendMessage(typ, 1, tensorType)
	var b []byte
	b = appendString(b, 1, v.Name)
	b = appendMessage(b, 2, typ)
	return b
}

func appendMessage(b []byte, field protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}

// appendString skips empty strings, as proto3 does for singular fields.
func appendString(b []byte, field protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	return appendStringAlways(b, field, s)
}

// appendStringAlways writes even "", which repeated fields need (an empty
// node input means "optional input omitted").
func appendStringAlways(b []byte, field protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendString(b, s)
}
