// Package rowcheck is what every store accepts: the column sizes of the
// schema and the checks of keys, task names and labels, shared by the SQL
// stores (internal/sqlstore) and the in-memory fake (internal/inmem), so
// that a row one accepts, the others accept too.
package rowcheck

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf16"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// Column sizes. SQL Server needs bounded NVARCHAR(n) columns (n counts UTF-16
// code units); SQLite does not, but both dialects enforce the same limits so
// that a row accepted by one is accepted by the other.
const (
	// MaxSourceLen fits "<container>/<name>" for any blob: a container name
	// has at most 63 characters and a blob name at most 1,024, each of which
	// may take two UTF-16 code units.
	MaxSourceLen  = 2 * (63 + 1 + 1024)
	MaxItemLen    = 1024
	MaxVersionLen = 256 // blob ETags are about 20 characters
	MaxHashLen    = 64  // hex SHA-256
	MaxModelLen   = 256
	MaxTaskLen    = 256
	MaxLabelLen   = 1024
	MaxStatusLen  = 16
	MaxGroupLen   = 1024
)

// utf16Len counts s the way NVARCHAR(n) does.
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

// Key validates a document's (source, item) key.
func Key(source, item string) error {
	if source == "" {
		return fmt.Errorf("empty source")
	}
	if err := checkLen("source", source, MaxSourceLen); err != nil {
		return err
	}
	return checkLen("item", item, MaxItemLen)
}

// checkNoTrailingSpace rejects keys that SQL Server would take for
// another: it compares N'a' and N'a ' as equal, whatever the collation.
// (Sources and items are compared through hashes, so they are exempt.)
func checkNoTrailingSpace(what, s string) error {
	if strings.HasSuffix(s, " ") {
		return fmt.Errorf("%s %q ends with a space", what, s)
	}
	return nil
}

// TaskName rejects empty, over-long and untrimmed task names. A task
// name is an identifier (a URL path segment, a models folder): "spam " is
// refused rather than stored as "spam", since SQL Server would compare the
// two as equal and SQLite would not.
func TaskName(task string) error {
	if task == "" {
		return fmt.Errorf("empty task name")
	}
	if strings.TrimSpace(task) != task {
		return fmt.Errorf("task name %q begins or ends with white space", task)
	}
	return checkLen("task", task, MaxTaskLen)
}

// Task validates a task name and one of its labels.
func Task(task, label string) error {
	if err := TaskName(task); err != nil {
		return err
	}
	return checkLen("label", label, MaxLabelLen)
}

// Label is how a label is stored: without surrounding white space, as
// the file parsers read labels, so that "spam" and "spam " are one label
// in both dialects (SQL Server would group them together, SQLite apart). A
// label of white space only becomes "", which removes the label.
func Label(label string) string { return strings.TrimSpace(label) }

// Document validates d and fills in its content hash when missing.
func Document(d *tinyhead.Document) error {
	if err := Key(d.Source, d.Item); err != nil {
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
		{"source version", d.SourceVersion, MaxVersionLen},
		{"content hash", d.ContentHash, MaxHashLen},
		{"group", d.Group, MaxGroupLen},
	} {
		if err := checkLen(c.what, c.s, c.max); err != nil {
			return err
		}
	}
	for model := range d.Embeddings {
		if err := Model(model); err != nil {
			return err
		}
	}
	for task, label := range d.Labels {
		if err := Task(task, label); err != nil {
			return err
		}
	}
	return nil
}

// Model validates an embedding model id: not empty, within its column.
func Model(model string) error {
	if model == "" {
		return errors.New("empty embedding model id")
	}
	return checkLen("embedding model", model, MaxModelLen)
}

// IngestKey validates the key of an ingest record: a source and a
// non-empty ETag without a trailing space.
func IngestKey(source, etag string) error {
	if err := Key(source, ""); err != nil {
		return err
	}
	if etag == "" {
		return fmt.Errorf("empty etag")
	}
	if err := checkNoTrailingSpace("etag", etag); err != nil {
		return err
	}
	return checkLen("etag", etag, MaxVersionLen)
}

// Documents validates docs (Document), stores their labels as Label does,
// and folds repeated keys into one document — the last one, with the
// labels of all — so that a store sees each key once (set-based SQL
// needs that). The caller's maps are not modified.
func Documents(docs []tinyhead.Document) ([]tinyhead.Document, error) {
	type key struct{ source, item string }
	at := make(map[key]int, len(docs))
	out := make([]tinyhead.Document, 0, len(docs))
	for i, d := range docs {
		if err := Document(&d); err != nil {
			return nil, fmt.Errorf("document %d (item %q): %w", i, d.Item, err)
		}
		k := key{d.Source, d.Item}
		j, seen := at[k]
		if !seen {
			at[k] = len(out)
			d.Labels = maps.Clone(d.Labels)
			out = append(out, d)
			continue
		}
		labels := out[j].Labels
		if labels == nil {
			labels = make(map[string]string, len(d.Labels))
		}
		maps.Copy(labels, d.Labels)
		d.Labels = labels
		out[j] = d
	}
	for _, d := range out {
		for task, label := range d.Labels { // the maps are copies
			d.Labels[task] = Label(label)
		}
	}
	return out, nil
}

// Vector is the vector of model for the text with content hash Hash.
type Vector struct {
	Model, Hash string
	Vec         []float32
}

// Vectors lists the vectors that docs carry once per (model, content
// hash), sorted by model then hash: documents with the same text share
// one stored vector per model, and a fixed order makes concurrent writers
// lock the same rows in the same order.
func Vectors(docs []tinyhead.Document) []Vector {
	type key struct{ model, hash string }
	seen := map[key]bool{}
	var out []Vector
	for _, d := range docs {
		for model, vec := range d.Embeddings {
			k := key{model, d.ContentHash}
			if !seen[k] {
				seen[k] = true
				out = append(out, Vector{Model: model, Hash: d.ContentHash, Vec: vec})
			}
		}
	}
	slices.SortFunc(out, func(a, b Vector) int {
		return cmp.Or(strings.Compare(a.Model, b.Model), strings.Compare(a.Hash, b.Hash))
	})
	return out
}

// Edits validates label edits (a reference to documents, a task and a
// label) and returns them with their labels as Label stores them. The
// caller's slice is not modified.
func Edits(edits []tinyhead.LabelEdit) ([]tinyhead.LabelEdit, error) {
	out := make([]tinyhead.LabelEdit, len(edits))
	for i, e := range edits {
		err := docRef(e.Doc)
		if err == nil {
			err = Task(e.Task, e.Label)
		}
		if err != nil {
			return nil, fmt.Errorf("label edit %d: %w", i, err)
		}
		e.Label = Label(e.Label)
		out[i] = e
	}
	return out, nil
}

// docRef validates the identifier a reference names documents by (see
// tinyhead.DocRef for which one counts).
func docRef(r tinyhead.DocRef) error {
	switch {
	case r.ID != 0:
		return nil
	case r.Source != "":
		return Key(r.Source, r.Item)
	case r.ContentHash != "":
		if err := checkLen("content hash", r.ContentHash, MaxHashLen); err != nil {
			return err
		}
		return checkLen("embedding model", r.Model, MaxModelLen)
	}
	return fmt.Errorf("no document named: give an id, a source and item, or a content hash")
}
