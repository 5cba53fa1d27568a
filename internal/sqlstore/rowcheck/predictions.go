package rowcheck

import (
	"fmt"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// MaxModelVersionLen bounds a model version (predictions.version).
const MaxModelVersionLen = 128

// Predictions checks a page of predictions: one task and version, document
// ids ascending, a label and a scoring time on each.
func Predictions(preds []tinyhead.Prediction) error {
	if len(preds) == 0 {
		return nil
	}
	task, version := preds[0].Task, preds[0].Version
	if err := TaskName(task); err != nil {
		return err
	}
	if version == "" || len(version) > MaxModelVersionLen {
		return fmt.Errorf("version %q: want 1 to %d bytes", version, MaxModelVersionLen)
	}
	for i, p := range preds {
		switch {
		case p.Task != task || p.Version != version:
			return fmt.Errorf("prediction %d is of %s/%s, the page's first of %s/%s", i, p.Task, p.Version, task, version)
		case i > 0 && p.DocumentID <= preds[i-1].DocumentID:
			return fmt.Errorf("prediction %d: document ids not ascending (%d after %d)", i, p.DocumentID, preds[i-1].DocumentID)
		case p.Label == "":
			return fmt.Errorf("prediction %d: empty label", i)
		case p.ScoredAt.IsZero():
			return fmt.Errorf("prediction %d: no ScoredAt", i)
		}
		if err := checkLen("label", p.Label, MaxLabelLen); err != nil {
			return fmt.Errorf("prediction %d: %w", i, err)
		}
	}
	return nil
}
