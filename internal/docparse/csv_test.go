package docparse

import (
	"strings"
	"testing"
)

func TestCSV(t *testing.T) {
	for _, tc := range []struct {
		name, file, content string
		opt                 Options
		want                []Item
		rejects             []reject
		fileErr             string
	}{{
		name: "labels by column",
		content: `ID,Text,spam, topic
a1,hello,ham,greeting
a2,"quoted, with comma",spam,
,no id,,x
`,
		want: []Item{
			{Row: 1, ID: "a1", Text: "hello", Labels: map[string]string{"spam": "ham", "topic": "greeting"}},
			{Row: 2, ID: "a2", Text: "quoted, with comma", Labels: map[string]string{"spam": "spam", "topic": ""}},
			{Row: 3, Text: "no id", Labels: map[string]string{"spam": "", "topic": "x"}},
		},
	}, {
		name:    "text only, CRLF, BOM, blank lines",
		content: "\xef\xbb\xbftext\r\none\r\n\r\n\"two\r\nlines\"\r\nthree",
		want:    []Item{{Row: 1, Text: "one"}, {Row: 2, Text: "two\nlines"}, {Row: 3, Text: "three"}},
	}, {
		name:    "TSV",
		file:    "data.TSV",
		content: "text\tlabel\nhello, world\tgreeting\n",
		want:    []Item{{Row: 1, Text: "hello, world", Labels: map[string]string{"label": "greeting"}}},
	}, {
		name:    "unnamed index column ignored",
		content: ",text,label\n0,hi,a\n1,yo,b\n",
		want: []Item{
			{Row: 1, Text: "hi", Labels: map[string]string{"label": "a"}},
			{Row: 2, Text: "yo", Labels: map[string]string{"label": "b"}},
		},
	}, {
		name: "bad rows",
		content: `id,text,label
1,ok,a
2,,a
3,  ,a
4,too,many,fields
5,few
6,caf` + "\xe9" + `,a
7,bare "quote,a
8,"bad "quote",a
9,"multi
line",b
1,dup,a
10,fine,b
`,
		want: []Item{
			{Row: 1, ID: "1", Text: "ok", Labels: map[string]string{"label": "a"}},
			{Row: 9, ID: "9", Text: "multi\nline", Labels: map[string]string{"label": "b"}},
			{Row: 10, ID: "1", Text: "dup", Labels: map[string]string{"label": "a"}},
			{Row: 11, ID: "10", Text: "fine", Labels: map[string]string{"label": "b"}},
		},
		rejects: []reject{
			{2, "empty text (CSV line 3)"},
			{3, "empty text (CSV line 4)"},
			{4, "4 fields, the header has 3 (CSV line 5)"},
			{5, "2 fields, the header has 3 (CSV line 6)"},
			{6, "invalid UTF-8 (CSV line 7)"},
			{7, `malformed CSV: bare " in non-quoted-field (CSV line 8)`},
			{8, `malformed CSV: extraneous or missing " in quoted-field (CSV line 9)`},
		},
	}, {
		// group and split are columns of their own, never tasks; a bad
		// split or an over-long group rejects its row, naming the reason.
		name: "group and split",
		content: "id,text,Group,split,spam\n" +
			"1,a, thread-7 ,test,ham\n" +
			"2,b,thread-7,,spam\n" +
			"3,c,,train,ham\n" +
			"4,d,," + `" test "` + ",ham\n" +
			"5,e,,Test,ham\n" +
			"6,f," + strings.Repeat("g", 257) + ",,ham\n",
		want: []Item{
			{Row: 1, ID: "1", Text: "a", Group: "thread-7", Test: true, Labels: map[string]string{"spam": "ham"}},
			{Row: 2, ID: "2", Text: "b", Group: "thread-7", Labels: map[string]string{"spam": "spam"}},
			{Row: 4, ID: "4", Text: "d", Test: true, Labels: map[string]string{"spam": "ham"}},
		},
		rejects: []reject{
			{3, `split is "train"; it must be "test" or empty (CSV line 4)`},
			{5, `split is "Test"; it must be "test" or empty (CSV line 6)`},
			{6, "group longer than 256 bytes (CSV line 7)"},
		},
	}, {
		name:    "text too long",
		content: "text\n0123456789\n01234567890\nok\n",
		opt:     Options{MaxTextBytes: 10},
		want:    []Item{{Row: 1, Text: "0123456789"}, {Row: 3, Text: "ok"}},
		rejects: []reject{{2, "text is 11 bytes, over the limit of 10 (CSV line 3)"}},
	}, {
		name:    "record too long, unquoted",
		content: "text,label\nfirst,a\n" + strings.Repeat("x", 100) + ",b\nlast,c\n",
		opt:     Options{MaxTextBytes: 10, MaxLineBytes: 50},
		want: []Item{
			{Row: 1, Text: "first", Labels: map[string]string{"label": "a"}},
			{Row: 3, Text: "last", Labels: map[string]string{"label": "c"}},
		},
		rejects: []reject{{2, "record longer than 50 bytes (CSV line 3)"}},
	}, {
		name:    "record too long, quoted newlines and quotes",
		content: "text,label\nfirst,a\n\"" + strings.Repeat("x\n\"\"y,", 30) + "\",b\nlast,c\n",
		opt:     Options{MaxTextBytes: 10, MaxLineBytes: 50},
		want: []Item{
			{Row: 1, Text: "first", Labels: map[string]string{"label": "a"}},
			{Row: 3, Text: "last", Labels: map[string]string{"label": "c"}},
		},
		rejects: []reject{{2, "record longer than 50 bytes (CSV line 3)"}},
	}, {
		name:    "unterminated quote runs to the end",
		content: "text\nfirst\n\"never closed\n" + strings.Repeat("more\n", 30),
		opt:     Options{MaxLineBytes: 50},
		want:    []Item{{Row: 1, Text: "first"}},
		rejects: []reject{{2, "record longer than 50 bytes (CSV line 3)"}},
	}, {
		name:    "unterminated quote at the end",
		content: "text\nfirst\n\"never closed\nmore\n",
		want:    []Item{{Row: 1, Text: "first"}},
		rejects: []reject{{2, `malformed CSV: extraneous or missing " in quoted-field (CSV line 3, error on line 4)`}},
	}, {
		// Ids are passed on as given: ingest rejects duplicates, for every
		// format at once (TestIngestDuplicateIDs).
		name:    "duplicate ids are passed on",
		content: "id,text\na,1\nb,2\na,3\n",
		want:    []Item{{Row: 1, ID: "a", Text: "1"}, {Row: 2, ID: "b", Text: "2"}, {Row: 3, ID: "a", Text: "3"}},
	}, {
		name:    "header only",
		content: "text,label\n",
	}, {
		name:    "empty file",
		content: "",
	}, {
		name:    "no text column",
		content: "id,body,label\n1,x,y\n",
		fileErr: `no "text" column; columns found: "id", "body", "label"`,
	}, {
		name:    "duplicate columns",
		content: "text,label,Label\nx,y,z\n",
		fileErr: `duplicate column "Label" (columns 2 and 3)`,
	}, {
		name:    "duplicate text columns",
		content: "Text,text\nx,y\n",
		fileErr: `duplicate column "text"`,
	}, {
		name:    "a task column that cannot name a task",
		content: "text,spam,victim/sub\nx,ham,y\n",
		fileErr: `column 3: task name "victim/sub" is not allowed: it contains a slash`,
	}, {
		name:    "bad header",
		content: "text,\"label\nx\n",
		fileErr: "unreadable header row",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			file := tc.file
			if file == "" {
				file = "incoming/reviews.csv"
			}
			res := parse(t, file, strings.NewReader(tc.content), tc.opt)
			res.check(t, file, tc.fileErr, tc.want, tc.rejects)
		})
	}
}

