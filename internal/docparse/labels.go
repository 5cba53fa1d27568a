package docparse

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
)

// LabelRow is one row of a labels file: the stored documents it names
// and the labels it gives them. Exactly one way of naming is set, the
// first the row gives of: Document; Source and Item; Text (every stored
// document with that text).
type LabelRow struct {
	// Row numbers rows as Item.Row does.
	Row      int
	Document int64  // a document id
	Source   string // the document's source blob, as the row gives it
	Item     string // and its item id within it
	Text     string
	// Labels maps task to label; "" removes the task's label. Never
	// empty.
	Labels map[string]string
}

// Column and field names of a labels file; "id" is the upload formats'
// name for the item id.
const (
	fieldDocument = "document"
	fieldSource   = "source"
	fieldItem     = "item"
	fieldID       = "id"
	fieldText     = "text"
)

// ParseLabels streams the rows of a labels file (a labels-only upload):
// JSON Lines (.jsonl, .ndjson), one object per line,
//
//	{"document": 12, "labels": {"<task>": "<label>"}}
//	{"source": "reviews.csv", "item": "r7", "labels": {…}}
//	{"text": "…", "labels": {…}}
//
// or CSV/TSV (.csv, .tsv) with a header row: any of the columns document,
// source, item (or id) and text, and every other named column a task. A
// row names documents by the first it gives of: document; source and item
// (item alone names nothing); text. A "" label (an empty cell, null)
// removes the task's label. A row that names nothing, gives no labels or
// has a bad field is rejected through reject, as Parse rejects rows; a
// file of another format, or a CSV header without a column that can name
// a document or without a task column, is a *FileError.
func ParseLabels(ctx context.Context, name string, r io.Reader, opt Options, emit func(LabelRow) error, reject func(RowError)) error {
	p := &parser{ctx: ctx, name: name, opt: opt.withDefaults(), reject: reject}
	emitRow := func(lr LabelRow) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := emit(lr); err != nil {
			return emitError{err}
		}
		return nil
	}
	src := &ctxReader{ctx: ctx, r: r}
	var err error
	switch ext := strings.ToLower(path.Ext(name)); ext {
	case ".jsonl", ".ndjson":
		err = p.jsonLines(src, func(row int, line []byte) error {
			lr, reason := p.jsonLabelRow(line)
			return p.labelRow(row, lr, reason, emitRow)
		})
	case ".csv", ".tsv":
		comma := ','
		if ext == ".tsv" {
			comma = '\t'
		}
		var cols csvColumns
		err = p.csvRecords(src, comma, func(header []string) error {
			var err error
			cols, err = p.labelsHeader(header)
			return err
		}, func(row, line int, rec []string) error {
			lr, reason := p.csvLabelRow(cols, rec)
			if reason != "" {
				reason = fmt.Sprintf("%s (CSV line %d)", reason, line)
			}
			return p.labelRow(row, lr, reason, emitRow)
		})
	default:
		err = p.fileError("a labels file must be CSV (.csv, .tsv) or JSON Lines (.jsonl, .ndjson), not %q", ext)
	}
	return p.result(err)
}

// labelRow emits a good row or rejects a bad one.
func (p *parser) labelRow(row int, lr LabelRow, reason string, emit func(LabelRow) error) error {
	if reason != "" {
		p.rejectRow(row, reason)
		return nil
	}
	lr.Row = row
	return emit(lr)
}

// labelsHeader reads a labels file's header row.
func (p *parser) labelsHeader(header []string) (csvColumns, error) {
	cols, err := p.csvHeader(header, fieldDocument, fieldSource, fieldItem, fieldID, fieldText)
	switch {
	case err != nil:
		return cols, err
	case cols.col(fieldItem) >= 0 && cols.col(fieldID) >= 0:
		return cols, p.fileError("both an %q and an %q column: give the item id in one", fieldItem, fieldID)
	case cols.col(fieldDocument) < 0 && cols.col(fieldText) < 0 && cols.col(fieldSource) < 0:
		return cols, p.fileError("no column names a document (document, source and item, or text); columns found: %s", quoted(header))
	case cols.col(fieldSource) >= 0 && cols.col(fieldItem) < 0 && cols.col(fieldID) < 0:
		return cols, p.fileError("a %q column needs an %q (or %q) column", fieldSource, fieldItem, fieldID)
	case len(cols.tasks) == 0:
		return cols, p.fileError("no task column: every column but document, source, item, id and text is a task; columns found: %s", quoted(header))
	}
	return cols, nil
}

