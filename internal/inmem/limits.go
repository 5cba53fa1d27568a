package inmem

import (
	"fmt"
	"strings"
	"unicode/utf16"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// Store validates what it is given as sqlstore does (internal/sqlstore's
// limits.go), so that a row the fake accepts is one SQLite and SQL Server
// accept too. Sizes count UTF-16 code units, as NVARCHAR(n) does.
const (
	// maxSourceLen fits "<container>/<name>" for any blob: a container name
	// has at most 63 characters and a blob name at most 1,024, each of which
	// may take two UTF-16 code units.
	maxSourceLen  = 2 * (63 + 1 + 1024)
	maxItemLen    = 1024
	maxVersionLen = 256
	maxHashLen    = 64
	maxModelLen   = 256
	maxTaskLen    = 256
	maxLabelLen   = 1024
)

func utf16Len(s string) int {
	n := 0
	for _, r := range s { // invalid UTF-8 yields U+FFFD: one unit
		n += utf16.RuneLen(r)
	}
	return n
}

func checkLen(what, s string, max int) error {
	if n := utf16Len(s); n > max {
		return fmt.Errorf("%s is %d UTF-16 code units long, at most %d are allowed", what, n, max)
	}
	return nil
}

func checkKey(source, item string) error {
	if source == "" {
		return fmt.Errorf("empty source")
	}
	if err := checkLen("source", source, maxSourceLen); err != nil {
		return err
	}
	return checkLen("item", item, maxItemLen)
}

// checkNoTrailingSpace rejects what SQL Server would take for the same
// text without the space.
func checkNoTrailingSpace(what, s string) error {
	if strings.HasSuffix(s, " ") {
		return fmt.Errorf("%s %q ends with a space", what, s)
	}
	return nil
}

// checkTaskName rejects empty, over-long and untrimmed task names, as
// sqlstore does.
func checkTaskName(task string) error {
	if task == "" {
		return fmt.Errorf("empty task name")
	}
	if strings.TrimSpace(task) != task {
		return fmt.Errorf("task name %q begins or ends with white space", task)
	}
	return checkLen("task", task, maxTaskLen)
}

func checkTask(task, label string) error {
	if err := checkTaskName(task); err != nil {
		return err
	}
	return checkLen("label", label, maxLabelLen)
}

// normLabel is how a label is stored, as in sqlstore: trimmed of
// surrounding white space; white space only becomes "", which removes it.
func normLabel(label string) string { return strings.TrimSpace(label) }

func checkIngestKey(source, etag string) error {
	if err := checkKey(source, ""); err != nil {
		return err
	}
	if etag == "" {
		return fmt.Errorf("empty etag")
	}
	if err := checkNoTrailingSpace("etag", etag); err != nil {
		return err
	}
	return checkLen("etag", etag, maxVersionLen)
}

// checkDocument validates d and fills in its content hash when missing.
func checkDocument(d *tinyhead.Document) error {
	if err := checkKey(d.Source, d.Item); err != nil {
		return err
	}
	if d.ContentHash == "" {
		d.ContentHash = tinyhead.ContentHash(d.Text)
	}
	for _, c := range []struct {
		what string
		s    string
		max  int
	}{
		{"source version", d.SourceVersion, maxVersionLen},
		{"content hash", d.ContentHash, maxHashLen},
		{"embedding model", d.EmbeddingModel, maxModelLen},
	} {
		if err := checkLen(c.what, c.s, c.max); err != nil {
			return err
		}
	}
	for task, label := range d.Labels {
		if err := checkTask(task, label); err != nil {
			return err
		}
	}
	return nil
}
