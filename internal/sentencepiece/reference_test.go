package sentencepiece

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tinyhead/tinyhead/internal/testenv"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// refTokenizer is a literal, slow transcription of the JavaScript encode
// (string-keyed prefixes, a lattice of candidates per end position visited
// by increasing start), used as an oracle for the double array and for the
// single forward pass of Tokenizer.
type refTokenizer struct {
	pieces   []string
	scores   []float64
	ids      map[string]int32
	prefixes map[string]bool
}

func newRefTokenizer(t testing.TB, vocab []byte) *refTokenizer {
	t.Helper()
	var raw [][2]any
	if err := json.Unmarshal(vocab, &raw); err != nil {
		t.Fatal(err)
	}
	r := &refTokenizer{ids: map[string]int32{}, prefixes: map[string]bool{}}
	for i, e := range raw {
		p := e[0].(string)
		score, _ := e[1].(float64) // null reads as 0
		r.pieces = append(r.pieces, p)
		r.scores = append(r.scores, score)
		if i < reservedCount || p == "" {
			continue
		}
		r.ids[p] = int32(i)
		rs := []rune(p)
		for l := 1; l <= len(rs); l++ {
			r.prefixes[string(rs[:l])] = true
		}
	}
	return r
}

func (r *refTokenizer) encode(text string) []int32 {
	normalized := norm.NFKC.String(text)
	if normalized == "" {
		return []int32{}
	}
	syms := []rune("▁" + strings.ReplaceAll(normalized, " ", "▁"))
	n := len(syms)
	type candidate struct {
		id     int32
		length int
		score  float64
	}
	lattice := make([][]candidate, n+1)
	for i := range n {
		var matches []candidate
		for l := 1; i+l <= n; l++ {
			p := string(syms[i : i+l])
			if !r.prefixes[p] {
				break
			}
			if id, ok := r.ids[p]; ok {
				matches = append(matches, candidate{id, l, r.scores[id]})
			}
		}
		if len(matches) == 0 {
			matches = append(matches, candidate{0, 1, 0})
		}
		for _, m := range matches {
			lattice[i+m.length] = append(lattice[i+m.length], m)
		}
	}
	best := make([]float64, n+1)
	words := make([]int32, n+1)
	for end := range n + 1 {
		for _, c := range lattice[end] {
			score := c.score + best[end-c.length]
			if best[end] == 0 || score >= best[end] {
				best[end] = score
				words[end] = c.id
			}
		}
	}
	var results []int32
	for i := n; i > 0; i -= max(utf8.RuneCountInString(r.pieces[words[i]]), 1) {
		results = append(results, words[i])
	}
	merged := []int32{}
	prevUnk := false
	for _, id := range results {
		if !(prevUnk && id == 0) {
			merged = append(merged, id)
		}
		prevUnk = id == 0
	}
	slices.Reverse(merged)
	return merged
}

// randomText mixes whole pieces, their fragments and odd characters, so that
// the lattice has many overlapping candidates, ties and unknowns.
func randomText(rng *rand.Rand, pieces []string) string {
	odd := []string{" ", "  ", "\t", "\n", "ﬁ", "ａ", "é", "e\u0301", "\u00a0", "☃", "😀", "中", "\xff", "x", "y", "z"}
	var b strings.Builder
	for range rng.IntN(30) {
		switch rng.IntN(4) {
		case 0:
			b.WriteString(odd[rng.IntN(len(odd))])
		case 1:
			rs := []rune(pieces[rng.IntN(len(pieces))])
			b.WriteString(string(rs[rng.IntN(len(rs)):]))
		default:
			b.WriteString(strings.ReplaceAll(pieces[rng.IntN(len(pieces))], "▁", " "))
		}
	}
	return b.String()
}

func checkAgainstReference(t *testing.T, vocab []byte, cases int) {
	tok, err := Load(strings.NewReader(string(vocab)))
	if err != nil {
		t.Fatal(err)
	}
	ref := newRefTokenizer(t, vocab)
	var pieces []string
	for _, p := range ref.pieces[reservedCount:] {
		if p != "" {
			pieces = append(pieces, p)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range cases {
		text := randomText(rng, pieces)
		// Invalid UTF-8 is where the two may legitimately read differently
		// (norm.String vs Iter); keep the comparison to valid text.
		if !utf8.ValidString(text) {
			text = strings.ToValidUTF8(text, "\uFFFD")
		}
		if got, want := tok.Encode(text), ref.encode(text); !slices.Equal(got, want) {
			t.Fatalf("Encode(%q)\n got %v\nwant %v", text, got, want)
		}
	}
}

func TestAgainstReferenceTiny(t *testing.T) {
	// The non-BMP piece is left out: there the reference, like the JS, would
	// need UTF-16 lengths, which Tokenizer deliberately does not use.
	checkAgainstReference(t, []byte(strings.Replace(tinyVocab, `["😀",-1]`, `["yz",-1]`, 1)), 5000)
}

func TestAgainstReferenceVocab(t *testing.T) {
	vocab, err := os.ReadFile(testenv.Vocab(t))
	if err != nil {
		t.Fatal(err)
	}
	checkAgainstReference(t, vocab, 3000)
}

func FuzzEncode(f *testing.F) {
	vocab := []byte(strings.Replace(tinyVocab, `["😀",-1]`, `["yz",-1]`, 1))
	tok, err := Load(strings.NewReader(string(vocab)))
	if err != nil {
		f.Fatal(err)
	}
	ref := newRefTokenizer(f, vocab)
	for _, s := range []string{"", " ", "ab cd", "xy z", "ａｂ\tﬁ", "e\u0301e", "qq☃😀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if !utf8.ValidString(text) {
			t.Skip()
		}
		if got, want := tok.Encode(text), ref.encode(text); !slices.Equal(got, want) {
			t.Fatalf("Encode(%q)\n got %v\nwant %v", text, got, want)
		}
	})
}
