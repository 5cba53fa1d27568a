package onnxrt

import (
	"fmt"
	"slices"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/tinyhead/tinyhead/internal/sketch"
)

// Names of the classifier graph's inputs and output, as internal/mlp
// exports them.
const (
	ClassifierInput   = "embedding"
	ClassifierIndices = "sketch_indices" // int64 [N, K], a head with a sketch layer only
	ClassifierValues  = "sketch_values"  // float [N, K], likewise
	ClassifierOutput  = "probabilities"
)

// Classifier runs an exported classifier head: embeddings [N, Dim] (and,
// for a head with a sketch layer, the sketches as padded [N, K] indices
// and values) in, class probabilities [N, Classes] out. It is safe for
// concurrent use.
type Classifier struct {
	sess         *ort.DynamicAdvancedSession
	dim, classes int
	sketch       bool // the graph takes the sketch inputs
}

// NewClassifier opens a session on an ONNX classifier. Init must have
// been called. The heads are tiny, so one thread serves them best.
func NewClassifier(model []byte, dim, classes int) (*Classifier, error) {
	ins, _, err := ort.GetInputOutputInfoWithONNXData(model)
	if err != nil {
		return nil, fmt.Errorf("read the classifier's inputs: %w", err)
	}
	inputs := []string{ClassifierInput}
	sketch := slices.ContainsFunc(ins, func(i ort.InputOutputInfo) bool { return i.Name == ClassifierIndices })
	if sketch {
		inputs = append(inputs, ClassifierIndices, ClassifierValues)
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("create session options: %w", err)
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(1); err != nil {
		return nil, err
	}
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(model, inputs, []string{ClassifierOutput}, opts)
	if err != nil {
		return nil, fmt.Errorf("open classifier session: %w", err)
	}
	return &Classifier{sess: sess, dim: dim, classes: classes, sketch: sketch}, nil
}

// Predict returns the class probabilities of n texts, row by row, from
// their embeddings stored row by row in x and, if the head reads them,
// their sketches.
func (c *Classifier) Predict(x []float32, sk sketch.Batch, n int) ([]float32, error) {
	if len(x) != n*c.dim {
		return nil, fmt.Errorf("classify: %d values for %d rows of %d", len(x), n, c.dim)
	}
	if c.sketch && sk.Rows() != n {
		return nil, fmt.Errorf("classify: %d sketches for %d rows", sk.Rows(), n)
	}
	if n == 0 {
		return nil, nil
	}
	in, err := ort.NewTensor(ort.NewShape(int64(n), int64(c.dim)), x)
	if err != nil {
		return nil, err
	}
	defer in.Destroy()
	inputs := []ort.Value{in}
	if c.sketch {
		index, value, k := sk.Padded()
		ti, err := ort.NewTensor(ort.NewShape(int64(n), int64(k)), index)
		if err != nil {
			return nil, err
		}
		defer ti.Destroy()
		tv, err := ort.NewTensor(ort.NewShape(int64(n), int64(k)), value)
		if err != nil {
			return nil, err
		}
		defer tv.Destroy()
		inputs = append(inputs, ti, tv)
	}
	outs := []ort.Value{nil}
	if err := c.sess.Run(inputs, outs); err != nil {
		return nil, fmt.Errorf("classify %d rows: %w", n, err)
	}
	defer outs[0].Destroy()
	res, ok := outs[0].(*ort.Tensor[float32])
	if !ok {
		return nil, fmt.Errorf("classifier output is %T, want float32 tensor", outs[0])
	}
	if shape := res.GetShape(); len(shape) != 2 || shape[0] != int64(n) || shape[1] != int64(c.classes) {
		return nil, fmt.Errorf("classifier returned shape %v, want [%d %d]", shape, n, c.classes)
	}
	return slices.Clone(res.GetData()), nil
}

// Close releases the session.
func (c *Classifier) Close() error { return c.sess.Destroy() }
