package deploy

import (
	"path/filepath"

	"github.com/tinyhead/tinyhead/internal/functionapp"
)

// FunctionsDir is the repository folder that holds one folder per function
// (functions/<Name>/function.json). In the package those folders sit at the
// root, where the Functions host looks for them.
const FunctionsDir = "functions"

// LoadFunctions reads the function.json files of the repository at root.
func LoadFunctions(root string) ([]functionapp.Function, error) {
	return functionapp.LoadFunctions(filepath.Join(root, FunctionsDir))
}
