package tinyhead

import (
	"context"
	"fmt"
)

// DocRef names stored documents by one of three identifiers, tried in
// this order: ID (when not 0); Source and Item (when Source is not "");
// ContentHash, which names every document of that text embedded by Model
// (identical texts in several files are one text to a classifier).
type DocRef struct {
	ID          int64
	Source      string
	Item        string
	ContentHash string
	Model       string
}

// LabelEdit sets one task's label on the documents Doc names, or with
// Label "" removes it.
type LabelEdit struct {
	Doc   DocRef
	Task  string
	Label string
}

// LabelResult is what one LabelEdit did.
type LabelResult struct {
	// Documents is how many stored documents the reference named; 0 means
	// none is stored and the edit did nothing.
	Documents int
	// Changed counts those of them whose label was set, replaced or
	// removed (not those that already had it).
	Changed int
}

// Labeler sets labels on stored documents without their texts.
type Labeler interface {
	// SetLabels applies edits in order, in one transaction, without
	// re-embedding anything, and returns what each did. Labels are stored
	// trimmed, as PutDocuments stores them. An unchanged label keeps its
	// time stamp; a changed one is stamped now, so that the task's
	// TaskSummary.LastChange moves (a removal changes its row count). An
	// invalid task or label fails the call and writes nothing. When source
	// is not "", the edits come from that version of a labels file: like
	// PutDocuments, nothing is written and the error wraps ErrSuperseded
	// once another version of source is claimed.
	SetLabels(ctx context.Context, source, version string, edits []LabelEdit) ([]LabelResult, error)
}

// SetLabel is Store.SetLabel in terms of Labeler.SetLabels: one task's
// label of the document (source, item), or ErrNotFound.
func SetLabel(ctx context.Context, l Labeler, source, item, task, label string) error {
	res, err := l.SetLabels(ctx, "", "", []LabelEdit{{Doc: DocRef{Source: source, Item: item}, Task: task, Label: label}})
	if err == nil && res[0].Documents == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("set label %q of %s/%s: %w", task, source, item, err)
	}
	return nil
}
