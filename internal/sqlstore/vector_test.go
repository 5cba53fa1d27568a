package sqlstore

import (
	"math"
	"testing"
)

func TestVectorRoundTrip(t *testing.T) {
	v := []float32{0, float32(math.Copysign(0, -1)), 1, -2.5, math.SmallestNonzeroFloat32,
		math.MaxFloat32, float32(math.Inf(-1)), math.Float32frombits(0x7fc00001)}
	b := EncodeVector(v)
	if len(b) != 4*len(v) {
		t.Fatalf("%d bytes, want %d", len(b), 4*len(v))
	}
	// Little-endian: 1.0 is 0x3f800000.
	if got := b[8:12]; got[0] != 0 || got[1] != 0 || got[2] != 0x80 || got[3] != 0x3f {
		t.Errorf("1.0 encodes as % x, want 00 00 80 3f", got)
	}
	back, err := DecodeVector(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range v {
		if math.Float32bits(back[i]) != math.Float32bits(v[i]) {
			t.Errorf("element %d: %08x, want %08x", i, math.Float32bits(back[i]), math.Float32bits(v[i]))
		}
	}
	if b := EncodeVector(nil); b == nil || len(b) != 0 {
		t.Errorf("EncodeVector(nil) = %#v, want a non-nil empty slice", b)
	}
	if _, err := DecodeVector([]byte{1, 2, 3}); err == nil {
		t.Error("DecodeVector accepted 3 bytes")
	}
	if got, err := AppendDecoded([]float32{7}, b[8:16]); err != nil || len(got) != 3 || got[0] != 7 || got[1] != 1 || got[2] != -2.5 {
		t.Errorf("AppendDecoded after 7 = %v, %v; want [7 1 -2.5]", got, err)
	}
	if got, err := DecodeVector([]byte{}); err != nil || got == nil || len(got) != 0 {
		t.Errorf("DecodeVector of no bytes = %#v, %v; want an empty vector", got, err)
	}
	if got := AppendVector([]byte{9}, []float32{1}); len(got) != 5 || got[0] != 9 {
		t.Errorf("AppendVector = % x", got)
	}
}
