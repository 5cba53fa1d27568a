package storetest

import (
	"maps"
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
			// The label holds the item in brackets: labels are trimmed,
			// but must still compare exactly inside.
			docs = append(docs, doc(src, item, "v1", "text of "+src+"|"+item, map[string]string{"Task": "<" + item + ">", "task": "lower"}))
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

// testLabelsTrimmed checks that labels are stored without surrounding
// white space, so that "spam" and "spam " are one label in every store
// (SQL Server compares them as equal, SQLite does not), and that task
// names with surrounding white space are refused everywhere a task name
// is taken.
func testLabelsTrimmed(t *testing.T, s tinyhead.Store) {
	const src = "incoming/trim.csv"
	ctx := t.Context()
	put(t, s,
		doc(src, "1", "v1", "one", map[string]string{"spam": "spam"}),
		doc(src, "2", "v1", "two", map[string]string{"spam": "spam "}),
		doc(src, "3", "v1", "three", map[string]string{"spam": " spam\t", "lang": "en"}),
		doc(src, "4", "v1", "four", map[string]string{"spam": "ham\n"}),
	)
	want := map[string]map[string]int{"spam": {"spam": 3, "ham": 1}, "lang": {"en": 1}}
	if st := stats(t, s); !labelsEqual(st.Labels, want) {
		t.Errorf("label counts %v, want %v", st.Labels, want)
	}
	if got := tasks(t, s, model)["spam"]; got.Rows != 4 || !maps.Equal(got.Labels, want["spam"]) {
		t.Errorf("Tasks: spam = %+v, want %v", got, want["spam"])
	}
	if d := get(t, s, src, "2"); d.Labels["spam"] != "spam" {
		t.Errorf("label %q, want %q", d.Labels["spam"], "spam")
	}
	var rows []string
	err := s.ScanLabeled(ctx, "spam", model, false, func(r tinyhead.LabeledRow) error {
		rows = append(rows, r.Item+"="+r.Label)
		return nil
	})
	if err != nil || strings.Join(rows, ",") != "1=spam,2=spam,3=spam,4=ham" {
		t.Errorf("ScanLabeled = %v, %v", rows, err)
	}

	// White space only removes the label, as "" does.
	put(t, s, doc(src, "3", "v1", "three", map[string]string{"lang": " \t"}))
	if d := get(t, s, src, "3"); len(d.Labels) != 1 || d.Labels["spam"] != "spam" {
		t.Errorf("after a white-space label: labels %v, want spam only", d.Labels)
	}
	// SetLabel trims too.
	if err := s.SetLabel(ctx, src, "4", "spam", "spam  "); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLabel(ctx, src, "1", "spam", "  "); err != nil {
		t.Fatal(err)
	}
	want = map[string]map[string]int{"spam": {"spam": 3}}
	if st := stats(t, s); !labelsEqual(st.Labels, want) {
		t.Errorf("after SetLabel: label counts %v, want %v", st.Labels, want)
	}

	for _, task := range []string{"spam ", " spam", "spam\t", "\u00a0spam", " "} {
		calls := map[string]error{
			"PutDocuments": s.PutDocuments(ctx, []tinyhead.Document{doc(src, "5", "v1", "five", map[string]string{task: "x"})}),
			"SetLabel":     s.SetLabel(ctx, src, "1", task, "x"),
			"ScanLabeled":  s.ScanLabeled(ctx, task, model, false, func(tinyhead.LabeledRow) error { return nil }),
			"RecordModel":  s.RecordModel(ctx, tinyhead.ModelRecord{Task: task, Version: "v1", Metrics: "{}"}),
			"PromoteModel": s.PromoteModel(ctx, task, "v1"),
		}
		_, err := s.Models(ctx, task)
		calls["Models"] = err
		for name, err := range calls {
			if err == nil {
				t.Errorf("%s accepted the task name %q", name, task)
			}
		}
	}
	if st := stats(t, s); st.Documents != 4 {
		t.Errorf("%d documents, want 4: a refused batch must write nothing", st.Documents)
	}
}

// testLongestBlobName checks that a blob of the longest name storage allows
// (1,024 characters, here each two UTF-16 code units) in a container of the
// longest name (63) is a source like any other: its rows and its ingest
// record are stored and read back.
func testLongestBlobName(t *testing.T, s tinyhead.Store) {
	src := strings.Repeat("c", 63) + "/" + strings.Repeat("😀", 1024)
	put(t, s, doc(src, "1", "v1", "longest name", map[string]string{"t": "a"}))
	if d := get(t, s, src, "1"); d.Source != src || d.Labels["t"] != "a" {
		t.Errorf("read back source of %d bytes, labels %v", len(d.Source), d.Labels)
	}
	in := beginIngest(t, s, src, "v1")
	in.Status, in.RowsOK = tinyhead.IngestDone, 1
	finishIngest(t, s, in)
	if got := getIngest(t, s, src, "v1"); got.Source != src || got.Status != tinyhead.IngestDone {
		t.Errorf("ingest record %+v", got)
	}
}
