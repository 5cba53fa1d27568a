// Package sentencepiece is a Go port of the SentencePiece-unigram tokenizer
// that ships with Universal Sentence Encoder Lite in TensorFlow.js
// (npm @energetic-ai/embeddings 0.2.0, itself taken from
// @tensorflow-models/universal-sentence-encoder). The model was trained on
// the ids this tokenizer produces, so the port reproduces the JavaScript
// output exactly, quirks included, rather than the reference SentencePiece
// library:
//
//   - the input is NFKC-normalised, prefixed with "▁" and every U+0020 is
//     replaced by "▁" (tabs, newlines and other spaces are kept as they are);
//   - pieces from index 6 on are candidates; a position where no piece
//     starts yields the unknown id 0 covering one code point, with score 0;
//   - a lattice position's best score is replaced when it is still exactly 0
//     or when the new score is >= the old one, candidates being visited by
//     increasing start position, so ties go to the later start;
//   - a position that no piece ends at keeps id 0, and the backward pass
//     may step onto it, emitting an unknown;
//   - a score that is null in vocab.json counts as 0 (JavaScript null + x);
//     the published vocabulary has such nulls, and a score of +30, for some
//     pieces containing ':';
//   - a piece listed twice keeps the later index and score;
//   - consecutive unknown ids are merged into one.
//
// Positions are Unicode code points, as JavaScript's for..of over a string.
//
// Known divergences, none reachable with ordinary text and this vocabulary:
// Go's NFKC tables may be of an older Unicode version than Node's ICU (Go
// 1.26 with x/text 0.44: 15.0 against 17.0, so e.g. U+1CCF1 is mapped to "1"
// only by Node); Go's norm inserts U+034F after 30 consecutive combining
// marks; invalid UTF-8 reads as U+FFFD; the backward pass counts code
// points, not UTF-16 units (see Tokenizer.pieceLen).
//
// The tokenizer does not clip: USE-lite reads only the first 128 ids of a
// text (checked against TF.js), so callers may drop the rest.
package sentencepiece

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// reservedCount is the number of leading vocabulary entries (unknown,
// <s>, </s>, extra ids) that are never matched against text.
const reservedCount = 6

// wordBoundary replaces spaces and starts every non-empty input.
const wordBoundary = '▁'

// maxPooledRunes bounds the scratch buffers kept for reuse, so that one huge
// input does not pin its buffers in the pool forever.
const maxPooledRunes = 1 << 16

// Tokenizer encodes text into vocabulary ids. It is safe for concurrent use.
type Tokenizer struct {
	trie   doubleArray
	scores []float64 // by id
	// pieceLen is the length in code points of each piece, used by the
	// backward pass. The JavaScript uses the string's .length, in UTF-16
	// units; the two differ only for pieces outside the BMP, and the USE-lite
	// vocabulary has none.
	pieceLen []int32
	// runeCode maps a code point to its trie alphabet code, 0 meaning that
	// no piece contains it. Code points past the table use bigCode.
	runeCode []uint16
	bigCode  map[rune]uint16

	pool sync.Pool // of *scratch
}

// scratch holds the per-call buffers.
type scratch struct {
	iter  norm.Iter
	buf   []byte    // NFKC output for the part of the text that needs it
	codes []uint16  // alphabet code of each code point, prefix included
	best  []float64 // best path score ending at each position
	words []int32   // last piece id of that path
	rev   []int32   // ids from the backward pass, last first
}

