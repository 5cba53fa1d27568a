// Package docparse turns one uploaded blob into the items to embed.
//
// The format is chosen by the blob name's extension (case-insensitive):
//
//   - .jsonl, .ndjson: one JSON object per line,
//     {"id": "...", "text": "...", "labels": {"<task>": "<label>"}}, and
//     optionally "group" and "split" (see Item).
//   - .csv, .tsv: a header row with a "text" column, optional "id",
//     "group" and "split" columns; every other named column is a task.
//   - anything else: one document per file: plain text, HTML, or an RFC 822
//     e-mail (.eml, or any file that starts like one).
//
// ParseLabels reads labels files (labels-only uploads) in the same two
// formats: rows that name stored documents and give them labels.
//
// Parsers stream: a JSON Lines or CSV file is never held in memory, only one
// line or record of it, bounded by Options.MaxLineBytes (a CSV record costs
// up to about three times that inside encoding/csv). The set of ids seen,
// kept to reject duplicates, is the one thing that grows with the file. A
// single-document file is read whole, up to Options.MaxFileBytes.
//
// Texts from JSON Lines and CSV are kept verbatim. Ids, task names and
// labels are trimmed of surrounding space and may be at most 256 bytes.
// Text extracted from a single document is tidied for reading: line ends
// become "\n", runs of spaces one space, runs of blank lines one blank line.
//
// A bad row is reported through the reject callback and parsing goes on, so
// the good rows of a file are always emitted. Parse itself fails only when
// the whole file is unusable (*FileError, permanent), when the context is
// cancelled, when emit fails, or when reading fails (transient).
package docparse

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Item is one text to embed.
type Item struct {
	// Row is the 1-based line of a JSON Lines file, the data row of a CSV
	// file (the header excluded: the first data row is 1), or 1 for a
	// single-document file.
	Row int
	// ID is the item id given in the file, or "" when it gives none (the
	// caller then identifies the item by Row).
	ID   string
	Text string
	// Labels maps task to label. A "" label means explicitly unlabeled (an
	// empty CSV cell). Nil when the item carries no labels.
	Labels map[string]string
	// Group names related items that validation keeps on one side of the
	// split (the "group" column or field); "" makes the item a group of its
	// own. Like ids, groups are trimmed and at most 256 bytes.
	Group string
	// Test marks a held-out test row: "split" is "test". Any other
	// non-empty split is a bad row.
	Test bool
}

// SplitTest is the one value of the "split" column or field: the row is
// held out for testing.
const SplitTest = "test"

// checkSplit reads a "split" value (trimmed): "" or SplitTest; otherwise
// the reason the row is rejected.
func checkSplit(split string) (test bool, reason string) {
	switch strings.TrimSpace(split) {
	case "":
		return false, ""
	case SplitTest:
		return true, ""
	}
	return false, fmt.Sprintf("split is %q; it must be %q or empty", split, SplitTest)
}

// checkGroup trims a "group" cell, or says why it is refused.
func checkGroup(group string) (string, string) {
	group = strings.TrimSpace(group)
	if len(group) > maxNameBytes {
		return "", fmt.Sprintf("group longer than %d bytes", maxNameBytes)
	}
	return group, ""
}

// RowError reports one row that was skipped.
type RowError struct {
	File string // the name given to Parse
	// Row numbers rows as Item.Row does. For CSV it is the data row; the
	// Reason then names the CSV line as well, since quoted fields can span
	// lines.
	Row    int
	Reason string
}

func (e RowError) Error() string {
	return fmt.Sprintf("%s row %d: %s", e.File, e.Row, e.Reason)
}

// FileError reports a file that cannot be used at all; retrying the same
// content fails the same way.
type FileError struct {
	File   string
	Reason string
}

func (e *FileError) Error() string { return e.File + ": " + e.Reason }

// Options bounds the memory one file may use. Zero values take the defaults.
type Options struct {
	// MaxTextBytes bounds the text of one item (default 1 MiB); a longer
	// text is a bad row.
	MaxTextBytes int
	// MaxLineBytes bounds one JSON Lines line or one CSV record, quoting and
	// escapes included (default 4 × MaxTextBytes, room for JSON encoders
	// that escape every non-ASCII character). A longer one is read through,
	// discarded and reported as a bad row.
	MaxLineBytes int
	// MaxFileBytes bounds a single-document file (default 32 MiB); a larger
	// one is a *FileError.
	MaxFileBytes int64
}

// Defaults for Options.
const (
	DefaultMaxTextBytes = 1 << 20
	DefaultMaxFileBytes = 32 << 20
)

// maxNameBytes bounds ids, task names and labels, which become indexed
// key columns in SQL.
const maxNameBytes = 256

