package inmem

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}

func embed(t *testing.T, e tinyhead.Embedder, texts ...string) [][]float32 {
	t.Helper()
	vecs, err := e.Embed(t.Context(), texts)
	if err != nil {
		t.Fatalf("Embed(%q): %v", texts, err)
	}
	if len(vecs) != len(texts) {
		t.Fatalf("Embed(%d texts) = %d vectors", len(texts), len(vecs))
	}
	for i, v := range vecs {
		if len(v) != e.Dim() {
			t.Fatalf("vector %d has %d dimensions, want %d", i, len(v), e.Dim())
		}
	}
	return vecs
}

func TestEmbedder(t *testing.T) {
	e := NewEmbedder(64)
	if e.ModelID() != "inmem-hash-64" || e.Dim() != 64 {
		t.Errorf("ModelID %q, Dim %d", e.ModelID(), e.Dim())
	}
	texts := []string{
		"Free offer: win a prize now!",
		"free OFFER, win a prize now",
		"Meeting moved to Tuesday",
		"Win a free cruise",
		"!!! ???",
		"日本語 テキスト",
		"the same text",
		"the same text",
	}
	vecs := embed(t, e, texts...)
	for i, v := range vecs {
		var norm float64
		for _, x := range v {
			norm += float64(x) * float64(x)
		}
		if math.Abs(norm-1) > 1e-5 {
			t.Errorf("text %q: norm² %v, want 1", texts[i], norm)
		}
	}
	if !slices.Equal(vecs[6], vecs[7]) {
		t.Error("the same text gave two vectors")
	}
	if c := cosine(vecs[0], vecs[1]); math.Abs(c-1) > 1e-6 {
		t.Errorf("texts differing only in case and punctuation: cosine %v, want 1", c)
	}
	if c := cosine(vecs[0], vecs[3]); c <= 0 {
		t.Errorf("texts sharing words: cosine %v, want > 0", c)
	}
	// Alone or in a batch, a text has one vector.
	if alone := embed(t, e, texts[2])[0]; !slices.Equal(alone, vecs[2]) {
		t.Error("a text's vector depends on its batch")
	}
	// Components of both signs.
	var pos, neg bool
	for _, v := range vecs {
		for _, x := range v {
			pos, neg = pos || x > 0, neg || x < 0
		}
	}
	if !pos || !neg {
		t.Errorf("components positive %v, negative %v: want both", pos, neg)
	}
}

// TestEmbedderCosines checks the promised cosines over many texts: > 0
// when they share a word, ≥ 0 always.
func TestEmbedderCosines(t *testing.T) {
	for _, dim := range []int{1, 8, 64} {
		e := NewEmbedder(dim)
		var texts []string
		shared := 0
		for i := range 60 {
			texts = append(texts, fmt.Sprintf("w%d w%d w%d", i, i*7%13, i*5%17))
		}
		vecs := embed(t, e, texts...)
		for i := range vecs {
			for j := range vecs {
				c := cosine(vecs[i], vecs[j])
				if c < -1e-6 {
					t.Fatalf("dim %d: cosine(%q, %q) = %v < 0", dim, texts[i], texts[j], c)
				}
				if i != j && shareWord(texts[i], texts[j]) {
					shared++
					if c <= 0 {
						t.Fatalf("dim %d: cosine(%q, %q) = %v, want > 0", dim, texts[i], texts[j], c)
					}
				}
			}
		}
		if shared == 0 {
			t.Errorf("dim %d: no two texts share a word: the test tests nothing", dim)
		}
	}
}

func shareWord(a, b string) bool {
	for _, w := range strings.Fields(a) {
		if slices.Contains(strings.Fields(b), w) {
			return true
		}
	}
	return false
}

func TestEmbedderErrors(t *testing.T) {
	e := NewEmbedder(16)
	for _, texts := range [][]string{{""}, {"ok", " \t\n"}} {
		if v, err := e.Embed(t.Context(), texts); err == nil || v != nil {
			t.Errorf("Embed(%q) = %d vectors, %v; want an error", texts, len(v), err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := e.Embed(ctx, []string{"text"}); err != context.Canceled {
		t.Errorf("Embed with a canceled context: %v", err)
	}
	if v, err := e.Embed(t.Context(), nil); err != nil || v == nil || len(v) != 0 {
		t.Errorf("Embed(nil) = %v, %v; want no vectors", v, err)
	}
	defer func() {
		if recover() == nil {
			t.Error("NewEmbedder(0) did not panic")
		}
	}()
	NewEmbedder(0)
}
