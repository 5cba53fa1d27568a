package inmem

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/tinyhead/tinyhead/internal/sqlstore/rowcheck"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// The predictions table, as sqlstore keeps it: one prediction per task on
// each document, gone with the document.

// ScanUnscored calls fn with pages of the documents embedded by model that
// task's version has not scored since they were last written, in id
// order, with their sketches of version sketch (unless ""), without the
// store's lock held. Embeddings are overwritten with
// NaNs once fn returns (they are fn's only while it runs).
func (s *Store) ScanUnscored(ctx context.Context, task, version, model, sketch string, fn func(page []tinyhead.ScoreRow) error) error {
	if err := s.begin("ScanUnscored"); err != nil {
		return fmt.Errorf("scan unscored documents of task %s: %w", task, err)
	}
	if err := rowcheck.TaskName(task); err != nil {
		return fmt.Errorf("scan unscored documents: %w", err)
	}
	after := int64(math.MinInt64)
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("scan unscored documents of task %s after id %d: %w", task, after, err)
		}
		page := s.unscoredPage(task, version, model, sketch, after)
		if len(page) > 0 {
			if err := fn(page); err != nil {
				return err
			}
		}
		for _, r := range page {
			for i := range r.Embedding {
				r.Embedding[i] = float32(math.NaN())
			}
		}
		if len(page) < scanPageSize {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

func (s *Store) unscoredPage(task, version, model, sketch string, after int64) []tinyhead.ScoreRow {
	s.mu.Lock()
	defer s.mu.Unlock()
	var page []tinyhead.ScoreRow
	start, _ := slices.BinarySearch(s.ids, after+1)
	for _, id := range s.ids[start:] {
		if len(page) == scanPageSize {
			break
		}
		d := s.byID[id]
		if v, ok := s.vectors[vecKey{d.hash, model}]; ok && !scored(d, task, version) {
			r := tinyhead.ScoreRow{ID: id, Embedding: slices.Clone(v)}
			if k, ok := s.sketches[d.hash]; ok && sketch != "" && k.version == sketch {
				r.Sketch, r.HasSketch = slices.Clone(k.sketch), true
			}
			page = append(page, r)
		}
	}
	return page
}

// scored says whether d has a prediction of task by version made from its
// current content. s.mu must be held.
func scored(d *docRow, task, version string) bool {
	p, ok := d.preds[task]
	return ok && p.Version == version && !p.ScoredAt.Before(d.updated)
}

// CountUnscored counts what ScanUnscored would visit.
func (s *Store) CountUnscored(ctx context.Context, task, version, model string) (int, error) {
	if err := s.enter(ctx, "CountUnscored", rowcheck.TaskName(task)); err != nil {
		return 0, fmt.Errorf("count unscored documents of task %s: %w", task, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range s.byID {
		if _, ok := s.vectors[vecKey{d.hash, model}]; ok && !scored(d, task, version) {
			n++
		}
	}
	return n, nil
}

// PutPredictions replaces the task's predictions of the page's documents;
// documents that no longer exist are left out.
func (s *Store) PutPredictions(ctx context.Context, preds []tinyhead.Prediction) error {
	if len(preds) == 0 {
		return nil
	}
	if err := s.enter(ctx, "PutPredictions", rowcheck.Predictions(preds)); err != nil {
		return fmt.Errorf("write %d predictions of task %s: %w", len(preds), preds[0].Task, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range preds {
		d := s.byID[p.DocumentID]
		if d == nil {
			continue
		}
		if d.preds == nil {
			d.preds = map[string]tinyhead.Prediction{}
		}
		p.ScoredAt = p.ScoredAt.UTC().Round(0)
		d.preds[p.Task] = p
	}
	return nil
}

// DeletePredictions deletes the task's predictions of every version but
// keepVersion ("" deletes them all).
func (s *Store) DeletePredictions(ctx context.Context, task, keepVersion string) (int, error) {
	if err := s.enter(ctx, "DeletePredictions", rowcheck.TaskName(task)); err != nil {
		return 0, fmt.Errorf("delete predictions of task %s: %w", task, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range s.byID {
		if p, ok := d.preds[task]; ok && p.Version != keepVersion {
			delete(d.preds, task)
			n++
		}
	}
	return n, nil
}

// PredictionsOf returns the task's predictions of the given documents.
func (s *Store) PredictionsOf(ctx context.Context, task string, ids []int64) (map[int64]tinyhead.Prediction, error) {
	if err := s.enter(ctx, "PredictionsOf", rowcheck.TaskName(task)); err != nil {
		return nil, fmt.Errorf("read predictions of task %s: %w", task, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int64]tinyhead.Prediction, len(ids))
	for _, id := range ids {
		if d := s.byID[id]; d != nil {
			if p, ok := d.preds[task]; ok {
				out[id] = p
			}
		}
	}
	return out, nil
}

// Uncertain returns up to n unlabelled documents scored by the task's
// version, smallest margin first, ties by id.
func (s *Store) Uncertain(ctx context.Context, task, version string, n int) ([]tinyhead.Suggestion, error) {
	if err := s.enter(ctx, "Uncertain", rowcheck.TaskName(task)); err != nil {
		return nil, fmt.Errorf("suggest documents of task %s: %w", task, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []tinyhead.Suggestion
	for _, id := range s.ids {
		d := s.byID[id]
		p, ok := d.preds[task]
		if _, labelled := d.labels[task]; !ok || labelled || p.Version != version {
			continue
		}
		out = append(out, tinyhead.Suggestion{Prediction: p, Source: d.source, Item: d.item, Text: d.text})
	}
	slices.SortStableFunc(out, func(a, b tinyhead.Suggestion) int {
		if a.Margin != b.Margin {
			if a.Margin < b.Margin {
				return -1
			}
			return 1
		}
		return 0
	})
	return out[:min(len(out), max(n, 0))], nil
}
