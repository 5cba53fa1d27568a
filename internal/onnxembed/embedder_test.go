package onnxembed_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/tinyhead/tinyhead/internal/embedwin"
	"github.com/tinyhead/tinyhead/internal/onnxembed"
	"github.com/tinyhead/tinyhead/internal/onnxembed/embedtest"
	"github.com/tinyhead/tinyhead/internal/testenv"
)

// TestReferenceCosines checks the installed model against the original
// TF.js model.
func TestReferenceCosines(t *testing.T) {
	embedtest.CheckReference(t, embedtest.Embedder(t))
}

// TestBatchInvariance: a text's embedding does not depend on what it is
// batched with (padding to the longest text must be masked out), and every
// input gets exactly one vector, in order.
func TestBatchInvariance(t *testing.T) {
	e := embedtest.Embedder(t)
	ctx := context.Background()
	long := strings.Repeat("the quick brown fox jumps over the lazy dog ", 40) // clipped at 128 tokens
	texts := []string{"short", long, "a medium length sentence about cats and dogs", "short", "x"}
	batch, err := e.Embed(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	if len(batch) != len(texts) {
		t.Fatalf("%d vectors for %d texts", len(batch), len(texts))
	}
	for i, text := range texts {
		alone, err := e.Embed(ctx, []string{text})
		if err != nil {
			t.Fatal(err)
		}
		if c := embedtest.Cosine(alone[0], batch[i]); c < 0.99999 {
			t.Errorf("text %d: cos(alone, batched) = %.6f", i, c)
		}
	}
}

// TestBatchesLargerThanOneRun spans several model runs and checks order.
func TestBatchesLargerThanOneRun(t *testing.T) {
	e := embedtest.Embedder(t)
	var texts []string
	for i := 0; i < 70; i++ { // 3 runs of ≤32, sorted by length inside
		texts = append(texts, strings.Repeat("word ", 1+i%9)+"number "+string(rune('a'+i%26)))
	}
	vecs, err := e.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 33, 69} {
		alone, err := e.Embed(context.Background(), texts[i:i+1])
		if err != nil {
			t.Fatal(err)
		}
		if c := embedtest.Cosine(alone[0], vecs[i]); c < 0.99999 {
			t.Errorf("text %d out of order: cos = %.6f", i, c)
		}
	}
}

func TestEmptyTextsAreRefused(t *testing.T) {
	e := embedtest.Embedder(t)
	for _, texts := range [][]string{{"fine", ""}, {"", "fine"}, {" \n\t "}, {""}} {
		if _, err := e.Embed(context.Background(), texts); err == nil || !strings.Contains(err.Error(), "empty") {
			t.Errorf("Embed(%q) error = %v, want an empty-text error", texts, err)
		}
	}
}

func TestWhitespaceIsNormalised(t *testing.T) {
	e := embedtest.Embedder(t)
	a := e.Tokenize("A dog\nruns   in\tthe park")
	b := e.Tokenize("A dog runs in the park")
	if len(a) != len(b) {
		t.Fatalf("tokens %v vs %v", a, b)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("tokens %v vs %v", a, b)
		}
	}
	if n := len(e.Tokenize(strings.Repeat("lorem ipsum ", 10000))); n != 128 {
		t.Errorf("long text gives %d tokens, want clipped to 128", n)
	}
}

