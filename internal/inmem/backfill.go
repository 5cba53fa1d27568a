package inmem

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tinyhead/tinyhead/internal/sqlstore/rowcheck"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// ClaimMissing claims for owner up to n texts after the hash after that
// have no vector of model and no live claim, in hash order, as sqlstore
// does (expired claims are dropped first).
func (s *Store) ClaimMissing(ctx context.Context, model, owner, after string, n int, lease time.Duration) ([]tinyhead.PendingText, error) {
	check := rowcheck.Model(model)
	if check == nil && (owner == "" || n <= 0 || lease <= 0) {
		check = fmt.Errorf("want an owner, n > 0 and a lease > 0 (got %q, %d, %s)", owner, n, lease)
	}
	if err := s.enter(ctx, "ClaimMissing", check); err != nil {
		return nil, fmt.Errorf("claim texts missing embeddings of model %s: %w", model, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := now()
	for k, c := range s.leases {
		if k.model == model && c.until.Before(t) {
			delete(s.leases, k)
		}
	}
	texts := s.texts()
	var candidates []string
	for h := range texts {
		k := vecKey{h, model}
		_, embedded := s.vectors[k]
		_, held := s.leases[k]
		if h > after && !embedded && !held {
			candidates = append(candidates, h)
		}
	}
	slices.Sort(candidates)
	for _, h := range candidates[:min(n, len(candidates))] {
		s.leases[vecKey{h, model}] = embedClaim{owner: owner, until: t.Add(lease)}
	}
	var out []tinyhead.PendingText
	for k, c := range s.leases {
		if text, ok := texts[k.hash]; ok && k.model == model && c.owner == owner {
			out = append(out, tinyhead.PendingText{ContentHash: k.hash, Text: text})
		}
	}
	slices.SortFunc(out, func(a, b tinyhead.PendingText) int { return strings.Compare(a.ContentHash, b.ContentHash) })
	return out, nil
}

// texts maps each stored content hash to the text of its lowest document
// id. s.mu must be held.
func (s *Store) texts() map[string]string {
	out := map[string]string{}
	for _, id := range s.ids {
		d := s.byID[id]
		if _, ok := out[d.hash]; !ok {
			out[d.hash] = d.text
		}
	}
	return out
}

// PutEmbeddings stores copies of the vectors that are missing, for hashes
// a document holds, and releases owner's claims.
func (s *Store) PutEmbeddings(ctx context.Context, model, owner string, vecs []tinyhead.HashVector) (int, error) {
	if err := s.enter(ctx, "PutEmbeddings", rowcheck.Model(model)); err != nil {
		return 0, fmt.Errorf("store %d embeddings of model %s: %w", len(vecs), model, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range vecs {
		if s.putVector(model, v.ContentHash, v.Vector) {
			n++
		}
	}
	for k, c := range s.leases {
		if k.model == model && c.owner == owner {
			delete(s.leases, k)
		}
	}
	return n, nil
}

// EmbeddingProgress counts the stored texts, those with a vector of model,
// and the missing ones under a live claim.
func (s *Store) EmbeddingProgress(ctx context.Context, model string) (tinyhead.EmbeddingProgress, error) {
	var p tinyhead.EmbeddingProgress
	if err := s.enter(ctx, "EmbeddingProgress", rowcheck.Model(model)); err != nil {
		return p, fmt.Errorf("count embeddings of model %s: %w", model, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := now()
	for h := range s.holders {
		k := vecKey{h, model}
		p.Texts++
		if _, ok := s.vectors[k]; ok {
			p.Embedded++
		} else if c, ok := s.leases[k]; ok && !c.until.Before(t) {
			p.Claimed++
		}
	}
	return p, nil
}