// LoadFile reads a vocab.json file; see Load.
func LoadFile(path string) (*Tokenizer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := Load(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Load reads a vocabulary in the TF.js vocab.json format: a JSON array of
// [piece, score] pairs, the index of a pair being its id.
func Load(r io.Reader) (*Tokenizer, error) {
	var raw [][]json.RawMessage
	if err := json.NewDecoder(r).Decode(&raw); err != nil {
		return nil, fmt.Errorf("sentencepiece: decoding vocabulary: %w", err)
	}
	pieces := make([]string, len(raw))
	scores := make([]float64, len(raw))
	for i, e := range raw {
		if len(e) != 2 {
			return nil, fmt.Errorf("sentencepiece: vocabulary entry %d: want [piece, score], got %d elements", i, len(e))
		}
		if err := json.Unmarshal(e[0], &pieces[i]); err != nil {
			return nil, fmt.Errorf("sentencepiece: vocabulary entry %d: piece: %w", i, err)
		}
		// The published vocab.json has null scores for a few pieces
		// containing ':'; JavaScript adds null as 0, and so do we.
		if !bytes.Equal(bytes.TrimSpace(e[1]), []byte("null")) {
			if err := json.Unmarshal(e[1], &scores[i]); err != nil {
				return nil, fmt.Errorf("sentencepiece: vocabulary entry %d: score: %w", i, err)
			}
		}
	}
	return newTokenizer(pieces, scores)
}

func newTokenizer(pieces []string, scores []float64) (*Tokenizer, error) {
	if len(pieces) == 0 {
		return nil, errors.New("sentencepiece: empty vocabulary")
	}
	if len(pieces) > 1<<31-1 {
		return nil, errors.New("sentencepiece: vocabulary too large")
	}
	t := &Tokenizer{
		scores:   scores,
		pieceLen: make([]int32, len(pieces)),
	}
	for i, p := range pieces {
		n := utf8.RuneCountInString(p)
		if n == 0 {
			// JavaScript would loop forever on an empty unknown piece;
			// stepping one position is the only sensible reading.
			n = 1
		}
		t.pieceLen[i] = int32(n)
	}

	// Number the alphabet in order of first use; only matchable pieces count.
	codes := make(map[rune]uint16)
	maxRune := rune(wordBoundary)
	for _, p := range pieces[min(reservedCount, len(pieces)):] {
		for _, r := range p {
			if _, ok := codes[r]; !ok {
				if len(codes) == 1<<16-1 {
					return nil, errors.New("sentencepiece: more than 65535 distinct characters in vocabulary")
				}
				codes[r] = uint16(len(codes) + 1)
				maxRune = max(maxRune, r)
			}
		}
	}
	// A dense table covers the BMP part of the alphabet; the rare rest, if
	// any, goes through a read-only map.
	t.runeCode = make([]uint16, min(maxRune, 0xFFFF)+1)
	for r, c := range codes {
		if int(r) < len(t.runeCode) {
			t.runeCode[r] = c
		} else {
			if t.bigCode == nil {
				t.bigCode = make(map[rune]uint16)
			}
			t.bigCode[r] = c
		}
	}
	// Spaces become "▁" before matching, so they share its code.
	t.runeCode[' '] = codes[wordBoundary]

	var b trieBuilder
	b.init()
	word := make([]uint16, 0, 32)
	for id := reservedCount; id < len(pieces); id++ {
		word = word[:0]
		for _, r := range pieces[id] {
			word = append(word, codes[r])
		}
		b.insert(word, int32(id)) // later duplicates overwrite, as in the JS
	}
	t.trie = b.build(len(codes))
	t.pool.New = func() any { return new(scratch) }
	return t, nil
}

// VocabSize returns the number of vocabulary entries, reserved ones included.
func (t *Tokenizer) VocabSize() int { return len(t.scores) }

// MaxPieceLen returns the length in code points of the longest piece that
// text can match: apart from a merged run of unknown code points, no id
// covers more, so the first n ids of a text lie within its first
// n × MaxPieceLen code points (its leading "▁" included). Callers that
// keep only the first n ids can clip the text there first, which bounds
// the tokenizer's work and memory (about 14 bytes per code point).
func (t *Tokenizer) MaxPieceLen() int {
	n := 1
	for _, l := range t.pieceLen[min(reservedCount, len(t.pieceLen)):] {
		n = max(n, int(l))
	}
	return n
}

// Encode returns the ids of text. Invalid UTF-8 bytes are read as U+FFFD,
// which is unknown.
func (t *Tokenizer) Encode(text string) []int32 {
	s := t.encode(text)
	ids := t.appendIDs(make([]int32, 0, len(s.rev)), s)
	t.release(s)
	return ids
}

// AppendEncode appends the ids of text to dst and returns the extended
// slice. It allocates nothing when dst has room.
func (t *Tokenizer) AppendEncode(dst []int32, text string) []int32 {
	s := t.encode(text)
	dst = t.appendIDs(dst, s)
	t.release(s)
	return dst
}

func (t *Tokenizer) release(s *scratch) {
	if cap(s.codes) <= maxPooledRunes {
		t.pool.Put(s)
	}
}

// appendIDs appends the ids of s.rev in text order, merging runs of unknowns.
func (t *Tokenizer) appendIDs(dst []int32, s *scratch) []int32 {
	prevUnk := false
	for i := len(s.rev) - 1; i >= 0; i-- {
		id := s.rev[i]
		if id == 0 && prevUnk {
			continue
		}
		prevUnk = id == 0
		dst = append(dst, id)
	}
	return dst
}

// encode runs normalisation, the Viterbi forward pass and the backward pass,
// leaving the ids, last first, in the returned scratch's rev.
func (t *Tokenizer) encode(text string) *scratch {
	s := t.pool.Get().(*scratch)
	s.codes = t.appendCodes(s, text)
	n := len(s.codes)
	s.best = resize(s.best, n+1)
	s.words = resize(s.words, n+1)
	clear(s.best)
	clear(s.words)
	best, words, codes := s.best, s.words, s.codes
	nodes, scores := t.trie.nodes, t.scores

	// Relaxing every piece from each start position in increasing order
	// visits the candidates of each end position in the same order as the
	// JavaScript's pass over end positions, and best[i] is final once all
	// starts before i are done, so the results are identical.
	for i := 0; i < n; i++ {
		bi := best[i]
		matched := false
		node := int32(0)
		for j := i; j < n; j++ {
			c := codes[j]
			if c == 0 {
				break
			}
			next := nodes[node].base + int32(c)
			if uint(next) >= uint(len(nodes)) || nodes[next].check != node {
				break
			}
			node = next
			id := nodes[node].id
			if id < 0 {
				continue
			}
			matched = true
			score := scores[id] + bi
			if e := j + 1; best[e] == 0 || score >= best[e] {
				best[e] = score
				words[e] = id
			}
		}
		if !matched {
			// Unknown: one code point, id 0, score 0.
			if e := i + 1; best[e] == 0 || bi >= best[e] {
				best[e] = bi
				words[e] = 0
			}
		}
	}

	s.rev = s.rev[:0]
	for i := n; i > 0; {
		id := words[i]
		s.rev = append(s.rev, id)
		i -= int(t.pieceLen[id])
	}
	return s
}

// appendCodes normalises text and returns the alphabet codes of its code
// points with the leading "▁", reusing s.codes.
func (t *Tokenizer) appendCodes(s *scratch, text string) []uint16 {
	codes := s.codes[:0]
	if text == "" {
		return codes
	}
	codes = append(codes, t.runeCode[wordBoundary])
	if isASCII(text) {
		// ASCII is invariant under NFKC.
		for i := 0; i < len(text); i++ {
			codes = append(codes, t.code(rune(text[i])))
		}
		return codes
	}
	// Most text is already in NFKC: only the part after the longest
	// quick-checked prefix goes through the normaliser. norm.Iter lives in
	// the scratch because Form.AppendString allocates its buffer each call.
	// Go's norm follows the Stream-Safe Text Format and inserts U+034F after
	// 30 consecutive non-starters, which ICU does not; only pathological
	// input is affected.
	n := norm.NFKC.QuickSpanString(text)
	for _, r := range text[:n] {
		codes = append(codes, t.code(r))
	}
	if n == len(text) {
		return codes
	}
	s.buf = s.buf[:0]
	s.iter.InitString(norm.NFKC, text[n:])
	for !s.iter.Done() {
		s.buf = append(s.buf, s.iter.Next()...)
	}
	for _, r := range string(s.buf) { // ranges in place, no copy
		codes = append(codes, t.code(r))
	}
	return codes
}

func (t *Tokenizer) code(r rune) uint16 {
	if uint32(r) < uint32(len(t.runeCode)) {
		return t.runeCode[r]
	}
	if t.bigCode != nil {
		return t.bigCode[r]
	}
	return 0
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// resize returns b with length n, reallocating only when it lacks capacity.
func resize[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n, n+n/4)
	}
	return b[:n]
}