func TestCancelledContext(t *testing.T) {
	e := embedtest.Embedder(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Embed(ctx, []string{"hello"}); err == nil {
		t.Fatal("want an error from a cancelled context")
	}
}

// TestReferenceEmbeddings compares the converted model with vectors the
// original TF.js model computed for the same texts
// (testdata/gen-embeddings.js): same token ids, same vectors.
func TestReferenceEmbeddings(t *testing.T) {
	raw, err := os.ReadFile("testdata/reference-embeddings.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Texts      []string    `json:"texts"`
		IDs        [][]int32   `json:"ids"`
		Embeddings [][]float32 `json:"embeddings"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	e := embedtest.Embedder(t)
	vecs, err := e.Embed(context.Background(), ref.Texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, text := range ref.Texts {
		ids := e.Tokenize(text)
		want := ref.IDs[i][:min(len(ref.IDs[i]), 128)] // the model reads 128 tokens
		if !slices.Equal(ids, want) {
			t.Errorf("text %d: ids %v, want %v", i, ids, want)
		}
		var maxDiff float64
		for k := range vecs[i] {
			maxDiff = max(maxDiff, math.Abs(float64(vecs[i][k]-ref.Embeddings[i][k])))
		}
		if maxDiff > 1e-4 {
			t.Errorf("text %d %.30q: largest difference from TF.js %.2g", i, text, maxDiff)
		}
	}
}

// TestLongWordCostsLittle: a text of any length — here 20 MiB without a
// space, which once made the tokenizer allocate per character — is clipped
// before tokenizing, so it costs a bounded amount of memory and still
// yields the model's MaxTokens ids.
func TestLongWordCostsLittle(t *testing.T) {
	e := embedtest.Embedder(t)
	tests := []struct{ name, text string }{
		{"no spaces", strings.Repeat("abcdefghij", 2<<20)},
		{"non-ASCII, no spaces", strings.Repeat("é漢", 4<<20)},
		{"long words", strings.Repeat(strings.Repeat("x", 1<<20)+" ", 20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			ids := e.Tokenize(tt.text)
			runtime.ReadMemStats(&after)
			if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
				t.Errorf("tokenizing %d bytes allocated %d bytes, want at most 4 MiB", len(tt.text), got)
			}
			if len(ids) == 0 || len(ids) > e.Info().MaxTokens {
				t.Errorf("%d ids, want 1 to %d", len(ids), e.Info().MaxTokens)
			}
		})
	}
}

// TestWindowedIsMeanOfWindows: a windowed embedder's vector of a long text
// is the mean of the clipped embedder's vectors of the text's windows,
// each embedded on its own as text, and its model id says how it reads.
func TestWindowedIsMeanOfWindows(t *testing.T) {
	clipped := embedtest.Embedder(t)
	w := embedwin.Window{Tokens: 16, Overlap: 4, Max: 3}
	windowed, err := onnxembed.Open(onnxembed.Config{Dir: testenv.ModelDir(t), Threads: 2, Window: &w})
	if err != nil {
		t.Fatal(err)
	}
	defer windowed.Close()
	if got, want := windowed.ModelID(), clipped.ModelID()+"@win16o4x3"; got != want {
		t.Errorf("model id %q, want %q", got, want)
	}
	// Words that are one token each, so that the windows of the text are
	// runs of its words.
	var words []string
	for _, word := range strings.Fields("the dog cat runs in park and a of to is it was for on are with as his they be at one have this from or had by word but what some we can out other were all there when up use your how said an each she which do their time if will way about many then them write would like so these her long make thing see him two has look more day could go come did number sound no most people my over know water than call first who may down side been now find") {
		if len(clipped.Tokenize(word)) == 1 {
			words = append(words, word)
		}
	}
	if len(words) < 40 {
		t.Fatalf("only %d one-token words", len(words))
	}
	text := func(ws []string) string { return strings.Join(ws, " ") }
	tests := []struct {
		name    string
		n       int
		windows [][2]int // word ranges
	}{
		{"shorter than a window", 10, [][2]int{{0, 10}}},
		{"two windows", 20, [][2]int{{0, 16}, {12, 20}}},
		{"capped: head and tail", 52, [][2]int{{0, 16}, {12, 28}, {36, 52}}}, // of 4
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := words[:tt.n]
			got, err := windowed.Embed(context.Background(), []string{text(doc)})
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, r := range tt.windows {
				parts = append(parts, text(doc[r[0]:r[1]]))
			}
			vecs, err := clipped.Embed(context.Background(), parts)
			if err != nil {
				t.Fatal(err)
			}
			for k := range got[0] {
				var mean float64
				for _, v := range vecs {
					mean += float64(v[k])
				}
				mean /= float64(len(vecs))
				if d := math.Abs(mean - float64(got[0][k])); d > 1e-5 {
					t.Fatalf("component %d: windowed %.6f, mean of windows %.6f", k, got[0][k], mean)
				}
			}
		})
	}
}
