// Package wordpiece reads a Hugging Face tokenizer.json of the BERT family
// — BertNormalizer, BertPreTokenizer, a WordPiece model and a [CLS] $A
// [SEP] post-processor — and turns texts into the token ids such a model
// reads, as the Hugging Face tokenizers library does.
//
// Other tokenizer.json pipelines (byte-level BPE, Unigram with a
// precompiled normalizer, Metaspace) are refused with an error naming the
// part that is not supported.
package wordpiece

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Tokenizer is a loaded tokenizer.json; it is safe for concurrent use.
type Tokenizer struct {
	vocab    map[string]int32
	unk      int32
	prefix   string // continuing subword prefix, "##"
	maxChars int    // longer words become [UNK]

	cleanText, chinese, stripAccents, lowercase bool

	// specials are the added special tokens, matched in the raw text
	// before normalisation.
	specials []special
	// Head and Tail are the ids the post-processor puts around a text's
	// tokens ([CLS] and [SEP]).
	Head, Tail []int32
	// Pad is the padding id ([PAD], or 0).
	Pad int32
}

type special struct {
	content string
	id      int32
}

// file is the part of tokenizer.json the tokenizer reads.
type file struct {
	AddedTokens []struct {
		ID         int32  `json:"id"`
		Content    string `json:"content"`
		Special    bool   `json:"special"`
		Normalized bool   `json:"normalized"`
		SingleWord bool   `json:"single_word"`
		LStrip     bool   `json:"lstrip"`
		RStrip     bool   `json:"rstrip"`
	} `json:"added_tokens"`
	Normalizer *struct {
		Type               string `json:"type"`
		CleanText          bool   `json:"clean_text"`
		HandleChineseChars bool   `json:"handle_chinese_chars"`
		StripAccents       *bool  `json:"strip_accents"`
		Lowercase          bool   `json:"lowercase"`
	} `json:"normalizer"`
	PreTokenizer *struct {
		Type string `json:"type"`
	} `json:"pre_tokenizer"`
	PostProcessor *struct {
		Type   string `json:"type"`
		Single []struct {
			SpecialToken *struct {
				ID string `json:"id"`
			} `json:"SpecialToken"`
			Sequence *struct {
				ID string `json:"id"`
			} `json:"Sequence"`
		} `json:"single"`
		SpecialTokens map[string]struct {
			IDs []int32 `json:"ids"`
		} `json:"special_tokens"`
		// BertProcessing: ["[SEP]", 102] and ["[CLS]", 101].
		Sep []any `json:"sep"`
		Cls []any `json:"cls"`
	} `json:"post_processor"`
	Padding *struct {
		PadID int32 `json:"pad_id"`
	} `json:"padding"`
	Model struct {
		Type                    string           `json:"type"`
		UnkToken                string           `json:"unk_token"`
		ContinuingSubwordPrefix *string          `json:"continuing_subword_prefix"`
		MaxInputCharsPerWord    int              `json:"max_input_chars_per_word"`
		Vocab                   map[string]int32 `json:"vocab"`
	} `json:"model"`
}

// Load reads a tokenizer.json.
func Load(path string) (*Tokenizer, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read tokenizer: %w", err)
	}
	t, err := parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