func (o Options) withDefaults() Options {
	if o.MaxTextBytes <= 0 {
		o.MaxTextBytes = DefaultMaxTextBytes
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = 4 * o.MaxTextBytes
	}
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = DefaultMaxFileBytes
	}
	return o
}

// Parse streams the items of the file at path name (the blob name inside
// its container, e.g. "spam/ham/0001.eml" or "reviews.csv") from r.
//
// emit is called for each good item; if it fails, Parse stops and returns
// its error unchanged. reject is called for each bad row. Parse returns a
// *FileError when the whole file is unusable, ctx.Err() when ctx is
// cancelled, and otherwise wraps the error of a failed read (transient: the
// caller may retry). An empty file yields no items and no error.
//
// Path labels (see PathLabels) apply to single-document files only: the
// rows of a JSON Lines or CSV file carry their own labels.
func Parse(ctx context.Context, name string, r io.Reader, opt Options, emit func(Item) error, reject func(RowError)) error {
	p := &parser{ctx: ctx, name: name, opt: opt.withDefaults(), emit: emit, reject: reject}
	src := &ctxReader{ctx: ctx, r: r}
	var err error
	switch ext := strings.ToLower(path.Ext(name)); ext {
	case ".jsonl", ".ndjson":
		err = p.jsonl(src)
	case ".csv":
		err = p.csv(src, ',')
	case ".tsv":
		err = p.csv(src, '\t')
	default:
		err = p.document(src, ext)
	}
	return p.result(err)
}

// result is what Parse returns for the error a format's parser returned:
// emit's error unchanged, the context's, a *FileError, or a read error.
func (p *parser) result(err error) error {
	if err == nil {
		return nil
	}
	var ee emitError
	if errors.As(err, &ee) {
		return ee.err
	}
	if cerr := p.ctx.Err(); cerr != nil {
		return cerr
	}
	var fe *FileError
	if errors.As(err, &fe) {
		return fe
	}
	var re *readError
	if errors.As(err, &re) {
		return fmt.Errorf("docparse: reading %s: %w", p.name, re.err)
	}
	return fmt.Errorf("docparse: %s: %w", p.name, err)
}

// PathLabels returns the label a blob name of exactly three non-empty
// segments, "<task>/<label>/<file>", gives its document: {task: label}.
// Other names give nil.
func PathLabels(name string) map[string]string {
	seg := strings.Split(name, "/")
	if len(seg) != 3 || seg[0] == "" || seg[1] == "" || seg[2] == "" {
		return nil
	}
	return map[string]string{seg[0]: seg[1]}
}

// parser carries the state shared by the format parsers of one file.
type parser struct {
	ctx    context.Context
	name   string
	opt    Options
	emit   func(Item) error
	reject func(RowError)
}

func (p *parser) emitItem(it Item) error {
	if err := p.ctx.Err(); err != nil {
		return err
	}
	if p.emit == nil {
		return nil
	}
	if err := p.emit(it); err != nil {
		return emitError{err}
	}
	return nil
}

func (p *parser) rejectRow(row int, reason string) {
	if p.reject != nil {
		p.reject(RowError{File: p.name, Row: row, Reason: reason})
	}
}

func (p *parser) fileError(format string, args ...any) error {
	return &FileError{File: p.name, Reason: fmt.Sprintf(format, args...)}
}

// emitError marks an error returned by the emit callback, which Parse
// returns unchanged.
type emitError struct{ err error }

func (e emitError) Error() string { return e.err.Error() }

// constError lets sentinel errors be constants.
type constError string

func (e constError) Error() string { return string(e) }

// readError marks a failed read of the blob: transient, unlike a bad file.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// ctxReader stops reading once ctx is cancelled, so that a large file is
// abandoned promptly, and marks the source's errors as read errors.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(b)
	if err != nil && err != io.EOF {
		err = &readError{err}
	}
	return n, err
}

const bufSize = 64 << 10

// openText buffers r past a byte-order mark: a UTF-8 BOM is dropped, and
// UTF-16 (as Windows tools write "Unicode" text) is transcoded to UTF-8.
func openText(r io.Reader) (*bufio.Reader, error) {
	br := bufio.NewReaderSize(r, bufSize)
	head, err := br.Peek(3)
	if err != nil && err != io.EOF {
		return nil, err
	}
	switch {
	case bytes.HasPrefix(head, []byte("\xef\xbb\xbf")):
		br.Discard(3)
	case bytes.HasPrefix(head, []byte("\xff\xfe")), bytes.HasPrefix(head, []byte("\xfe\xff")):
		dec := unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder()
		return bufio.NewReaderSize(transform.NewReader(br, dec), bufSize), nil
	}
	return br, nil
}
