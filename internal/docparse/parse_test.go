package docparse

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// result is what Parse reported for one file.
type result struct {
	items   []Item
	rejects []RowError
	err     error
}

func parse(t *testing.T, name string, r io.Reader, opt Options) result {
	t.Helper()
	var res result
	res.err = Parse(context.Background(), name, r, opt,
		func(it Item) error { res.items = append(res.items, it); return nil },
		func(e RowError) {
			if e.File != name || e.Row < 1 || e.Reason == "" {
				t.Errorf("incomplete row error %+v", e)
			}
			res.rejects = append(res.rejects, e)
		})
	return res
}

// reject is an expected row error: its row and a part of its reason.
type reject struct {
	row    int
	reason string
}

func checkRejects(t *testing.T, got []RowError, want []reject) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("rejects = %v, want %v", got, want)
	}
	for i, w := range want {
		if got[i].Row != w.row || !strings.Contains(got[i].Reason, w.reason) {
			t.Errorf("reject %d = row %d %q, want row %d containing %q", i, got[i].Row, got[i].Reason, w.row, w.reason)
		}
	}
}

// check compares a parse's result with what a test wants: a FileError of
// file whose reason contains fileErr, or else these items and rejects.
func (res result) check(t *testing.T, file, fileErr string, want []Item, rejects []reject) {
	t.Helper()
	if fileErr != "" {
		var fe *FileError
		if !errors.As(res.err, &fe) || !strings.Contains(fe.Reason, fileErr) || fe.File != file {
			t.Fatalf("err = %v, want FileError %q of %s", res.err, fileErr, file)
		}
		return
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	checkItems(t, res.items, want)
	checkRejects(t, res.rejects, rejects)
}

func checkItems(t *testing.T, got, want []Item) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("items =\n%#v\nwant\n%#v", got, want)
	}
}

