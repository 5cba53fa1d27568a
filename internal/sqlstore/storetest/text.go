package storetest

import (
	"strings"
	"testing"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// testOddText round-trips texts, keys and labels that trip up encodings,
// collations and quoting.
func testOddText(t *testing.T, s tinyhead.Store) {
	const src = "incoming/dir with space/ünïcödé 📄.jsonl"
	texts := map[string]string{
		"latin":     "héllo wörld, ça va? Æøå ß",
		"cjk":       "日本語のテキストと中文和한국어",
		"emoji":     "emoji 👍🏽 family 👨‍👩‍👧‍👦 flag 🇳🇴 keycap 1️⃣",
		"rtl":       "RTL עברית والعربية mixed",
		"combining": "e\u0301 vs é, a\u030a vs å",
		"astral":    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕏 \U0010FFFD",
		"space":     "tabs\tand\r\nCRLF\nnewlines\v\f  trailing  ",
		"quotes":    `quotes ' " ` + "`" + ` and \backslash\ 100% _under_ [brackets] {braces} $1 ?1 @p1 :name`,
		"sql":       "'; DROP TABLE documents; -- N'x' /* comment */",
		"invisible": "\u200b zero width \ufeff BOM \u00a0 nbsp \u2028 line sep \x01\x1f",
		"long":      strings.Repeat("long text with 🎉 emoji ", 9000), // ~216 KB
	}
	var docs []tinyhead.Document
	for name, text := range texts {
		d := doc(src, "item "+name+" 🔑", "\"0x8DC1F2\"", text, map[string]string{"тема": "спорт 🏀 " + name})
		docs = append(docs, d)
	}
	put(t, s, docs...)
	for _, d := range docs {
		checkDoc(t, get(t, s, src, d.Item), d)
	}
	if st := stats(t, s); st.Documents != len(texts) || len(st.Labels["тема"]) != len(texts) {
		t.Errorf("Stats = %+v, want %d documents with distinct labels", st, len(texts))
	}
}

// testKeysAreExact checks that keys compare exactly: by case, by trailing
// space and by Unicode normalisation form.
func testKeysAreExact(t *testing.T, s tinyhead.Store) {
	items := []string{"a", "A", "a ", " a", "é", "e\u0301", ""}
	sources := []string{"incoming/x.csv", "incoming/X.csv", "incoming/x.csv "}
	var docs []tinyhead.Document
	for _, src := range sources {
		for _, item := range items {
			docs = append(docs, doc(src, item, "v1", "text of "+src+"|"+item, map[string]string{"Task": item, "task": "lower"}))
		}
	}
	put(t, s, docs...)
	for _, d := range docs {
		checkDoc(t, get(t, s, d.Source, d.Item), d)
	}
	if st := stats(t, s); st.Documents != len(docs) {
		t.Errorf("%d documents, want %d", st.Documents, len(docs))
	}
	// Pruning one source leaves the ones that differ by case or a space.
	n, err := s.PruneSource(t.Context(), "incoming/x.csv", "v2")
	if err != nil || n != len(items) {
		t.Errorf("PruneSource = %d, %v; want %d", n, err, len(items))
	}
	if st := stats(t, s); st.Documents != len(docs)-len(items) {
		t.Errorf("after prune: %d documents, want %d", st.Documents, len(docs)-len(items))
	}
}
