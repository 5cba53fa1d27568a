// Package sketch is tinyhead's lexical featurizer: a compact sparse vector
// of a text's words and word bigrams, stored with every document at ingest
// and computed again by Classify, so that a classifier can see exact words
// (names, codes, list headers) that a sentence embedding blurs.
//
// The featurization is fixed, and documented here because ingest, backfill
// and Classify must agree to the bit:
//
//   - Tokens: maximal runs of Unicode letters and digits (unicode.IsLetter,
//     unicode.IsDigit) after Unicode lower-casing (unicode.ToLower, rune by
//     rune); everything else separates tokens. The whole text is read, not
//     a prefix.
//   - Features: every token ("w:" + token) and every pair of adjacent
//     tokens ("b:" + first + " " + second).
//   - Index: the FNV-1a 32-bit hash of the feature's UTF-8 bytes (the
//     hashing trick: no vocabulary). Models fold it into their own number
//     of buckets (index mod buckets), so the stored sketch does not depend
//     on a model's size.
//   - Value: sublinear term frequency 1 + ln(tf), then the vector is scaled
//     to unit L2 norm (a text without tokens has no entries).
//
// Features whose hashes collide are one entry (their frequencies add).
// Changing any of this changes Version: stored sketches of another version
// are recomputed by the backfill.
package sketch

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"unicode"
	"unicode/utf8"
)

// Version names the featurization above; it is stored with every sketch.
const Version = "words-bigrams-fnv32-v1"

// Vector is a sparse sketch: Index strictly increasing, Value the
// matching values.
type Vector struct {
	Index []uint32
	Value []float32
}

// Len is the number of entries.
func (v Vector) Len() int { return len(v.Index) }

// Of computes the sketch of a text.
func Of(text string) Vector {
	counts := map[uint32]float64{}
	var prev string
	word := make([]byte, 0, 32)
	add := func(feature string) {
		h := fnv.New32a()
		h.Write([]byte(feature))
		counts[h.Sum32()]++
	}
	flush := func() {
		if len(word) == 0 {
			return
		}
		w := string(word)
		add("w:" + w)
		if prev != "" {
			add("b:" + prev + " " + w)
		}
		prev, word = w, word[:0]
	}
	for _, r := range text {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			word = utf8.AppendRune(word, unicode.ToLower(r))
		} else {
			flush()
		}
	}
	flush()

	v := Vector{Index: make([]uint32, 0, len(counts)), Value: make([]float32, len(counts))}
	for i := range counts {
		v.Index = append(v.Index, i)
	}
	slices.Sort(v.Index)
	var norm float64
	tf := make([]float64, len(v.Index))
	for k, i := range v.Index {
		tf[k] = 1 + math.Log(counts[i])
		norm += tf[k] * tf[k]
	}
	norm = math.Sqrt(norm)
	for k := range tf {
		v.Value[k] = float32(tf[k] / norm)
	}
	return v
}

// EntrySize is the encoded size of one entry: uint32 index, float32 value.
const EntrySize = 8

// Encode appends the sketch's compact form to b: for each entry, its index
// and its value's IEEE 754 bits, both uint32 little-endian.
func Encode(b []byte, v Vector) []byte {
	for k, i := range v.Index {
		b = binary.LittleEndian.AppendUint32(b, i)
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v.Value[k]))
	}
	return b
}

// Decode reads what Encode wrote.
func Decode(b []byte) (Vector, error) {
	var row Batch
	if err := row.AppendEncoded(b); err != nil {
		return Vector{}, err
	}
	if row.Index == nil {
		return Vector{Index: []uint32{}, Value: []float32{}}, nil
	}
	return Vector{Index: row.Index, Value: row.Value}, nil
}

// AppendEncoded adds a row from what Encode wrote, decoding it in place.
func (s *Batch) AppendEncoded(b []byte) error {
	if len(b)%EntrySize != 0 {
		return fmt.Errorf("sketch: %d bytes is not a whole number of %d-byte entries", len(b), EntrySize)
	}
	n := len(b) / EntrySize
	lo := len(s.Index)
	s.Index = slices.Grow(s.Index, n)
	s.Value = slices.Grow(s.Value, n)
	for k := range n {
		e := b[k*EntrySize:]
		i := binary.LittleEndian.Uint32(e)
		if k > 0 && i <= s.Index[lo+k-1] {
			prev := s.Index[lo+k-1]
			s.Index, s.Value = s.Index[:lo], s.Value[:lo]
			return fmt.Errorf("sketch: entry %d's index %d does not follow %d", k, i, prev)
		}
		s.Index = append(s.Index, i)
		s.Value = append(s.Value, math.Float32frombits(binary.LittleEndian.Uint32(e[4:])))
	}
	if len(s.Start) == 0 {
		s.Start = append(s.Start, 0)
	}
	s.Start = append(s.Start, len(s.Index))
	return nil
}
