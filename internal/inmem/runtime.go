package inmem

import (
	"github.com/tinyhead/tinyhead/internal/registry"
)

// Runtime is a registry.Runtime that runs classifier heads in Go instead
// of ONNX Runtime (registry.GoRuntime), for tests without ONNX Runtime.
func Runtime(model []byte, dim, classes int) (registry.Predictor, error) {
	return registry.GoRuntime(model, dim, classes)
}