func TestPathLabels(t *testing.T) {
	for name, want := range map[string]map[string]string{
		"spam/ham/0001.eml":     {"spam": "ham"},
		"topic/sport/a b.txt":   {"topic": "sport"},
		"0001.eml":              nil,
		"ham/0001.eml":          nil,
		"a/spam/ham/0001.eml":   nil,
		"spam//0001.eml":        nil,
		"/ham/0001.eml":         nil,
		"spam/ham/":             nil,
		"reviews/positive/x.md": {"reviews": "positive"},
	} {
		if got := PathLabels(name); !reflect.DeepEqual(got, want) {
			t.Errorf("PathLabels(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestErrorStrings(t *testing.T) {
	e := RowError{File: "incoming/x.jsonl", Row: 7, Reason: "invalid UTF-8"}
	if got, want := e.Error(), "incoming/x.jsonl row 7: invalid UTF-8"; got != want {
		t.Errorf("RowError = %q, want %q", got, want)
	}
	fe := &FileError{File: "a.png", Reason: "binary content, not text"}
	if got, want := fe.Error(), "a.png: binary content, not text"; got != want {
		t.Errorf("FileError = %q, want %q", got, want)
	}
}

func TestDocuments(t *testing.T) {
	latin1 := "caf\xe9 cr\xe8me"
	utf16 := []byte{0xff, 0xfe}
	for _, r := range "héllo wörld" {
		utf16 = append(utf16, byte(r), byte(r>>8))
	}
	for _, tc := range []struct {
		name, content string
		opt           Options
		want          []Item
		rejects       []reject
		fileErr       string
	}{{
		name:    "notes.txt",
		content: "  Hello   world.\n\n\n\nSecond\tparagraph.  \n",
		want:    []Item{{Row: 1, Text: "Hello world.\n\nSecond paragraph."}},
	}, {
		name:    "sentiment/positive/review.TXT",
		content: "Great film.",
		want:    []Item{{Row: 1, Text: "Great film.", Labels: map[string]string{"sentiment": "positive"}}},
	}, {
		name:    "crlf.md",
		content: "\xef\xbb\xbf# Title\r\n\r\nline one\r\nline two\r\n",
		want:    []Item{{Row: 1, Text: "# Title\n\nline one\nline two"}},
	}, {
		name:    "latin1.txt",
		content: latin1,
		want:    []Item{{Row: 1, Text: "café crème"}},
	}, {
		name:    "windows.txt",
		content: string(utf16),
		want:    []Item{{Row: 1, Text: "héllo wörld"}},
	}, {
		name:    "page.html",
		content: "<html><head><title>T</title><style>p{}</style></head><body><p>Caf&eacute; &amp; bar</p><script>x()</script><div>next</div></body></html>",
		want:    []Item{{Row: 1, Text: "Café & bar\n\nnext"}},
	}, {
		name:    "koi8.htm",
		content: "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=koi8-r\"></head><body>\xf0\xd2\xc9\xd7\xc5\xd4</body></html>",
		want:    []Item{{Row: 1, Text: "Привет"}},
	}, {
		name:    "noext",
		content: "<!DOCTYPE html>\n<p>sniffed <b>as</b> HTML</p>",
		want:    []Item{{Row: 1, Text: "sniffed as HTML"}},
	}, {
		name:    "mail.txt", // sniffed as mail whatever the extension
		content: "Received: from x\nSubject: Hi there\nX-Junk: 1\n\nBody text.\n",
		want:    []Item{{Row: 1, Text: "Hi there\n\nBody text."}},
	}, {
		name:    "not-mail.txt",
		content: "Title: my notes\nThis line is no header\n",
		want:    []Item{{Row: 1, Text: "Title: my notes\nThis line is no header"}},
	}, {
		name:    "blank.txt",
		content: " \n\t\r\n ",
		rejects: []reject{{1, "no text"}},
	}, {
		name:    "empty.txt",
		content: "",
	}, {
		name:    "bom-only.txt",
		content: "\xef\xbb\xbf",
	}, {
		name:    "image.png",
		content: "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + randomBytes(3000),
		fileErr: "binary content, not text",
	}, {
		name:    " spam/ham/a.txt", // a path label whose task cannot name a task
		content: "hello",
		rejects: []reject{{1, `path label: task name " spam" is not allowed`}},
	}, {
		name:    "export.jsonl", // gzip named as JSON Lines
		content: gzipped(strings.Repeat(`{"text": "hello"}`+"\n", 500)),
		fileErr: "binary content, not text",
	}, {
		name:    "export.csv",
		content: gzipped("text,spam\n" + strings.Repeat("hello,ham\n", 500)),
		fileErr: "binary content, not text",
	}, {
		name:    "export.tsv",
		content: "\x00\x01\x02" + randomBytes(2000),
		fileErr: "binary content, not text",
	}, {
		name:    "random.txt", // no NUL, yet not text
		content: strings.ReplaceAll(randomBytes(4000), "\x00", "\x01"),
		fileErr: "binary content, not text",
	}, {
		name:    "big.txt",
		content: strings.Repeat("word ", 300),
		opt:     Options{MaxFileBytes: 1000},
		fileErr: "larger than the 1000-byte limit",
	}, {
		name:    "long.txt",
		content: strings.Repeat("word ", 300),
		opt:     Options{MaxTextBytes: 1000},
		rejects: []reject{{1, "over the limit of 1000"}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			res := parse(t, tc.name, strings.NewReader(tc.content), tc.opt)
			res.check(t, tc.name, tc.fileErr, tc.want, tc.rejects)
		})
	}
}

func gzipped(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func randomBytes(n int) string {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return string(b)
}

func TestCancel(t *testing.T) {
	jsonl := strings.Repeat(`{"text":"x"}`+"\n", 100)
	csv := "text\n" + strings.Repeat("x\n", 100)
	for _, tc := range []struct{ name, content string }{
		{"a.jsonl", jsonl}, {"a.csv", csv}, {"a.txt", "some text"}, {"a.eml", "Subject: s\n\nbody"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Cancelled before the start: nothing is emitted.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			n := 0
			err := Parse(ctx, tc.name, strings.NewReader(tc.content), Options{},
				func(Item) error { n++; return nil }, nil)
			if err != context.Canceled || n != 0 {
				t.Errorf("err = %v after %d items, want context.Canceled after none", err, n)
			}
		})
	}
	// Cancelled while parsing: Parse stops at the next row.
	for _, tc := range []struct{ name, content string }{{"a.jsonl", jsonl}, {"a.csv", csv}} {
		t.Run(tc.name+"/midway", func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			n := 0
			err := Parse(ctx, tc.name, strings.NewReader(tc.content), Options{},
				func(Item) error {
					if n++; n == 3 {
						cancel()
					}
					return nil
				}, nil)
			if err != context.Canceled || n != 3 {
				t.Errorf("err = %v after %d items, want context.Canceled after 3", err, n)
			}
		})
	}
}

func TestEmitError(t *testing.T) {
	stop := errors.New("stop")
	for _, name := range []string{"a.jsonl", "a.csv", "a.txt"} {
		content := map[string]string{"a.jsonl": `{"text":"x"}` + "\n" + `{"text":"y"}`, "a.csv": "text\nx\ny\n", "a.txt": "x"}[name]
		n := 0
		err := Parse(context.Background(), name, strings.NewReader(content), Options{},
			func(Item) error { n++; return stop }, nil)
		if err != stop || n != 1 {
			t.Errorf("%s: err = %v after %d items, want the emit error after 1", name, err, n)
		}
	}
}

// failingReader returns its content, then err.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(b []byte) (int, error) {
	n, err := f.r.Read(b)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func TestReadError(t *testing.T) {
	broken := errors.New("connection reset")
	for _, tc := range []struct{ name, content string }{
		{"a.jsonl", `{"text":"x"}` + "\n" + `{"text":"y`},
		{"a.csv", "text\nx\n\"y"},
		{"a.txt", "some text"},
		{"a.eml", "Subject: s\n\nbody"},
	} {
		res := parse(t, tc.name, &failingReader{strings.NewReader(tc.content), broken}, Options{})
		var fe *FileError
		if !errors.Is(res.err, broken) || errors.As(res.err, &fe) || !strings.Contains(res.err.Error(), tc.name) {
			t.Errorf("%s: err = %v, want a wrapped read error", tc.name, res.err)
		}
		if len(res.rejects) != 0 {
			t.Errorf("%s: a read error rejected rows: %v", tc.name, res.rejects)
		}
	}
}

// repeatReader yields n copies of one byte without holding them.
type repeatReader struct {
	c byte
	n int64
}

func (r *repeatReader) Read(b []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(b)), r.n))
	for i := range b[:n] {
		b[i] = r.c
	}
	r.n -= int64(n)
	return n, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

func multi(parts ...any) io.Reader {
	var rs []io.Reader
	for _, p := range parts {
		switch p := p.(type) {
		case string:
			rs = append(rs, strings.NewReader(p))
		case io.Reader:
			rs = append(rs, p)
		}
	}
	return io.MultiReader(rs...)
}
