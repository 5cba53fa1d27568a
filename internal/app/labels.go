package app

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/tinyhead/tinyhead/internal/sqlstore/rowcheck"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// LabelsFunction labels stored documents: POST /api/labels/{task}.
const LabelsFunction = "Labels"

// MaxLabelEdits bounds the entries of one labels request, so that its
// transaction stays short.
const MaxLabelEdits = 10_000

// labelsRequest is the body of POST /api/labels/{task}.
type labelsRequest struct {
	Labels []struct {
		Document int64   `json:"document"`
		Label    *string `json:"label"`
	} `json:"labels"`
}

// labelResult is what one entry of a labels request did.
type labelResult struct {
	Document int64  `json:"document"`
	Label    string `json:"label"`
	// Status is "set" (the label was added or replaced), "removed",
	// "unchanged" (the document had that label, or none to remove) or
	// "unknown" (no document has that id; nothing was written for it).
	Status string `json:"status"`
}

// labelsAnswer is the answer of POST /api/labels/{task}: a count per
// status and one result per entry, in the request's order.
type labelsAnswer struct {
	Task      string        `json:"task"`
	Set       int           `json:"set"`
	Removed   int           `json:"removed"`
	Unchanged int           `json:"unchanged"`
	Unknown   int           `json:"unknown"`
	Results   []labelResult `json:"results"`
}

// labels: POST /api/labels/{task} with {"labels": [{"document": id,
// "label": "…"}, …]} sets (or with "" removes) the task's label of stored
// documents, all entries in one transaction. An unknown document is
// reported in its entry, and the others are applied (200); a bad entry
// (no label, a label over the size limit, a document id that is not
// positive) fails the request with 400, and nothing is written.
func (a *App) labels(w http.ResponseWriter, r *http.Request) {
	var req labelsRequest
	task, ok := a.apiRequest(w, r, LabelsFunction, &req)
	if !ok {
		return
	}
	edits, err := labelEdits(task, req)
	if err != nil {
		a.apiFail(w, LabelsFunction, task, err)
		return
	}
	res, err := a.Labels.SetLabels(r.Context(), "", "", edits)
	if err != nil {
		a.apiFail(w, LabelsFunction, task, err)
		return
	}
	ans := labelsAnswer{Task: task, Results: make([]labelResult, len(edits))}
	var unknown []string
	for i, e := range edits {
		lr := labelResult{Document: e.Doc.ID, Label: rowcheck.Label(e.Label)}
		switch {
		case res[i].Documents == 0:
			lr.Status = "unknown"
			ans.Unknown++
			unknown = append(unknown, fmt.Sprint(e.Doc.ID))
		case res[i].Changed == 0:
			lr.Status = "unchanged"
			ans.Unchanged++
		case lr.Label == "":
			lr.Status = "removed"
			ans.Removed++
		default:
			lr.Status = "set"
			ans.Set++
		}
		ans.Results[i] = lr
	}
	line := fmt.Sprintf("labels of %s: %d set, %d removed, %d unchanged, %d unknown documents",
		task, ans.Set, ans.Removed, ans.Unchanged, ans.Unknown)
	if len(unknown) > 0 {
		line += " (ids " + strings.Join(unknown[:min(len(unknown), 20)], ", ")
		if len(unknown) > 20 {
			line += ", …"
		}
		line += ")"
	}
	respond(w, http.StatusOK, ans, line)
}

// labelEdits checks a labels request and turns it into edits of task.
func labelEdits(task string, req labelsRequest) ([]tinyhead.LabelEdit, error) {
	switch n := len(req.Labels); {
	case n == 0:
		return nil, tinyhead.Errorf(tinyhead.ErrInvalid, `body must be {"labels": [{"document": <id>, "label": "<label>"}, …]}`)
	case n > MaxLabelEdits:
		return nil, tinyhead.Errorf(tinyhead.ErrInvalid, "%d labels; at most %d per request", n, MaxLabelEdits)
	}
	edits := make([]tinyhead.LabelEdit, len(req.Labels))
	for i, e := range req.Labels {
		switch {
		case e.Document <= 0:
			return nil, tinyhead.Errorf(tinyhead.ErrInvalid, "labels[%d]: document must be a document id (a positive integer)", i)
		case e.Label == nil:
			return nil, tinyhead.Errorf(tinyhead.ErrInvalid, `labels[%d]: no label (give "" to remove the label)`, i)
		}
		if err := rowcheck.Task(task, *e.Label); err != nil {
			return nil, tinyhead.Errorf(tinyhead.ErrInvalid, "labels[%d]: %w", i, err)
		}
		edits[i] = tinyhead.LabelEdit{Doc: tinyhead.DocRef{ID: e.Document}, Task: task, Label: *e.Label}
	}
	return edits, nil
}
