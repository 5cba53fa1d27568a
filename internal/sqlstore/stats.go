package sqlstore

import (
	"context"
	"fmt"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

const (
	statsDocuments = `SELECT COUNT(*) FROM documents`
	statsModels    = `SELECT e.model, COUNT(*) FROM documents AS d
		JOIN embeddings AS e ON e.content_hash = d.content_hash GROUP BY e.model`
	statsLabels = `SELECT task, label, COUNT(*) FROM labels GROUP BY task, label`
)

// Stats counts documents, those with a vector of each embedding model,
// and labels per task and label.
func (s *Store) Stats(ctx context.Context) (tinyhead.Stats, error) {
	var st tinyhead.Stats
	err := s.retry(ctx, func() error {
		var err error
		st, err = s.stats(ctx)
		return err
	})
	return st, err
}

func (s *Store) stats(ctx context.Context) (tinyhead.Stats, error) {
	st := tinyhead.Stats{ByModel: map[string]int{}, Labels: map[string]map[string]int{}}
	if err := s.db.QueryRowContext(ctx, statsDocuments).Scan(&st.Documents); err != nil {
		return tinyhead.Stats{}, fmt.Errorf("count documents: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, s.q.statsModels)
	if err != nil {
		return tinyhead.Stats{}, fmt.Errorf("count documents: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			model string
			n     int
		)
		if err := rows.Scan(&model, &n); err != nil {
			return tinyhead.Stats{}, fmt.Errorf("count documents: %w", err)
		}
		st.ByModel[model] = n
	}
	if err := rows.Err(); err != nil {
		return tinyhead.Stats{}, fmt.Errorf("count documents: %w", err)
	}
	rows.Close()

	rows, err = s.db.QueryContext(ctx, s.q.statsLabels)
	if err != nil {
		return tinyhead.Stats{}, fmt.Errorf("count labels: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			task, label string
			n           int
		)
		if err := rows.Scan(&task, &label, &n); err != nil {
			return tinyhead.Stats{}, fmt.Errorf("count labels: %w", err)
		}
		if st.Labels[task] == nil {
			st.Labels[task] = map[string]int{}
		}
		st.Labels[task][label] = n
	}
	if err := rows.Err(); err != nil {
		return tinyhead.Stats{}, fmt.Errorf("count labels: %w", err)
	}
	return st, nil
}
