// Package onnxrt loads ONNX Runtime (github.com/yalue/onnxruntime_go) once per
// process and runs small ONNX models with it: the classifier heads that
// training exports. The embedding model has its own package, onnxembed.
package onnxrt

import (
	"fmt"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// The ONNX Runtime environment is process-wide in onnxruntime_go: it is
// initialised once, from the first library path given, and lives until exit.
var (
	envOnce sync.Once
	envErr  error
	envLib  string
)

// Init loads the ONNX Runtime shared library. Later calls with the
// same path are no-ops; a different path is an error, since one process
// can hold only one runtime.
func Init(libPath string) error {
	envOnce.Do(func() {
		envLib = libPath
		ort.SetSharedLibraryPath(libPath)
		if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
			envErr = fmt.Errorf("load ONNX Runtime from %s: %w", libPath, err)
		}
	})
	if envErr == nil && libPath != envLib {
		return fmt.Errorf("ONNX Runtime already loaded from %s, cannot load %s", envLib, libPath)
	}
	return envErr
}
