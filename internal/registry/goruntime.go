package registry

import (
	"fmt"

	"github.com/tinyhead/tinyhead/internal/mlp"
)

// GoRuntime is a Runtime that runs heads in Go instead of ONNX Runtime: it
// reads the exported graph back (mlp.FromONNX) and predicts with
// mlp.Model.Predict, which training itself scores with. Batch scoring uses
// it: no ONNX Runtime session per version, and no cgo call per page.
func GoRuntime(model []byte, dim, classes int) (Predictor, error) {
	m, err := mlp.FromONNX(model)
	if err != nil {
		return nil, err
	}
	if m.Dim != dim || m.Classes != classes {
		return nil, fmt.Errorf("head is %d→%d, the manifest says %d→%d", m.Dim, m.Classes, dim, classes)
	}
	return goHead{m}, nil
}

type goHead struct{ m *mlp.Model }

func (h goHead) Predict(x []float32, sk mlp.Sparse, n int) ([]float32, error) {
	if len(x) != n*h.m.Dim {
		return nil, fmt.Errorf("%d values for %d rows of %d", len(x), n, h.m.Dim)
	}
	if h.m.Buckets > 0 && sk.Rows() != n {
		return nil, fmt.Errorf("%d sketches for %d rows", sk.Rows(), n)
	}
	out := make([]float32, n*h.m.Classes)
	h.m.Predict(x, sk, n, out)
	return out, nil
}

func (goHead) Close() error { return nil }
