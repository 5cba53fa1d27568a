package inmem

import (
	"context"
	"fmt"
	"slices"
)

// sketchRow is a stored sketch: sqlstore's sketches table.
type sketchRow struct {
	version string
	sketch  []byte
}

// PutSketches stores encoded sketches by content hash; a sketch of
// another version is replaced, one of this version kept.
func (s *Store) PutSketches(ctx context.Context, version string, sketches map[string][]byte) error {
	if err := s.enter(ctx, "PutSketches", nil); err != nil {
		return fmt.Errorf("store %d sketches: %w", len(sketches), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sketches == nil {
		s.sketches = map[string]sketchRow{}
	}
	for h, b := range sketches {
		if old, ok := s.sketches[h]; ok && old.version == version {
			continue
		}
		s.sketches[h] = sketchRow{version: version, sketch: slices.Clone(b)}
	}
	return nil
}

// SketchesByID returns copies of the sketches, of version, of the given
// documents; a document without one is absent.
func (s *Store) SketchesByID(ctx context.Context, version string, ids []int64) (map[int64][]byte, error) {
	if err := s.enter(ctx, "SketchesByID", nil); err != nil {
		return nil, fmt.Errorf("read the sketches of %d documents: %w", len(ids), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int64][]byte, len(ids))
	for _, id := range ids {
		if d := s.byID[id]; d != nil {
			if k, ok := s.sketches[d.hash]; ok && k.version == version {
				out[id] = slices.Clone(k.sketch)
			}
		}
	}
	return out, nil
}

// MissingSketches returns the texts, by content hash, of up to limit
// documents labelled for task (any document when task is ""), in id
// order, without a sketch of version.
func (s *Store) MissingSketches(ctx context.Context, task, version string, limit int) (map[string]string, error) {
	if err := s.enter(ctx, "MissingSketches", nil); err != nil {
		return nil, fmt.Errorf("find documents of task %s without a sketch: %w", task, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for _, id := range s.ids {
		if len(out) == limit {
			break
		}
		d := s.byID[id]
		if _, ok := d.labels[task]; !ok && task != "" {
			continue
		}
		if k, ok := s.sketches[d.hash]; !ok || k.version != version {
			out[d.hash] = d.text
		}
	}
	return out, nil
}
