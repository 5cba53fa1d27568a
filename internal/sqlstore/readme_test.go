package sqlstore

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/testenv"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// readmeQuery is the SQL block that follows marker in the README.
func readmeQuery(t *testing.T, marker string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(raw), marker)
	if !ok {
		t.Fatalf("README.md has no %s", marker)
	}
	_, rest, ok = strings.Cut(rest, "```sql\n")
	query, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatalf("no ```sql block after %s in README.md", marker)
	}
	return strings.TrimSuffix(strings.TrimSpace(query), ";")
}

// TestREADMEPredictionsQuery runs the README's query of the predictions
// table, as it is written there, on both dialects: every document
// predicted spam with probability ≥ 0.9, with its text.
func TestREADMEPredictionsQuery(t *testing.T) {
	query := readmeQuery(t, "<!-- predictions-query -->")
	for _, d := range dialects() {
		t.Run(d.name, func(t *testing.T) {
			s := d.open(t)
			defer s.Close()
			ctx := t.Context()
			probs := []float64{0.95, 0.5, 0.9, 0.99, 0.2}
			var docs []tinyhead.Document
			for i := range probs {
				text := fmt.Sprintf("mail %d", i)
				docs = append(docs, tinyhead.Document{Source: "incoming/mail.jsonl", Item: itoa(i), SourceVersion: "v",
					ContentHash: tinyhead.ContentHash(text), Text: text, Embeddings: map[string][]float32{"m": {1, 2}}})
			}
			if err := s.PutDocuments(ctx, docs); err != nil {
				t.Fatal(err)
			}
			var preds []tinyhead.Prediction
			for i, p := range probs {
				doc, err := s.GetDocument(ctx, "incoming/mail.jsonl", itoa(i))
				if err != nil {
					t.Fatal(err)
				}
				label := "spam"
				if i == 4 {
					label = "ham" // a ham at 0.8 (spam at 0.2) is left out
				}
				preds = append(preds, tinyhead.Prediction{DocumentID: doc.ID, Task: "spam", Version: "v1", Label: label,
					Probability: p, Margin: 2*p - 1, Probabilities: fmt.Sprintf(`{"ham":%g,"spam":%g}`, 1-p, p), ScoredAt: time.Now()})
			}
			if err := s.PutPredictions(ctx, preds); err != nil {
				t.Fatal(err)
			}
			rows, err := s.db.QueryContext(ctx, query)
			if err != nil {
				t.Fatalf("the README's query fails: %v\n%s", err, query)
			}
			defer rows.Close()
			var got []string
			for rows.Next() {
				var source, item, text string
				var p float64
				if err := rows.Scan(&source, &item, &p, &text); err != nil {
					t.Fatal(err)
				}
				got = append(got, fmt.Sprintf("%s/%s %.2f %s", source, item, p, text))
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			want := []string{"incoming/mail.jsonl/3 0.99 mail 3", "incoming/mail.jsonl/0 0.95 mail 0", "incoming/mail.jsonl/2 0.90 mail 2"}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("the README's query answers\n%v\nwant\n%v", got, want)
			}
		})
	}
}