func parse(raw []byte) (*Tokenizer, error) {
	var f file
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("parse tokenizer.json: %w", err)
	}
	m := f.Model
	if m.Type != "WordPiece" && !(m.Type == "" && m.ContinuingSubwordPrefix != nil) {
		return nil, fmt.Errorf("tokenizer model %q is not supported (want WordPiece, as BERT-family models use)", m.Type)
	}
	t := &Tokenizer{vocab: m.Vocab, prefix: "##", maxChars: m.MaxInputCharsPerWord}
	if m.ContinuingSubwordPrefix != nil {
		t.prefix = *m.ContinuingSubwordPrefix
	}
	if t.maxChars <= 0 {
		t.maxChars = 100
	}
	unk, ok := m.Vocab[m.UnkToken]
	if !ok {
		return nil, fmt.Errorf("unknown token %q is not in the vocabulary", m.UnkToken)
	}
	t.unk = unk
	if n := f.Normalizer; n != nil {
		if n.Type != "BertNormalizer" {
			return nil, fmt.Errorf("normalizer %q is not supported (want BertNormalizer)", n.Type)
		}
		t.cleanText, t.chinese, t.lowercase = n.CleanText, n.HandleChineseChars, n.Lowercase
		// strip_accents null means: as lowercase (Hugging Face's rule).
		t.stripAccents = n.Lowercase
		if n.StripAccents != nil {
			t.stripAccents = *n.StripAccents
		}
	}
	if p := f.PreTokenizer; p == nil || p.Type != "BertPreTokenizer" {
		return nil, fmt.Errorf("pre-tokenizer %v is not supported (want BertPreTokenizer)", p)
	}
	for _, a := range f.AddedTokens {
		if !a.Special {
			continue
		}
		if a.Normalized || a.SingleWord || a.LStrip || a.RStrip || strings.ContainsFunc(a.Content, unicode.IsSpace) || a.Content == "" {
			return nil, fmt.Errorf("added token %q: only special tokens matched as written are supported", a.Content)
		}
		t.specials = append(t.specials, special{a.Content, a.ID})
	}
	if err := t.readPostProcessor(f); err != nil {
		return nil, err
	}
	if pad, ok := m.Vocab["[PAD]"]; ok {
		t.Pad = pad
	}
	if f.Padding != nil {
		t.Pad = f.Padding.PadID
	}
	return t, nil
}

// readPostProcessor finds the special tokens put before and after a
// single text: TemplateProcessing's "single" template, or BertProcessing.
func (t *Tokenizer) readPostProcessor(f file) error {
	p := f.PostProcessor
	if p == nil {
		return nil // no special tokens
	}
	switch p.Type {
	case "TemplateProcessing":
		seen := false
		for _, piece := range p.Single {
			switch {
			case piece.Sequence != nil:
				seen = true
			case piece.SpecialToken != nil:
				st, ok := p.SpecialTokens[piece.SpecialToken.ID]
				if !ok {
					return fmt.Errorf("post-processor: special token %q is not defined", piece.SpecialToken.ID)
				}
				if seen {
					t.Tail = append(t.Tail, st.IDs...)
				} else {
					t.Head = append(t.Head, st.IDs...)
				}
			}
		}
		return nil
	case "BertProcessing":
		for _, pair := range []struct {
			v   []any
			dst *[]int32
		}{{p.Cls, &t.Head}, {p.Sep, &t.Tail}} {
			if len(pair.v) != 2 {
				return fmt.Errorf("post-processor BertProcessing: want [token, id] pairs")
			}
			id, ok := pair.v[1].(float64)
			if !ok {
				return fmt.Errorf("post-processor BertProcessing: id %v is not a number", pair.v[1])
			}
			*pair.dst = []int32{int32(id)}
		}
		return nil
	default:
		return fmt.Errorf("post-processor %q is not supported (want TemplateProcessing or BertProcessing)", p.Type)
	}
}

// Encode returns the ids of text's tokens, without the special tokens the
// post-processor adds (Head, Tail). Special tokens written in the text
// ("[SEP]") are kept as themselves. With limit > 0 it stops once it has
// limit ids (at a whitespace boundary), so that clipping a long text
// costs little; the first limit ids are those of the whole text.
func (t *Tokenizer) Encode(text string, limit int) []int32 {
	var ids []int32
	// Whitespace only separates words, and normalisation works character
	// by character, so each whitespace-separated field can be tokenized
	// on its own (special tokens hold no whitespace: Load checks).
	for field := range strings.FieldsFuncSeq(text, t.separates) {
		for field != "" {
			at, sp := t.nextSpecial(field)
			if at < 0 {
				break
			}
			ids = t.appendPlain(ids, field[:at])
			ids = append(ids, sp.id)
			field = field[at+len(sp.content):]
		}
		ids = t.appendPlain(ids, field)
		if limit > 0 && len(ids) >= limit {
			break
		}
	}
	return ids
}

// separates reports whether r separates words: whitespace, except the
// control characters that clean_text deletes (vertical tab, form feed,
// U+0085), which join what is around them.
func (t *Tokenizer) separates(r rune) bool {
	return unicode.IsSpace(r) && !(t.cleanText && isControl(r))
}