// csvLabelRow checks one record of a labels file. A non-empty reason
// rejects the row.
func (p *parser) csvLabelRow(cols csvColumns, rec []string) (LabelRow, string) {
	if reason := csvFields(cols, rec); reason != "" {
		return LabelRow{}, reason
	}
	cell := func(names ...string) string {
		for _, name := range names {
			if c := cols.col(name); c >= 0 {
				return strings.TrimSpace(rec[c])
			}
		}
		return ""
	}
	var lr LabelRow
	if doc := cell(fieldDocument); doc != "" {
		id, err := strconv.ParseInt(doc, 10, 64)
		if err != nil || id <= 0 {
			return LabelRow{}, fmt.Sprintf("document %q is not a document id (a positive integer)", doc)
		}
		lr.Document = id
	}
	lr.Source, lr.Item = strings.Clone(cell(fieldSource)), strings.Clone(cell(fieldItem, fieldID))
	if c := cols.col(fieldText); c >= 0 {
		lr.Text = strings.Clone(rec[c]) // verbatim: its hash must match the stored text's
	}
	var reason string
	if lr.Labels, reason = csvLabels(cols, rec); reason != "" {
		return LabelRow{}, reason
	}
	return p.checkLabelRow(lr)
}

// jsonLabelRow decodes one non-blank line of a labels file. A non-empty
// reason rejects the row.
func (p *parser) jsonLabelRow(line []byte) (LabelRow, string) {
	fields, reason := jsonObject(line)
	if reason != "" {
		return LabelRow{}, reason
	}
	var lr LabelRow
	if raw := fields[fieldDocument]; !isNull(raw) {
		var id json.Number
		if raw[0] == '"' || json.Unmarshal(raw, &id) != nil {
			return LabelRow{}, "document is not a number"
		}
		n, err := strconv.ParseInt(id.String(), 10, 64)
		if err != nil || n <= 0 {
			return LabelRow{}, fmt.Sprintf("document %s is not a document id (a positive integer)", id)
		}
		lr.Document = n
	}
	if raw := fields[fieldSource]; !isNull(raw) {
		if raw[0] != '"' || json.Unmarshal(raw, &lr.Source) != nil {
			return LabelRow{}, "source is not a string"
		}
		lr.Source = strings.TrimSpace(lr.Source)
	}
	itemField := fieldItem
	if isNull(fields[fieldItem]) {
		itemField = fieldID
	} else if !isNull(fields[fieldID]) {
		return LabelRow{}, fmt.Sprintf("both %q and %q: give the item id in one", fieldItem, fieldID)
	}
	if lr.Item, reason = jsonID(itemField, fields[itemField]); reason != "" {
		return LabelRow{}, reason
	}
	if raw := fields[fieldText]; !isNull(raw) {
		if raw[0] != '"' || json.Unmarshal(raw, &lr.Text) != nil {
			return LabelRow{}, "text is not a string"
		}
	}
	if lr.Labels, reason = jsonLabels(fields["labels"]); reason != "" {
		return LabelRow{}, reason
	}
	return p.checkLabelRow(lr)
}

// checkLabelRow keeps the one way the row names documents (the first of
// document, source and item, text) and checks that it gives labels.
func (p *parser) checkLabelRow(lr LabelRow) (LabelRow, string) {
	if len(lr.Labels) == 0 {
		return LabelRow{}, `no labels (give {"<task>": "<label>"}; "" removes a label)`
	}
	switch {
	case lr.Document != 0:
		lr.Source, lr.Item, lr.Text = "", "", ""
	case lr.Source != "":
		if lr.Item == "" {
			return LabelRow{}, fmt.Sprintf("source %q without an item", lr.Source)
		}
		if len(lr.Source) > maxSourceBytes {
			return LabelRow{}, fmt.Sprintf("source longer than %d bytes", maxSourceBytes)
		}
		lr.Text = ""
	case strings.TrimSpace(lr.Text) != "":
		if reason := p.checkText(lr.Text); reason != "" {
			return LabelRow{}, reason
		}
		lr.Item = ""
	default:
		return LabelRow{}, "no document named: give document, source and item, or text"
	}
	return lr, ""
}

// maxSourceBytes bounds a source a labels row names: a container name,
// a slash and the longest blob name, in UTF-8.
const maxSourceBytes = 63 + 1 + 1024*4
