package mlp

import (
	"fmt"
	"math"
)

// Model is a trained head: probabilities = softmax(W2·act(W1·x + B1) + B2
// + s·WS), where x is the embedding and s the text's sketch folded into
// Buckets buckets (internal/sketch; no sketch layer when Buckets is 0).
// The weights are float32, the type of the stored embeddings and of the
// ONNX export, whatever precision training used. A Model can be rebuilt
// from its fields alone (check it with Validate).
type Model struct {
	Dim        int        `json:"dim"`
	Hidden     int        `json:"hidden"`
	Classes    int        `json:"classes"`
	Activation Activation `json:"activation"`
	// W1 is Hidden×Dim and W2 Classes×Hidden, row-major: PyTorch's
	// Linear.weight layout, and ONNX Gemm's B with transB=1.
	W1 []float32 `json:"w1"`
	B1 []float32 `json:"b1"`
	W2 []float32 `json:"w2"`
	B2 []float32 `json:"b2"`
	// Buckets is the number of rows of WS (0: the model reads no
	// sketch). A sketch entry with index i and value v adds v times row
	// i mod Buckets to the logits.
	Buckets int `json:"buckets,omitempty"`
	// WS is Buckets×Classes, row-major.
	WS []float32 `json:"ws,omitempty"`
	// Features says which inputs the model was trained on. A "sketch"
	// model keeps a zero first part (W1, B1 and W2 all 0), so that every
	// exported graph has the same inputs and the embedding adds nothing.
	Features Features `json:"features,omitempty"`
	// Labels names the classes in output order; Train leaves it nil.
	Labels []string `json:"labels,omitempty"`
}

// ParamCount is the number of trainable parameters.
func (m *Model) ParamCount() int {
	n := m.Buckets * m.Classes
	if m.Features != FeatureSketch {
		n += paramCount(m.Dim, m.Hidden, m.Classes)
	} else {
		n += m.Classes
	}
	return n
}

func paramCount(dim, hidden, classes int) int {
	return hidden*dim + hidden + classes*hidden + classes
}

// Validate checks that the weights have the shapes the dimensions say.
func (m *Model) Validate() error {
	switch {
	case m.Dim < 1 || m.Hidden < 1 || m.Classes < 1:
		return fmt.Errorf("mlp: bad dimensions %d→%d→%d", m.Dim, m.Hidden, m.Classes)
	case m.Activation != ReLU && m.Activation != None:
		return fmt.Errorf("mlp: unknown activation %q", m.Activation)
	case len(m.W1) != m.Hidden*m.Dim || len(m.B1) != m.Hidden || len(m.W2) != m.Classes*m.Hidden || len(m.B2) != m.Classes:
		return fmt.Errorf("mlp: weights of %d, %d, %d, %d values do not fit %d→%d→%d",
			len(m.W1), len(m.B1), len(m.W2), len(m.B2), m.Dim, m.Hidden, m.Classes)
	case m.Buckets < 0 || len(m.WS) != m.Buckets*m.Classes:
		return fmt.Errorf("mlp: sketch weights of %d values do not fit %d buckets × %d classes", len(m.WS), m.Buckets, m.Classes)
	case m.Features.uses(FeatureSketch) != (m.Buckets > 0) || !m.Features.valid():
		return fmt.Errorf("mlp: features %q with %d sketch buckets", m.Features, m.Buckets)
	case m.Labels != nil && len(m.Labels) != m.Classes:
		return fmt.Errorf("mlp: %d labels for %d classes", len(m.Labels), m.Classes)
	}
	return nil
}

// Predict writes the class probabilities of n texts into probs
// (n×Classes): x holds their embeddings (n×Dim, row-major) and sk their
// sketches (n rows; ignored, and may be empty, when Buckets is 0). It is
// the one forward pass of a head: training's evaluation, the Go runtime
// and batch scoring all run it. It is safe for concurrent use.
//
// The hidden layer is one matrix product per block of rows (gemmAcc32,
// the trainer's AVX2 kernels) with a transposed copy of W1 made per call:
// a dot product per row and hidden unit cost six times as much. Each
// hidden value is B1 plus its products added in order (see gemmAcc32),
// so a row's probabilities do not depend on n, on the blocks or on the
// machine.
func (m *Model) Predict(x []float32, sk Sparse, n int, probs []float32) {
	d, h, c := m.Dim, m.Hidden, m.Classes
	if len(x) < n*d || len(probs) < n*c || (m.Buckets > 0 && sk.Rows() != n) {
		panic(fmt.Sprintf("mlp: Predict of %d rows given %d inputs, %d sketches and %d outputs", n, len(x), sk.Rows(), len(probs)))
	}
	if n == 0 {
		return
	}
	block := min(n, max(predictBlock/h, 4))
	hidden := make([]float32, block*h)
	// One row is its own transpose: the kernels take W1·x, the same sums
	// (the portable loop is faster the other way round).
	oneRow := n == 1 && useAVX2
	var w1t []float32 // Dim×Hidden: gemmAcc32's B
	if !oneRow {
		w1t = make([]float32, d*h)
		for j := range h {
			for i, w := range m.W1[j*d : (j+1)*d] {
				w1t[i*h+j] = w
			}
		}
	}
	relu := m.Activation != None
	for lo := 0; lo < n; lo += block {
		rows := min(block, n-lo)
		a := hidden[:rows*h]
		for r := range rows {
			copy(a[r*h:(r+1)*h], m.B1)
		}
		if oneRow {
			gemmAcc32(h, 1, d, m.W1, d, 1, x, 1, a, 1)
		} else {
			gemmAcc32(rows, h, d, x[lo*d:], d, 1, w1t, h, a, h)
		}
		for r := range rows {
			i := lo + r
			p := probs[i*c : (i+1)*c]
			copy(p, m.B2)
			for j, v := range a[r*h : (r+1)*h] {
				if relu && v <= 0 {
					continue
				}
				for k := range p {
					p[k] += m.W2[k*h+j] * v
				}
			}
			if m.Buckets > 0 {
				lo, hi := sk.Start[i], sk.Start[i+1]
				addSketch(p, m.WS, m.Buckets, sk.Index[lo:hi], sk.Value[lo:hi])
			}
			softmax(p)
		}
	}
}

// predictBlock bounds the hidden activations Predict holds at once: a
// block of rows' fits in L1 beside the tile of W1 being read.
const predictBlock = 4096

// softmax replaces logits by their softmax; exponentials are taken in
// float64 so that a row's probabilities sum to 1 to float32 precision.
func softmax[T float32 | float64](p []T) {
	top := p[0]
	for _, v := range p[1:] {
		top = max(top, v)
	}
	var sum float64
	for k, v := range p {
		e := math.Exp(float64(v - top))
		p[k] = T(e)
		sum += e
	}
	inv := 1 / sum
	for k, v := range p {
		p[k] = T(float64(v) * inv)
	}
}

// Argmax is the index of the largest value (the first one among ties): a
// row of probabilities' predicted class.
func Argmax(p []float32) int {
	best := 0
	for i, v := range p {
		if v > p[best] {
			best = i
		}
	}
	return best
}
