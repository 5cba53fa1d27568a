package embedwin

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func seq(from, to int) []int32 {
	var s []int32
	for i := from; i < to; i++ {
		s = append(s, int32(i))
	}
	return s
}

func TestSplit(t *testing.T) {
	tests := []struct {
		name   string
		w      Window
		tokens int
		want   [][]int32
	}{
		{"clipped", Window{}, 10, [][]int32{seq(0, 4)}},
		{"clipped short", Window{}, 3, [][]int32{seq(0, 3)}},
		{"one window", Window{Tokens: 4, Overlap: 1}, 4, [][]int32{seq(0, 4)}},
		{"short text", Window{Tokens: 4, Overlap: 1}, 2, [][]int32{seq(0, 2)}},
		{"overlap", Window{Tokens: 4, Overlap: 1}, 10, [][]int32{seq(0, 4), seq(3, 7), seq(6, 10)}},
		{"last window short", Window{Tokens: 4, Overlap: 1}, 11, [][]int32{seq(0, 4), seq(3, 7), seq(6, 10), seq(9, 11)}},
		{"no overlap", Window{Tokens: 4}, 9, [][]int32{seq(0, 4), seq(4, 8), seq(8, 9)}},
		{"capped: head and tail", Window{Tokens: 2, Max: 3}, 12, [][]int32{seq(0, 2), seq(2, 4), seq(10, 12)}},
		{"capped even", Window{Tokens: 2, Max: 2}, 12, [][]int32{seq(0, 2), seq(10, 12)}},
		{"cap 1 is the head", Window{Tokens: 2, Max: 1}, 12, [][]int32{seq(0, 2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.w.Split(seq(0, tt.tokens), 4)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Split(%d tokens) = %v, want %v", tt.tokens, got, tt.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in     string
		want   Window
		suffix string
		fail   bool
	}{
		{in: "", want: Window{}},
		{in: "off", want: Window{}},
		{in: "128", want: Window{Tokens: 128}, suffix: "@win128o0x8"},
		{in: "128o32", want: Window{Tokens: 128, Overlap: 32}, suffix: "@win128o32x8"},
		{in: "128o32x4", want: Window{Tokens: 128, Overlap: 32, Max: 4}, suffix: "@win128o32x4"},
		{in: "128x4", want: Window{Tokens: 128, Max: 4}, suffix: "@win128o0x4"},
		{in: "0", fail: true},
		{in: "128o", fail: true},
		{in: "on", fail: true},
		{in: "-1", fail: true},
	}
	for _, tt := range tests {
		w, err := Parse(tt.in)
		if (err != nil) != tt.fail {
			t.Errorf("Parse(%q) error = %v, want failure %v", tt.in, err, tt.fail)
			continue
		}
		if tt.fail {
			continue
		}
		if w != tt.want || w.Suffix() != tt.suffix {
			t.Errorf("Parse(%q) = %+v (suffix %q), want %+v (%q)", tt.in, w, w.Suffix(), tt.want, tt.suffix)
		}
		if back, err := Parse(w.String()); err != nil || back.Suffix() != w.Suffix() {
			t.Errorf("Parse(%q.String() = %q) = %+v, %v", tt.in, w.String(), back, err)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, w := range []Window{{Tokens: 129}, {Tokens: 8, Overlap: 8}, {Tokens: 8, Overlap: -1}, {Overlap: 2}, {Tokens: 8, Max: -1}} {
		if err := w.Validate(128); err == nil {
			t.Errorf("Validate(%+v) accepted it", w)
		}
	}
	for _, w := range []Window{{}, {Tokens: 128, Overlap: 127, Max: 1}} {
		if err := w.Validate(128); err != nil {
			t.Errorf("Validate(%+v): %v", w, err)
		}
	}
}

// TestRunPools: each text's vector is the mean of its windows' vectors,
// whatever the batching, here with a "model" whose vector of a window is
// (first token, length).
func TestRunPools(t *testing.T) {
	var runs [][]int
	m := Model{
		ID: "toy", Dim: 2, MaxTokens: 4, Batch: 2, Window: Window{Tokens: 4, Overlap: 2},
		Tokenize: func(text string) []int32 {
			var ids []int32
			for _, f := range strings.Fields(text) {
				var n int32
				fmt.Sscan(f, &n)
				ids = append(ids, n)
			}
			return ids
		},
		Run: func(windows [][]int32) ([]float32, error) {
			var out []float32
			var lens []int
			for _, w := range windows {
				out = append(out, float32(w[0]), float32(len(w)))
				lens = append(lens, len(w))
			}
			runs = append(runs, lens)
			return out, nil
		},
	}
	// "1 … 8": windows 1-4, 3-6, 5-8 → mean first token 3, length 4.
	// "9": one window → 9, 1.  "1 … 5": windows 1-4, 3-5 → 2, 3.5.
	got, st, err := Run(context.Background(), m, []string{"1 2 3 4 5 6 7 8", "9", "1 2 3 4 5"})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]float32{{3, 4}, {9, 1}, {2, 3.5}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Run = %v, want %v", got, want)
	}
	if st.Windows != 6 || st.Texts != 3 || st.Tokens != 1+3+4*4 {
		t.Errorf("stats %+v", st)
	}
	for _, lens := range runs {
		if len(lens) > 2 || !slices.IsSorted(lens) {
			t.Errorf("runs %v: want at most 2 windows each, sorted by length", runs)
		}
	}
	if _, _, err := Run(context.Background(), m, []string{"1", " "}); err == nil || !strings.Contains(err.Error(), "text 1 is empty") {
		t.Errorf("empty text: error %v", err)
	}
	m.Normalize = true
	got, _, err = Run(context.Background(), m, []string{"3 4 0 0"})
	if err != nil || fmt.Sprint(got) != fmt.Sprint([][]float32{{0.6, 0.8}}) {
		t.Errorf("normalized: %v, %v", got, err)
	}
}
