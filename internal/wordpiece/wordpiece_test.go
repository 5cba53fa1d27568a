package wordpiece

import (
	"slices"
	"strings"
	"testing"
)

// tokenizerJSON is a small BERT tokenizer.json; normalizer and
// post_processor are spliced in.
func tokenizerJSON(normalizer, post string) string {
	return `{"added_tokens":[{"id":4,"content":"[MASK]","special":true}],
	"normalizer":` + normalizer + `,
	"pre_tokenizer":{"type":"BertPreTokenizer"},
	"post_processor":` + post + `,
	"model":{"type":"WordPiece","unk_token":"[UNK]","continuing_subword_prefix":"##","max_input_chars_per_word":6,
	  "vocab":{"[PAD]":0,"[UNK]":1,"[CLS]":2,"[SEP]":3,"[MASK]":4,"cafe":5,"café":6,"Café":7,"i̇":8,"i":9,"##s":10,"!":11,"$":12,"un":13,"##able":14}}}`
}

const bertProcessing = `{"type":"BertProcessing","sep":["[SEP]",3],"cls":["[CLS]",2]}`

func TestEncode(t *testing.T) {
	tests := []struct {
		name, normalizer, text string
		want                   []int32
	}{
		{"strip_accents null follows lowercase", `{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,"strip_accents":null,"lowercase":true}`, "CAFÉS!", []int32{5, 10, 11}},
		{"keep accents", `{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,"strip_accents":false,"lowercase":true}`, "Café", []int32{6}},
		{"cased", `{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,"strip_accents":false,"lowercase":false}`, "Café cafe", []int32{7, 5}},
		{"full lowercase of İ", `{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,"strip_accents":false,"lowercase":true}`, "İ I", []int32{8, 9}},
		{"symbols are punctuation, long words unknown", `{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,"lowercase":true}`, "$unable unables", []int32{12, 13, 14, 1}},
		{"special tokens as written", `{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,"lowercase":true}`, "cafe[MASK]i [mask]", []int32{5, 4, 9, 1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := parse([]byte(tokenizerJSON(tt.normalizer, bertProcessing)))
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.Encode(tt.text, 0); !slices.Equal(got, tt.want) {
				t.Errorf("Encode(%q) = %v, want %v", tt.text, got, tt.want)
			}
			if !slices.Equal(tok.Head, []int32{2}) || !slices.Equal(tok.Tail, []int32{3}) {
				t.Errorf("special tokens %v … %v, want [2] … [3]", tok.Head, tok.Tail)
			}
		})
	}
}

// TestEncodeLimit: a limit stops at a word boundary once it has enough ids,
// and the ids it has are those of the whole text.
func TestEncodeLimit(t *testing.T) {
	tok, err := parse([]byte(tokenizerJSON(`{"type":"BertNormalizer","lowercase":true}`, bertProcessing)))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("cafes ", 1000)
	all := tok.Encode(text, 0)
	some := tok.Encode(text, 5)
	if len(all) != 2000 || len(some) != 6 || !slices.Equal(some, all[:6]) {
		t.Errorf("%d ids, limited to 5: %v", len(all), some)
	}
}

func TestUnsupported(t *testing.T) {
	bert := `{"type":"BertNormalizer","lowercase":true}`
	tests := []struct{ name, json, want string }{
		{"BPE", strings.Replace(tokenizerJSON(bert, bertProcessing), `"type":"WordPiece"`, `"type":"BPE"`, 1), `model "BPE"`},
		{"NFKC", tokenizerJSON(`{"type":"NFKC"}`, bertProcessing), `normalizer "NFKC"`},
		{"Metaspace", strings.Replace(tokenizerJSON(bert, bertProcessing), "BertPreTokenizer", "Metaspace", 1), "pre-tokenizer"},
		{"RobertaProcessing", tokenizerJSON(bert, `{"type":"RobertaProcessing"}`), `post-processor "RobertaProcessing"`},
		{"unknown token", strings.Replace(tokenizerJSON(bert, bertProcessing), `"unk_token":"[UNK]"`, `"unk_token":"<unk>"`, 1), `"<unk>"`},
	}
	for _, tt := range tests {
		if _, err := parse([]byte(tt.json)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %s", tt.name, err, tt.want)
		}
	}
}