// TestCSVHugeField feeds a 10 MB quoted field, generated on the fly: it is
// rejected, the rows around it are kept, and memory stays bounded.
func TestCSVHugeField(t *testing.T) {
	const size = 10 << 20
	src := &countingReader{r: multi(
		"id,text\n1,before\n2,\"", &repeatReader{'a', size}, "\"\n3,after\n")}
	before := totalAlloc()
	res := parse(t, "big.csv", src, Options{MaxLineBytes: 1 << 20})
	allocated := totalAlloc() - before
	res.check(t, "big.csv", "", []Item{{Row: 1, ID: "1", Text: "before"}, {Row: 3, ID: "3", Text: "after"}},
		[]reject{{2, "record longer than 1048576 bytes (CSV line 3)"}})
	if src.n < size {
		t.Errorf("read %d bytes, want all of them", src.n)
	}
	if allocated > 8<<20 {
		t.Errorf("allocated %d MiB for a %d MiB field", allocated>>20, size>>20)
	}
}

// TestCSVFeedSynced guards the assumption csvFeed rests on: csv.Reader
// asks for no more input than the record it is reading.
func TestCSVFeedSynced(t *testing.T) {
	content := "text,label\n" + strings.Repeat("\"a\nb\",x\nplain,y\n\n", 500)
	br, _ := openText(strings.NewReader(content))
	feed := &csvFeed{src: br, limit: 1 << 20}
	cr := newCSVReader(feed, ',')
	for {
		if _, err := cr.Read(); err != nil {
			break
		}
		feed.mark(cr.InputOffset())
		if !feed.synced {
			t.Fatalf("csv.Reader read ahead: offset %d, fed %d", cr.InputOffset(), feed.fed)
		}
	}
}
