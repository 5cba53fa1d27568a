package sketch

import (
	"math"
	"strings"
	"testing"
)

// Pinned hashes: a change of the hash, the feature prefixes or the byte
// encoding changes them, and every stored sketch with them (Version).
const (
	hHello      = 0x9c657cb4 // "w:hello"
	hWorld      = 0x4002c20  // "w:world"
	hHelloWorld = 0xdc22b85f // "b:hello world"
	hStrasse    = 0xabfbf2cf // "w:straße"
	h2026       = 0xdef047ee // "w:2026"
)

func TestOf(t *testing.T) {
	inv3 := float32(1 / math.Sqrt(3))
	// "hello hello": tf 2 → 1+ln 2; the bigram "hello hello" once → 1.
	tfHello := 1 + math.Log(2)
	nHH := math.Sqrt(tfHello*tfHello + 1)
	for _, tt := range []struct {
		name string
		text string
		want map[uint32]float32
	}{
		{"words and bigram", "Hello, WORLD!", map[uint32]float32{hHello: inv3, hWorld: inv3, hHelloWorld: inv3}},
		{"punctuation and case separate nothing else", "hello\n\tworld", map[uint32]float32{hHello: inv3, hWorld: inv3, hHelloWorld: inv3}},
		{"unicode lower-casing", "STRAßE", map[uint32]float32{hStrasse: 1}},
		{"digits are word characters", "2026", map[uint32]float32{h2026: 1}},
		{"sublinear tf", "hello hello", map[uint32]float32{hHello: float32(tfHello / nHH), fnv32("b:hello hello"): float32(1 / nHH)}},
		{"no tokens", " ,;!? ", map[uint32]float32{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := Of(tt.text)
			if v.Len() != len(tt.want) {
				t.Fatalf("Of(%q) has %d entries %v, want %d", tt.text, v.Len(), v.Index, len(tt.want))
			}
			for k, i := range v.Index {
				want, ok := tt.want[i]
				if !ok {
					t.Fatalf("Of(%q) has unexpected index %#x", tt.text, i)
				}
				if math.Abs(float64(v.Value[k]-want)) > 1e-7 {
					t.Errorf("Of(%q)[%#x] = %g, want %g", tt.text, i, v.Value[k], want)
				}
			}
		})
	}
}

func fnv32(s string) uint32 {
	// FNV-1a 32, written out: the test pins the algorithm, not the package.
	h := uint32(2166136261)
	for _, c := range []byte(s) {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}

// TestOfProperties: sorted indices, unit norm, the whole text read (a
// word at the end of a long text is in its sketch), and the same result
// every time.
func TestOfProperties(t *testing.T) {
	text := strings.Repeat("lorem ipsum dolor sit amet ", 20000) + "needle"
	v := Of(text)
	var norm float64
	for k, i := range v.Index {
		if k > 0 && i <= v.Index[k-1] {
			t.Fatalf("index %d (%#x) does not follow %#x", k, i, v.Index[k-1])
		}
		norm += float64(v.Value[k]) * float64(v.Value[k])
	}
	if math.Abs(norm-1) > 1e-6 {
		t.Errorf("squared norm %g, want 1", norm)
	}
	found := false
	for _, i := range v.Index {
		found = found || i == fnv32("w:needle")
	}
	if !found {
		t.Error("the last word of a 540 KB text is not in its sketch")
	}
	again := Of(text)
	for k := range v.Index {
		if again.Index[k] != v.Index[k] || again.Value[k] != v.Value[k] {
			t.Fatal("two sketches of one text differ")
		}
	}
}

func TestEncodeDecode(t *testing.T) {
	v := Of("the quick brown fox jumps over the lazy dog")
	b := Encode(nil, v)
	if len(b) != 8*v.Len() {
		t.Fatalf("%d bytes for %d entries", len(b), v.Len())
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for k := range v.Index {
		if got.Index[k] != v.Index[k] || got.Value[k] != v.Value[k] {
			t.Fatalf("entry %d: %d/%g, want %d/%g", k, got.Index[k], got.Value[k], v.Index[k], v.Value[k])
		}
	}
	if e, err := Decode(nil); err != nil || e.Len() != 0 {
		t.Errorf("Decode(nil) = %v, %v", e, err)
	}
	if _, err := Decode(b[:7]); err == nil {
		t.Error("Decode of 7 bytes: no error")
	}
	unsorted := Encode(nil, Vector{Index: []uint32{9, 3}, Value: []float32{1, 1}})
	if _, err := Decode(unsorted); err == nil {
		t.Error("Decode of unsorted indices: no error")
	}
}
