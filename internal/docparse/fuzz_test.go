package docparse

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzParse parses data as the named file with small limits and checks
// what every parse must guarantee.
func fuzzParse(t *testing.T, name string, data []byte) {
	opt := Options{MaxTextBytes: 64, MaxLineBytes: 256, MaxFileBytes: 4096}
	lastRow := 0
	err := Parse(context.Background(), name, bytes.NewReader(data), opt,
		func(it Item) error {
			if it.Row <= lastRow {
				t.Fatalf("row %d after row %d", it.Row, lastRow)
			}
			lastRow = it.Row
			if strings.TrimSpace(it.Text) == "" || len(it.Text) > opt.MaxTextBytes || !utf8.ValidString(it.Text) {
				t.Fatalf("bad text %q", it.Text)
			}
			for task, label := range it.Labels {
				if task == "" || !utf8.ValidString(task) || !utf8.ValidString(label) {
					t.Fatalf("bad labels %q", it.Labels)
				}
			}
			return nil
		},
		func(e RowError) {
			if e.Row < 1 || e.Reason == "" {
				t.Fatalf("bad row error %+v", e)
			}
		})
	var fe *FileError
	if err != nil && !errors.As(err, &fe) {
		t.Fatalf("err = %v", err)
	}
}

func FuzzParseJSONL(f *testing.F) {
	for _, s := range []string{
		`{"id": "a", "text": "hello", "labels": {"spam": "ham"}}`,
		`{"id": 1e3, "text": "x"}` + "\r\n\r\n" + `{"text": "y", "labels": null}`,
		"\xef\xbb\xbf{\"text\": \"\\u00e9\\ud800\"}\n[1]\nnull\n{\"text\": \"caf\xe9\"}",
		`{"text": "` + strings.Repeat("long ", 100) + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzParse(t, "f.jsonl", data)
	})
}

func FuzzParseCSV(f *testing.F) {
	for _, s := range []string{
		"id,text,label\n1,hello,a\n2,\"multi\nline\",b\n",
		"text\n\"bad \"quote\"\nbare\"quote\n\"" + strings.Repeat("x\n", 200) + "\"\nok\n",
		",Text,x,X\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzParse(t, "f.csv", data)
	})
}

func FuzzParseMail(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.eml"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("Subject: s\nContent-Type: multipart/mixed; boundary=M\n\n--M\nContent-Type: message/rfc822\n\nSubject: t\n\nx\n--M--\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzParse(t, "f.eml", data)
	})
}
