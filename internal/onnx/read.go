package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Unmarshal decodes ONNX protobuf bytes into a Model: the subset Marshal
// writes (graph nodes with int, float and string attributes, initializers
// with raw or float data, value infos by name, metadata). Unknown fields
// are skipped. It lets tests read back the graphs tinyhead exports without
// an ONNX runtime.
func Unmarshal(b []byte) (*Model, error) {
	m := &Model{Metadata: map[string]string{}}
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == 2 && typ == protowire.BytesType:
			m.ProducerName = string(v)
		case num == 3 && typ == protowire.BytesType:
			m.ProducerVersion = string(v)
		case num == 6 && typ == protowire.BytesType:
			m.DocString = string(v)
		case num == 7 && typ == protowire.BytesType:
			return m.Graph.unmarshal(v)
		case num == 8 && typ == protowire.BytesType:
			return fields(v, func(num protowire.Number, typ protowire.Type, _ []byte, x uint64) error {
				if num == 2 && typ == protowire.VarintType {
					m.Opset = int64(x)
				}
				return nil
			})
		case num == 14 && typ == protowire.BytesType:
			var k, val string
			if err := fields(v, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
				switch num {
				case 1:
					k = string(v)
				case 2:
					val = string(v)
				}
				return nil
			}); err != nil {
				return err
			}
			m.Metadata[k] = val
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("onnx: decode model: %w", err)
	}
	return m, nil
}

func (g *Graph) unmarshal(b []byte) error {
	return fields(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 1:
			var n Node
			if err := n.unmarshal(v); err != nil {
				return err
			}
			g.Nodes = append(g.Nodes, n)
		case 2:
			g.Name = string(v)
		case 5:
			var t Tensor
			if err := t.unmarshal(v); err != nil {
				return err
			}
			g.Initializers = append(g.Initializers, t)
		case 11, 12:
			var vi ValueInfo
			if err := fields(v, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
				if num == 1 {
					vi.Name = string(v)
				}
				return nil
			}); err != nil {
				return err
			}
			if num == 11 {
				g.Inputs = append(g.Inputs, vi)
			} else {
				g.Outputs = append(g.Outputs, vi)
			}
		}
		return nil
	})
}

func (n *Node) unmarshal(b []byte) error {
	return fields(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 1:
			n.Inputs = append(n.Inputs, string(v))
		case 2:
			n.Outputs = append(n.Outputs, string(v))
		case 3:
			n.Name = string(v)
		case 4:
			n.OpType = string(v)
		case 5:
			var a Attr
			if err := a.unmarshal(v); err != nil {
				return err
			}
			n.Attrs = append(n.Attrs, a)
		}
		return nil
	})
}

func (a *Attr) unmarshal(b []byte) error {
	return fields(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			a.Name = string(v)
		case num == 2 && typ == protowire.Fixed32Type:
			a.F = math.Float32frombits(uint32(x))
		case num == 3 && typ == protowire.VarintType:
			a.I = int64(x)
		case num == 4 && typ == protowire.BytesType:
			a.S = string(v)
		case num == 20 && typ == protowire.VarintType:
			a.Type = AttrType(x)
		}
		return nil
	})
}

func (t *Tensor) unmarshal(b []byte) error {
	var floats []byte // float_data, re-encoded as raw little-endian bytes
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == 1 && typ == protowire.VarintType:
			t.Dims = append(t.Dims, int64(x))
		case num == 1 && typ == protowire.BytesType: // packed dims
			for len(v) > 0 {
				d, n := protowire.ConsumeVarint(v)
				if n < 0 {
					return protowire.ParseError(n)
				}
				t.Dims, v = append(t.Dims, int64(d)), v[n:]
			}
		case num == 2 && typ == protowire.VarintType:
			t.DataType = DataType(x)
		case num == 4 && typ == protowire.Fixed32Type:
			floats = binary.LittleEndian.AppendUint32(floats, uint32(x))
		case num == 4 && typ == protowire.BytesType: // packed float_data
			floats = append(floats, v...)
		case num == 8 && typ == protowire.BytesType:
			t.Name = string(v)
		case num == 9 && typ == protowire.BytesType:
			t.Raw = append([]byte(nil), v...)
		}
		return nil
	})
	if t.Raw == nil && floats != nil {
		t.Raw = floats
	}
	return err
}

// Floats returns a float tensor's values.
func (t *Tensor) Floats() ([]float32, error) {
	if t.DataType != Float {
		return nil, fmt.Errorf("onnx: tensor %s has data type %d, not float", t.Name, t.DataType)
	}
	if len(t.Raw)%4 != 0 {
		return nil, fmt.Errorf("onnx: tensor %s has %d bytes, not a whole number of floats", t.Name, len(t.Raw))
	}
	out := make([]float32, len(t.Raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Raw[4*i:]))
	}
	return out, nil
}

// fields calls fn for every field of a protobuf message: v holds a
// length-delimited field's bytes, x a varint or fixed field's value.
func fields(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var f uint32
			f, n = protowire.ConsumeFixed32(b)
			x = uint64(f)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}
