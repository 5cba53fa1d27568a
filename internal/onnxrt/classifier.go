package onnxrt

import (
	"fmt"
	"slices"

	ort "github.com/yalue/onnxruntime_go"
)

// Names of the classifier graph's input and output, as internal/mlp
// exports them.
const (
	ClassifierInput  = "embedding"
	ClassifierOutput = "probabilities"
)

// Classifier runs an exported classifier head: embeddings [N, Dim] in,
// class probabilities [N, Classes] out. It is safe for concurrent use.
type Classifier struct {
	sess         *ort.DynamicAdvancedSession
	dim, classes int
}

// NewClassifier opens a session on an ONNX classifier. Init must have
// been called. The heads are tiny, so one thread serves them best.
func NewClassifier(model []byte, dim, classes int) (*Classifier, error) {
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("create session options: %w", err)
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(1); err != nil {
		return nil, err
	}
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(model, []string{ClassifierInput}, []string{ClassifierOutput}, opts)
	if err != nil {
		return nil, fmt.Errorf("open classifier session: %w", err)
	}
	return &Classifier{sess: sess, dim: dim, classes: classes}, nil
}

// Predict returns the class probabilities of n embeddings stored row by row
// in x, row by row.
func (c *Classifier) Predict(x []float32, n int) ([]float32, error) {
	if len(x) != n*c.dim {
		return nil, fmt.Errorf("classify: %d values for %d rows of %d", len(x), n, c.dim)
	}
	if n == 0 {
		return nil, nil
	}
	in, err := ort.NewTensor(ort.NewShape(int64(n), int64(c.dim)), x)
	if err != nil {
		return nil, err
	}
	defer in.Destroy()
	outs := []ort.Value{nil}
	if err := c.sess.Run([]ort.Value{in}, outs); err != nil {
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
