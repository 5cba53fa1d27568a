package ingest

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/tinyhead/tinyhead/internal/docparse"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// LabelsDir is the folder of the incoming container whose files are
// labels-only uploads: they label documents already stored (by document
// id, by source and item, or by text) and hold no texts to embed.
const LabelsDir = "_labels/"

// IsLabelsFile reports whether the blob name (in the incoming container)
// is a labels file.
func IsLabelsFile(name string) bool { return strings.HasPrefix(name, LabelsDir) }

// runLabels applies a labels file (docparse.ParseLabels): each batch of
// rows is one SetLabels transaction, conditional on this version of the
// file being the one claimed, so that an older version never overwrites
// a newer one's labels. Nothing is embedded. A row whose document is not
// stored is rejected ("no stored document …"); the labels the file gives
// other rows are applied. A label stays when its labels file is deleted:
// it belongs to the document, whose own file is the source of truth for
// it (a new version of that file replaces the document's labels).
func (p *Pipeline) runLabels(ctx context.Context, container, name string, body io.Reader, res *Result, prog *progress) error {
	res.LabelsOnly = true
	size := p.BatchSize
	if size <= 0 {
		size = 256
	}
	model := p.Embedders.Default().ModelID() // which documents a text names; nothing is embedded
	var (
		rows  []docparse.LabelRow
		edits []tinyhead.LabelEdit
	)
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		out, err := p.Store.SetLabels(ctx, res.Source, res.ETag, edits)
		if err != nil {
			return fmt.Errorf("store labels of %s: %w", res.Source, err)
		}
		k := 0 // a row's edits are consecutive and name the same documents
		for _, r := range rows {
			found := out[k].Documents > 0
			for _, o := range out[k : k+len(r.Labels)] {
				res.LabelsChanged += o.Changed
			}
			k += len(r.Labels)
			if !found {
				p.reject(res, docparse.RowError{File: res.Source, Row: r.Row, Reason: "no stored document " + describe(r, container)})
				continue
			}
			res.RowsOK++
		}
		prog.add(len(rows))
		rows, edits = rows[:0], edits[:0]
		return nil
	}
	emit := func(r docparse.LabelRow) error {
		ref := docRef(r, container, model)
		for _, task := range slices.Sorted(maps.Keys(r.Labels)) {
			edits = append(edits, tinyhead.LabelEdit{Doc: ref, Task: task, Label: r.Labels[task]})
		}
		rows = append(rows, r)
		if len(rows) < size {
			return nil
		}
		return flush()
	}
	reject := func(re docparse.RowError) {
		re.File = res.Source
		p.reject(res, re)
	}
	if err := docparse.ParseLabels(ctx, name, body, p.Parse, emit, reject); err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	// Rows of documents not found are found at each batch's end: list
	// every rejection in row order.
	slices.SortStableFunc(res.Rejections, func(a, b docparse.RowError) int { return a.Row - b.Row })
	return nil
}

// docRef is the reference a labels row makes to stored documents. A
// source is the blob's name in the incoming container, with or without
// the container's name in front (as the documents table and the ingests
// list it).
func docRef(r docparse.LabelRow, container, model string) tinyhead.DocRef {
	switch {
	case r.Document != 0:
		return tinyhead.DocRef{ID: r.Document}
	case r.Source != "":
		return tinyhead.DocRef{Source: SourceIn(container, r.Source), Item: r.Item}
	}
	return tinyhead.DocRef{ContentHash: tinyhead.ContentHash(r.Text), Model: model}
}

// SourceIn is the source of a blob named by its name in container, with
// or without the container's name in front.
func SourceIn(container, source string) string {
	if strings.HasPrefix(source, container+"/") {
		return source
	}
	return Source(container, source)
}

// describe names the documents a labels row looks for, in a rejection.
func describe(r docparse.LabelRow, container string) string {
	switch {
	case r.Document != 0:
		return fmt.Sprintf("with id %d", r.Document)
	case r.Source != "":
		return fmt.Sprintf("%s item %q", SourceIn(container, r.Source), r.Item)
	}
	return "with this text (content hash " + tinyhead.ContentHash(r.Text)[:12] + "…)"
}
