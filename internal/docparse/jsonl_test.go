package docparse

import (
	"runtime"
	"strings"
	"testing"
)

func TestJSONL(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		opt           Options
		want          []Item
		rejects       []reject
	}{{
		name: "basic",
		content: `{"id": "a1", "text": "hello", "labels": {"spam": "ham", "lang": " en "}}
{"text": "no id, no labels"}
{"id": 17, "text": "numeric id", "labels": {"spam": null, "topic": ""}}
`,
		want: []Item{
			{Row: 1, ID: "a1", Text: "hello", Labels: map[string]string{"spam": "ham", "lang": "en"}},
			{Row: 2, Text: "no id, no labels"},
			{Row: 3, ID: "17", Text: "numeric id", Labels: map[string]string{"spam": "", "topic": ""}},
		},
	}, {
		name: "group and split",
		content: `{"id": "1", "text": "a", "group": " thread-7 ", "split": "test"}
{"id": "2", "text": "b", "group": 7, "split": null}
{"id": "3", "text": "c", "split": "train"}
{"id": "4", "text": "d", "split": true}
{"id": "5", "text": "e", "group": ["x"]}
{"id": "6", "text": "f", "group": "` + strings.Repeat("g", 257) + `"}
{"id": "7", "text": "g", "split": ""}
`,
		want: []Item{
			{Row: 1, ID: "1", Text: "a", Group: "thread-7", Test: true},
			{Row: 2, ID: "2", Text: "b", Group: "7"},
			{Row: 7, ID: "7", Text: "g"},
		},
		rejects: []reject{
			{3, `split is "train"; it must be "test" or empty`},
			{4, `split is not a string; it must be "test" or absent`},
			{5, "group is not a string or a number"},
			{6, "group longer than 256 bytes"},
		},
	}, {
		name:    "blank lines keep numbering, no final newline",
		content: "\n  \n{\"text\":\"third\"}\n\t\n{\"text\":\"fifth\"}",
		want:    []Item{{Row: 3, Text: "third"}, {Row: 5, Text: "fifth"}},
	}, {
		name:    "CRLF and BOM",
		content: "\xef\xbb\xbf{\"text\":\"one\"}\r\n\r\n{\"text\":\"two\\r\\nlines\"}\r\n",
		want:    []Item{{Row: 1, Text: "one"}, {Row: 3, Text: "two\r\nlines"}},
	}, {
		name: "bad rows",
		content: `{"text": "ok"}
{"text": "broken"
[1, 2]
"just a string"
null
{"id": "x"}
{"text": ""}
{"text": " \t\n"}
{"text": 42}
{"text": "x", "labels": ["a"]}
{"text": "x", "labels": {"spam": 1}}
{"text": "x", "labels": {" ": "a"}}
{"text": "x", "id": true}
{"text": "caf` + "\xe9" + `"}
{"text": "last"} trailing
{"text": "still fine"}
`,
		want: []Item{{Row: 1, Text: "ok"}, {Row: 16, Text: "still fine"}},
		rejects: []reject{
			{2, "invalid JSON"},
			{3, "not a JSON object"},
			{4, "not a JSON object"},
			{5, "not a JSON object"},
			{6, "missing text"},
			{7, "empty text"},
			{8, "empty text"},
			{9, "text is not a string"},
			{10, "labels is not an object"},
			{11, `label of task "spam" is not a string`},
			{12, "empty task name"},
			{13, "id is not a string or a number"},
			{14, "invalid UTF-8"},
			{15, "invalid JSON"},
		},
	}, {
		// A task name that cannot name a task (a models folder, a route
		// segment) rejects its row, which says why; other rows are kept.
		name: "task names that are not one path segment",
		content: `{"text": "a", "labels": {"spam": "ham", "../escape": "x"}}
{"text": "b", "labels": {"victim/..": "x"}}
{"text": "c", "labels": {"x/../victim": "x"}}
{"text": "d", "labels": {"victim/sub": "x"}}
{"text": "e", "labels": {"..": "x"}}
{"text": "f", "labels": {"tab\tname": "x"}}
{"text": "g", "labels": {"spam": "spam", "lang": "en"}}
`,
		want: []Item{{Row: 7, Text: "g", Labels: map[string]string{"spam": "spam", "lang": "en"}}},
		rejects: []reject{
			{1, `task name "../escape" is not allowed: it contains a slash`},
			{2, `task name "victim/.." is not allowed: it contains a slash`},
			{3, `task name "x/../victim" is not allowed: it contains a slash`},
			{4, `task name "victim/sub" is not allowed: it contains a slash`},
			{5, `task name ".." is not allowed: it is a relative path`},
			{6, "it contains a control character"},
		},
	}, {
		// Ids are passed on as given: ingest rejects duplicates, for every
		// format at once (TestIngestDuplicateIDs).
		name: "duplicate ids are passed on",
		content: `{"id": "a", "text": "first"}
{"id": "b", "text": ""}
{"id": "a", "text": "second"}
{"id": 1, "text": "number"}
{"id": "1", "text": "same id as a string"}
`,
		want: []Item{
			{Row: 1, ID: "a", Text: "first"},
			{Row: 3, ID: "a", Text: "second"},
			{Row: 4, ID: "1", Text: "number"},
			{Row: 5, ID: "1", Text: "same id as a string"},
		},
		rejects: []reject{{2, "empty text"}},
	}, {
		name:    "limits",
		content: `{"text": "0123456789"}` + "\n" + `{"text": "01234567890"}` + "\n" + `{"text": "0123456789", "labels": {"a": "` + strings.Repeat("x", 40) + `"}}` + "\n" + `{"text":"ok"}`,
		opt:     Options{MaxTextBytes: 10, MaxLineBytes: 50},
		want:    []Item{{Row: 1, Text: "0123456789"}, {Row: 4, Text: "ok"}},
		rejects: []reject{{2, "text is 11 bytes, over the limit of 10"}, {3, "line longer than 50 bytes"}},
	}, {
		name:    "long names",
		content: `{"id": "` + strings.Repeat("i", 300) + `", "text": "x"}` + "\n" + `{"text": "x", "labels": {"t": "` + strings.Repeat("l", 300) + `"}}`,
		rejects: []reject{{1, "id longer than 256 bytes"}, {2, `label of task "t" longer than 256 bytes`}},
	}, {
		name:    "empty file",
		content: "",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			res := parse(t, "incoming/x.jsonl", strings.NewReader(tc.content), tc.opt)
			res.check(t, "incoming/x.jsonl", "", tc.want, tc.rejects)
		})
	}
}