// nextSpecial finds the leftmost special token in text, the longest one
// where several start at the same place; at is -1 when there is none.
func (t *Tokenizer) nextSpecial(text string) (at int, sp special) {
	at = -1
	for _, s := range t.specials {
		i := strings.Index(text, s.content)
		if i < 0 {
			continue
		}
		if at < 0 || i < at || (i == at && len(s.content) > len(sp.content)) {
			at, sp = i, s
		}
	}
	return at, sp
}

// appendPlain tokenizes text without special tokens.
func (t *Tokenizer) appendPlain(ids []int32, text string) []int32 {
	word := make([]rune, 0, 32)
	flush := func() {
		if len(word) > 0 {
			ids = t.appendWord(ids, word)
			word = word[:0]
		}
	}
	for _, r := range t.normalize(text) {
		switch {
		case unicode.IsSpace(r):
			flush()
		case isPunct(r):
			flush()
			ids = t.appendWord(ids, []rune{r})
		default:
			word = append(word, r)
		}
	}
	flush()
	return ids
}

// appendWord is WordPiece: the longest vocabulary entry from the start,
// then the longest "##" entry from where it ended, and so on; a word with
// a part not in the vocabulary, or longer than maxChars, is one [UNK].
func (t *Tokenizer) appendWord(ids []int32, word []rune) []int32 {
	if len(word) > t.maxChars {
		return append(ids, t.unk)
	}
	n := len(ids)
	var buf strings.Builder
	for start := 0; start < len(word); {
		end := len(word)
		for ; end > start; end-- {
			buf.Reset()
			if start > 0 {
				buf.WriteString(t.prefix)
			}
			buf.WriteString(string(word[start:end]))
			if id, ok := t.vocab[buf.String()]; ok {
				ids = append(ids, id)
				break
			}
		}
		if end == start {
			return append(ids[:n], t.unk)
		}
		start = end
	}
	return ids
}

// normalize is BertNormalizer: drop control characters and turn
// whitespace into spaces, put spaces around CJK ideographs, strip accents
// (NFD, then drop non-spacing marks), lowercase — in Hugging Face's order.
func (t *Tokenizer) normalize(text string) []rune {
	out := make([]rune, 0, utf8.RuneCountInString(text))
	for _, r := range text {
		if t.cleanText {
			if r == 0 || r == utf8.RuneError || isControl(r) {
				continue
			}
			if unicode.IsSpace(r) {
				r = ' '
			}
		}
		if t.chinese && isCJK(r) {
			out = append(out, ' ', r, ' ')
			continue
		}
		out = append(out, r)
	}
	if t.stripAccents {
		stripped := out[:0:0]
		for _, r := range norm.NFD.String(string(out)) {
			if !unicode.Is(unicode.Mn, r) {
				stripped = append(stripped, r)
			}
		}
		out = stripped
	}
	if t.lowercase {
		lower := out[:0:0]
		for _, r := range out {
			if r == 'İ' { // the one full lowercase mapping of two code points
				lower = append(lower, 'i', '\u0307')
				continue
			}
			lower = append(lower, unicode.ToLower(r))
		}
		out = lower
	}
	return out
}

// isControl is Unicode's "other" categories (Cc, Cf, Co, Cs, unassigned)
// except tab, newline and carriage return, which count as whitespace.
func isControl(r rune) bool {
	switch r {
	case '\t', '\n', '\r':
		return false
	}
	return unicode.Is(unicode.C, r) || !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z)
}

// isPunct is BERT's punctuation: ASCII punctuation (symbols such as $ + <
// included) and Unicode's P categories.
func isPunct(r rune) bool {
	if r < utf8.RuneSelf {
		return r > ' ' && r < 0x7f && !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}
	return unicode.IsPunct(r)
}

// isCJK is the CJK Unified Ideographs blocks BERT splits into single
// characters.
func isCJK(r rune) bool {
	switch {
	case r >= 0x4E00 && r <= 0x9FFF, r >= 0x3400 && r <= 0x4DBF,
		r >= 0x20000 && r <= 0x2A6DF, r >= 0x2A700 && r <= 0x2B73F,
		r >= 0x2B740 && r <= 0x2B81F, r >= 0x2B920 && r <= 0x2CEAF,
		r >= 0xF900 && r <= 0xFAFF, r >= 0x2F800 && r <= 0x2FA1F:
		return true
	}
	return false
}
