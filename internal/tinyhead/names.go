package tinyhead

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxTaskName is the longest task name in bytes. A task name becomes a
// folder of the models container and a key of the labels table.
const MaxTaskName = 128

// CheckTaskName says why name cannot be a task's name, or returns nil. A
// task name is one path segment of printable text: no slash or backslash,
// not "." or "..", no control characters, no surrounding white space (SQL
// Server ignores trailing spaces in comparisons, SQLite does not), at most
// MaxTaskName bytes. Errors are of kind ErrInvalid.
func CheckTaskName(name string) error {
	why := ""
	switch {
	case name == "":
		why = "it is empty"
	case len(name) > MaxTaskName:
		why = fmt.Sprintf("it is longer than %d bytes", MaxTaskName)
	case !utf8.ValidString(name):
		why = "it is not valid UTF-8"
	case name == "." || name == "..":
		why = "it is a relative path"
	case strings.ContainsAny(name, `/\`):
		why = "it contains a slash"
	case strings.TrimSpace(name) != name:
		why = "it starts or ends with white space"
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		why = "it contains a control character"
	}
	if why != "" {
		return Errorf(ErrInvalid, "task name %q is not allowed: %s", name, why)
	}
	return nil
}
