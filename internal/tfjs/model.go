// Package tfjs reads TensorFlow.js graph models (model.json plus binary
// weight shards) and converts them into ONNX graphs, op by op, so that the
// model can be served by ONNX Runtime.
//
// It supports the TensorFlow ops that tinyhead's default embedding model
// (Universal Sentence Encoder Lite) uses; an unsupported op is an error that
// names it, never a silently wrong graph.
package tfjs

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
)

// GraphModel is a parsed TF.js graph model with its weights loaded.
type GraphModel struct {
	Nodes   []NodeDef
	Weights map[string]*Weight
}

// NodeDef is one TensorFlow GraphDef node in TF.js's JSON encoding.
type NodeDef struct {
	Name  string          `json:"name"`
	Op    string          `json:"op"`
	Input []string        `json:"input"`
	Attr  map[string]Attr `json:"attr"`
}

// Attr is a TensorFlow AttrValue in its JSON encoding (int64 values are
// JSON strings there).
type Attr struct {
	I     *json.Number `json:"i"`
	F     *float64     `json:"f"`
	B     *bool        `json:"b"`
	S     bytesValue   `json:"s"`
	Type  *int         `json:"type"`
	List  *attrList    `json:"list"`
	Shape *struct {
		Dim []struct {
			Size json.Number `json:"size"`
		} `json:"dim"`
	} `json:"shape"`
}

type attrList struct {
	I []json.Number `json:"i"`
}

// bytesValue accepts both encodings TF.js writers use for bytes: a base64
// string or an array of byte values.
type bytesValue []byte

func (b *bytesValue) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '[' {
		var ints []int
		if err := json.Unmarshal(data, &ints); err != nil {
			return err
		}
		out := make([]byte, len(ints))
		for i, v := range ints {
			out[i] = byte(v)
		}
		*b = out
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	dec, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	*b = dec
	return nil
}

// Weight is one constant tensor from the weight shards. Integer tensors are
// widened to int64 (ONNX index tensors are int64).
type Weight struct {
	Name   string
	DType  string // "float32", "int32" or "bool"
	Shape  []int64
	Floats []float32
	Ints   []int64
	Bools  []bool
}

// Size is the number of elements.
func (w *Weight) Size() int64 {
	n := int64(1)
	for _, d := range w.Shape {
		n *= d
	}
	return n
}

type manifestGroup struct {
	Paths   []string `json:"paths"`
	Weights []struct {
		Name         string          `json:"name"`
		Shape        []int64         `json:"shape"`
		DType        string          `json:"dtype"`
		Quantization json.RawMessage `json:"quantization"`
	} `json:"weights"`
}

type modelJSON struct {
	Format        string `json:"format"`
	ModelTopology struct {
		Node []NodeDef `json:"node"`
	} `json:"modelTopology"`
	WeightsManifest []manifestGroup `json:"weightsManifest"`
}

// Load reads dir/model.json and its weight shards.
func Load(dir string) (*GraphModel, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "model.json"))
	if err != nil {
		return nil, fmt.Errorf("read TF.js model: %w", err)
	}
	var mj modelJSON
	if err := json.Unmarshal(raw, &mj); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, "model.json"), err)
	}
	if len(mj.ModelTopology.Node) == 0 {
		return nil, fmt.Errorf("%s: no graph nodes (only TF.js graph models are supported)", dir)
	}
	g := &GraphModel{Nodes: mj.ModelTopology.Node, Weights: map[string]*Weight{}}
	for _, group := range mj.WeightsManifest {
		if err := g.loadGroup(dir, group); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// loadGroup reads one manifest group: its shards concatenated hold the
// group's weights back to back, in manifest order.
func (g *GraphModel) loadGroup(dir string, group manifestGroup) error {
	var buf []byte
	for _, p := range group.Paths {
		shard, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			return fmt.Errorf("read weight shard: %w", err)
		}
		buf = append(buf, shard...)
	}
	off := 0
	for _, spec := range group.Weights {
		if len(spec.Quantization) > 0 && string(spec.Quantization) != "null" {
			return fmt.Errorf("weight %s: quantized weights are not supported", spec.Name)
		}
		w := &Weight{Name: spec.Name, DType: spec.DType, Shape: spec.Shape}
		n := int(w.Size())
		width := 4
		if spec.DType == "bool" {
			width = 1
		}
		if off+n*width > len(buf) {
			return fmt.Errorf("weight %s: shards end at byte %d, need %d", spec.Name, len(buf), off+n*width)
		}
		data := buf[off : off+n*width]
		off += n * width
		switch spec.DType {
		case "float32":
			w.Floats = make([]float32, n)
			for i := range w.Floats {
				w.Floats[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
			}
		case "int32":
			w.Ints = make([]int64, n)
			for i := range w.Ints {
				w.Ints[i] = int64(int32(binary.LittleEndian.Uint32(data[4*i:])))
			}
		case "bool":
			w.Bools = make([]bool, n)
			for i := range w.Bools {
				w.Bools[i] = data[i] != 0
			}
		default:
			return fmt.Errorf("weight %s: unsupported dtype %q", spec.Name, spec.DType)
		}
		g.Weights[spec.Name] = w
	}
	if off != len(buf) {
		return fmt.Errorf("weight shards %v: %d bytes left over after the manifest's weights", group.Paths, len(buf)-off)
	}
	return nil
}

// int returns an integer attribute, or def when absent.
func (n *NodeDef) int(name string, def int64) (int64, error) {
	a, ok := n.Attr[name]
	if !ok || a.I == nil {
		return def, nil
	}
	v, err := strconv.ParseInt(string(*a.I), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("node %s attr %s: %w", n.Name, name, err)
	}
	return v, nil
}

func (n *NodeDef) bool(name string) bool {
	a, ok := n.Attr[name]
	return ok && a.B != nil && *a.B
}

func (n *NodeDef) ints(name string) ([]int64, error) {
	a, ok := n.Attr[name]
	if !ok || a.List == nil {
		return nil, nil
	}
	out := make([]int64, len(a.List.I))
	for i, s := range a.List.I {
		v, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("node %s attr %s: %w", n.Name, name, err)
		}
		out[i] = v
	}
	return out, nil
}

func (n *NodeDef) str(name string) string {
	return string(n.Attr[name].S)
}
