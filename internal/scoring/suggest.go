package scoring

import (
	"context"
	"encoding/json"
	"unicode/utf8"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// Suggest bounds.
const (
	DefaultSuggestions = 50
	MaxSuggestions     = 500
	// MaxSuggestionText bounds each suggestion's text (bytes, cut at a
	// character boundary): enough to label it by, small enough for a list.
	MaxSuggestionText = 4096
)

// Suggestion is one document to label next.
type Suggestion struct {
	Document      int64           `json:"document"`
	Source        string          `json:"source"`
	Item          string          `json:"item"`
	Text          string          `json:"text"`
	Truncated     bool            `json:"truncated,omitempty"`
	Label         string          `json:"label"` // the model's guess
	Probability   float64         `json:"probability"`
	Margin        float64         `json:"margin"`
	Probabilities json.RawMessage `json:"probabilities"`
}

// Suggestions is Suggest's answer.
type Suggestions struct {
	Task      string       `json:"task"`
	Version   string       `json:"version"`
	Scoring   *Result      `json:"scoring"`
	Documents []Suggestion `json:"documents"`
}

// Suggest returns up to n stored documents without a label for the task,
// those the current model is least sure of first: the smallest margin
// (registry.Manifest.Margin: for a binary version with a threshold, the
// positive probability nearest it), each with the version's guess
// (Manifest.Decide, as batch scoring stores it). It first scores what the
// current version has not scored yet (incrementally, time-boxed), so the
// ranking covers every document scored by then.
func (s *Service) Suggest(ctx context.Context, task string, n int) (*Suggestions, error) {
	if n < 1 || n > MaxSuggestions {
		return nil, tinyhead.Errorf(tinyhead.ErrInvalid, "n must be 1 to %d, not %d", MaxSuggestions, n)
	}
	res, err := s.Score(ctx, task, Request{})
	if err != nil {
		return nil, err
	}
	found, err := s.Store.Uncertain(ctx, task, res.Version, n)
	if err != nil {
		return nil, err
	}
	out := &Suggestions{Task: task, Version: res.Version, Scoring: res, Documents: make([]Suggestion, 0, len(found))}
	for _, f := range found {
		sg := Suggestion{Document: f.DocumentID, Source: f.Source, Item: f.Item, Text: f.Text, Label: f.Label,
			Probability: f.Probability, Margin: f.Margin, Probabilities: json.RawMessage(f.Probabilities)}
		if len(sg.Text) > MaxSuggestionText {
			cut := MaxSuggestionText
			for cut > 0 && !utf8.RuneStart(sg.Text[cut]) {
				cut--
			}
			sg.Text, sg.Truncated = sg.Text[:cut], true
		}
		out.Documents = append(out.Documents, sg)
	}
	return out, nil
}
