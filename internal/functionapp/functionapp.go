// Package functionapp reads a function app's definition files as the
// Functions host does: functions/<Name>/function.json and host.json. The
// local development host serves from them and the deployment checks them.
package functionapp

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Binding is one entry of a function.json "bindings" array: the fields the
// bindings tinyhead uses have.
type Binding struct {
	Name         string   `json:"name"`
	Type         string   `json:"type"`
	Direction    string   `json:"direction"`
	Path         string   `json:"path,omitempty"`         // blobTrigger: container/{name}
	Connection   string   `json:"connection,omitempty"`   // blobTrigger: connection setting prefix
	Source       string   `json:"source,omitempty"`       // blobTrigger: "EventGrid" or polling ("")
	DataType     string   `json:"dataType,omitempty"`     // blobTrigger: "binary"
	AuthLevel    string   `json:"authLevel,omitempty"`    // httpTrigger
	Methods      []string `json:"methods,omitempty"`      // httpTrigger
	Route        string   `json:"route,omitempty"`        // httpTrigger
	Schedule     string   `json:"schedule,omitempty"`     // timerTrigger: NCRONTAB or %Setting%
	RunOnStartup *bool    `json:"runOnStartup,omitempty"` // timerTrigger
}

// Function is one functions/<Name>/function.json.
type Function struct {
	Name     string    `json:"-"` // the folder's name, which the host uses as the function's name
	Path     string    `json:"-"` // the function.json file
	Raw      []byte    `json:"-"` // the file as it is
	Bindings []Binding `json:"bindings"`
}

// Trigger returns the function's trigger binding (the one whose type ends
// in "Trigger"), or an error if there is not exactly one.
func (f Function) Trigger() (Binding, error) {
	var found []Binding
	for _, b := range f.Bindings {
		if strings.HasSuffix(b.Type, "Trigger") {
			found = append(found, b)
		}
	}
	if len(found) != 1 {
		return Binding{}, fmt.Errorf("%s: %d trigger bindings, want 1", f.Path, len(found))
	}
	return found[0], nil
}

// Outputs returns the function's bindings of direction "out".
func (f Function) Outputs() []Binding {
	var out []Binding
	for _, b := range f.Bindings {
		if b.Direction == "out" {
			out = append(out, b)
		}
	}
	return out
}

// LoadFunctions reads every <dir>/<Name>/function.json, sorted by name, the
// way the host indexes a function app. Unknown fields are an error: a typo
// in a binding would otherwise go unnoticed until the host rejects or
// ignores it.
func LoadFunctions(dir string) ([]Function, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*", "function.json"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no */function.json under %s", dir)
	}
	sort.Strings(paths)
	fns := make([]Function, 0, len(paths))
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read function definition: %w", err)
		}
		fn := Function{Name: filepath.Base(filepath.Dir(p)), Path: p, Raw: raw}
		if err := decodeStrict(raw, &fn); err != nil {
			return nil, fmt.Errorf("parse %s: %w", p, err)
		}
		fns = append(fns, fn)
	}
	return fns, nil
}

// HostJSON is the part of host.json the deployment depends on.
type HostJSON struct {
	Version         string `json:"version"`
	FunctionTimeout string `json:"functionTimeout"`
	ExtensionBundle struct {
		ID      string `json:"id"`
		Version string `json:"version"`
	} `json:"extensionBundle"`
	CustomHandler struct {
		Description struct {
			DefaultExecutablePath string   `json:"defaultExecutablePath"`
			WorkingDirectory      string   `json:"workingDirectory"`
			Arguments             []string `json:"arguments"`
		} `json:"description"`
		EnableForwardingHTTPRequest bool `json:"enableForwardingHttpRequest"`
	} `json:"customHandler"`
	Raw []byte `json:"-"`
}

// LoadHostJSON reads the host.json file at path.
func LoadHostJSON(p string) (HostJSON, error) {
	raw, err := os.ReadFile(p)
	if err != nil {
		return HostJSON{}, fmt.Errorf("read host.json: %w", err)
	}
	var h HostJSON
	if err := json.Unmarshal(raw, &h); err != nil {
		return HostJSON{}, fmt.Errorf("parse %s: %w", p, err)
	}
	h.Raw = raw
	return h, nil
}

func decodeStrict(raw []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON object")
	}
	return nil
}
