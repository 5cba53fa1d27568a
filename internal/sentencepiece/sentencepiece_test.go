package sentencepiece

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tinyhead/tinyhead/internal/testenv"
)

// tinyVocab exercises the Viterbi and its quirks; the expected ids below
// were checked against the original JavaScript (except where noted).
const tinyVocab = `[
 ["�",0],["<s>",0],["</s>",0],["x1",0],["x2",0],["x3",0],
 ["▁",-1],["a",-2],["b",-2],["ab",-3],["▁a",-1.5],
 ["c",-1],["cd",-2],["d",-1],
 ["xy",-2],
 ["e",-5],["e",-1],
 ["z",null],["▁z",0],
 ["😀",-1]
]`

func loadTiny(t testing.TB) *Tokenizer {
	t.Helper()
	tok, err := Load(strings.NewReader(tinyVocab))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTinyVocabulary(t *testing.T) {
	tok := loadTiny(t)
	if got := tok.VocabSize(); got != 20 {
		t.Errorf("VocabSize() = %d, want 20", got)
	}
	tests := []struct {
		name, text string
		want       []int32
	}{
		{"empty", "", []int32{}},
		{"space is two boundaries", " ", []int32{6, 6}},
		{"prefix piece", "a", []int32{10}},
		{"best path", "ab", []int32{10, 8}}, // ▁a+b -3.5 beats ▁+ab -4
		{"words", "a a", []int32{10, 10}},
		{"tie goes to later start", "cd", []int32{6, 11, 13}}, // c+d == cd
		{"unknowns merged", "qq", []int32{6, 0}},
		{"unknowns apart", "qaq", []int32{6, 0, 7, 0}},
		// "x" only starts "xy"; "y" alone is unknown with score 0, which
		// beats "xy", and the unreached position before it reads as id 0.
		{"unreached position", "xy", []int32{6, 0}},
		{"reserved pieces never match", "<s>", []int32{6, 0}},
		{"duplicate piece keeps later id", "e", []int32{6, 16}},
		// "▁z" sums to exactly 0, so the worse "▁"+"z" replaces it.
		{"zero best is replaced", "z", []int32{6, 17}},
		{"tab is unknown", "a\tb", []int32{10, 0, 8}},
		{"nfkc ligature", "ﬁ", []int32{6, 0}},
		{"nfkc full width", "ａｂ", []int32{10, 8}},
		{"unknown non-BMP", "☃ ☃", []int32{6, 0, 6, 0}},
		// Pieces outside the BMP: JavaScript steps back by UTF-16 length and
		// gives [19], [6 19] and [6 19 0 8]; we count code points.
		{"non-BMP piece", "😀", []int32{6, 19}},
		{"non-BMP pieces", "😀😀", []int32{6, 19, 19}},
		{"non-BMP mixed", "a😀☃b", []int32{10, 19, 0, 8}},
		{"invalid UTF-8 is unknown", "a\xffb", []int32{10, 0, 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tok.Encode(tt.text)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Encode(%q) = %v, want %v", tt.text, got, tt.want)
			}
			prefix := []int32{42}
			if got := tok.AppendEncode(prefix, tt.text); !slices.Equal(got, append(prefix, tt.want...)) {
				t.Errorf("AppendEncode([42], %q) = %v, want %v", tt.text, got, append(prefix, tt.want...))
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	for _, in := range []string{
		``,
		`[]`,
		`{"a": 1}`,
		`[["a"]]`,
		`[["a", 1, 2]]`,
		`[[1, 1]]`,
		`[["a", "1"]]`,
	} {
		if _, err := Load(strings.NewReader(in)); err == nil {
			t.Errorf("Load(%q) succeeded, want error", in)
		}
	}
}

type goldenCase struct {
	Text string  `json:"text"`
	IDs  []int32 `json:"ids"`
}

// loadVocab loads the USE-lite vocabulary that scripts/setup.sh installs
// (or the one named by TINYHEAD_VOCAB).
func loadVocab(t testing.TB) *Tokenizer {
	t.Helper()
	tok, err := LoadFile(testenv.Vocab(t))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestGolden compares with ids from the original JavaScript tokenizer
// (testdata/gen-golden.js).
func TestGolden(t *testing.T) {
	tok := loadVocab(t)
	data, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []goldenCase
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no golden cases")
	}
	for i, c := range cases {
		if got := tok.Encode(c.Text); !slices.Equal(got, c.IDs) {
			t.Errorf("case %d: Encode(%q)\n got %v\nwant %v", i, c.Text, got, c.IDs)
		}
	}
}

func TestAppendEncodeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	tok := loadTiny(t)
	dst := make([]int32, 0, 64)
	for _, text := range []string{"ab cd a a", "ａｂ ﬁ café"} {
		tok.AppendEncode(dst, text) // warm the pool
		if n := testing.AllocsPerRun(100, func() { tok.AppendEncode(dst[:0], text) }); n != 0 {
			t.Errorf("AppendEncode(%q) allocates %v times per call, want 0", text, n)
		}
	}
}

func TestConcurrentEncode(t *testing.T) {
	tok := loadTiny(t)
	texts := []string{"ab cd", "xy qq", strings.Repeat("a b ", 500), "ａｂ😀", ""}
	want := make([][]int32, len(texts))
	for i, s := range texts {
		want[i] = tok.Encode(s)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for k := range 200 {
				i := (g + k) % len(texts)
				if got := tok.Encode(texts[i]); !slices.Equal(got, want[i]) {
					t.Errorf("concurrent Encode(%q) = %v, want %v", texts[i], got, want[i])
					return
				}
			}
		})
	}
	wg.Wait()
}

var benchSentences = []string{
	"The committee will meet again next Tuesday to review the budget proposal, and members are asked to send their written comments to the chair by Friday afternoon at the latest.",
	"After the storm knocked out power across the valley, volunteers from three neighbouring towns set up shelters in school gyms and handed out blankets, water and hot meals overnight.",
	"Our new checkout flow reduced abandoned carts by nearly twenty percent in the first month, although customers on older mobile browsers still report occasional problems with the payment page.",
	"She studied the old maps for hours, tracing the river's changing course with a pencil and noting every village that had vanished since the dam was finished in the sixties.",
	"Please confirm whether the shipment of replacement parts left the warehouse yesterday, because the repair crew cannot finish the job until the new valves and gaskets arrive on site.",
	"Researchers found that students who slept at least eight hours before the exam scored noticeably higher than classmates who stayed up late reviewing notes, regardless of how much they studied.",
}

// benchEmail is a ~3 KB email body.
var benchEmail = func() string {
	para := `Hi Maria,

Thanks for sending over the draft contract on Monday. I've gone through it with our legal team and we have a few comments before we can sign. First, the payment terms in section 4.2 say net 60 days, but our agreement on the phone was net 30; could you correct that? Second, the liability cap of $50,000 seems low given the size of the project (roughly $420k over 18 months), so we'd like to raise it to the total contract value. Third, the termination clause should allow either party to end the agreement with 90 days' written notice, not just your side.

`
	var b strings.Builder
	for b.Len() < 3000 {
		b.WriteString(para)
	}
	b.WriteString("Best regards,\nJohn Smith\nHead of Procurement, Example Corp.\n+1 (555) 010-2233 | john.smith@example.com\n")
	return b.String()
}()

func BenchmarkEncode(b *testing.B) {
	tok := loadVocab(b)
	run := func(b *testing.B, texts []string) {
		dst := make([]int32, 0, 4096)
		tokens := 0
		for i := 0; b.Loop(); i++ {
			dst = tok.AppendEncode(dst[:0], texts[i%len(texts)])
			tokens += len(dst)
		}
		sec := b.Elapsed().Seconds()
		b.ReportMetric(float64(tokens)/sec, "tokens/s")
		b.ReportMetric(float64(b.N)/sec, "texts/s")
	}
	b.Run("sentence", func(b *testing.B) { run(b, benchSentences) })
	b.Run("email", func(b *testing.B) { run(b, []string{benchEmail}) })
	b.Run("sentence-alloc", func(b *testing.B) {
		// Encode, which allocates the result, for comparison.
		for i := 0; b.Loop(); i++ {
			_ = tok.Encode(benchSentences[i%len(benchSentences)])
		}
	})
}