// TestJSONLHugeLine feeds a 10 MB line, generated on the fly, between two
// good ones: it is rejected, the rows around it are kept, and the whole
// input is read.
func TestJSONLHugeLine(t *testing.T) {
	const size = 10 << 20
	src := &countingReader{r: multi(
		`{"text": "before"}`+"\n"+`{"text": "`, &repeatReader{'a', size}, `"}`+"\n",
		`{"text": "after"}`+"\n")}
	res := parse(t, "big.ndjson", src, Options{})
	res.check(t, "big.ndjson", "", []Item{{Row: 1, Text: "before"}, {Row: 3, Text: "after"}},
		[]reject{{2, "line longer than 4194304 bytes"}})
	if src.n < size {
		t.Errorf("read %d bytes, want all of them", src.n)
	}
}

// TestJSONLBoundedMemory checks that a line far larger than MaxLineBytes
// costs memory in proportion to the limit, not to the line.
func TestJSONLBoundedMemory(t *testing.T) {
	const size = 256 << 20
	src := multi(`{"text": "`, &repeatReader{'a', size}, `"}`+"\n"+`{"text": "after"}`)
	before := totalAlloc()
	res := parse(t, "big.jsonl", src, Options{MaxLineBytes: 1 << 20})
	allocated := totalAlloc() - before
	if res.err != nil || len(res.items) != 1 || len(res.rejects) != 1 {
		t.Fatalf("got %+v", res)
	}
	t.Logf("allocated %d KiB", allocated>>10)
	if allocated > 16<<20 {
		t.Errorf("allocated %d MiB for a %d MiB line", allocated>>20, size>>20)
	}
}

func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}
