package docparse

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseLabels(t *testing.T) {
	l := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name, file, content string
		want                []LabelRow
		rejects             []reject
		fileErr             string
	}{{
		name: "JSON Lines, each way of naming documents",
		file: "x.jsonl",
		content: `{"document": 12, "labels": {"topic": "sport"}}
{"source": "incoming/a.csv", "item": "r7", "labels": {"topic": "news", "spam": ""}}
{"source": "a.csv", "id": 7, "labels": {"topic": null}}
{"text": "  verbatim text ", "labels": {"topic": " x "}}

{"document": 3, "source": "ignored.csv", "item": "1", "text": "ignored", "labels": {"t": "first wins"}}
{"source": "", "item": "1", "text": "falls to text", "labels": {"t": "a"}}
`,
		want: []LabelRow{
			{Row: 1, Document: 12, Labels: l("topic", "sport")},
			{Row: 2, Source: "incoming/a.csv", Item: "r7", Labels: l("topic", "news", "spam", "")},
			{Row: 3, Source: "a.csv", Item: "7", Labels: l("topic", "")},
			{Row: 4, Text: "  verbatim text ", Labels: l("topic", "x")},
			{Row: 6, Document: 3, Labels: l("t", "first wins")},
			{Row: 7, Text: "falls to text", Labels: l("t", "a")},
		},
	}, {
		name: "JSON Lines, bad rows",
		file: "x.ndjson",
		content: `{"document": 1}
{"document": 1, "labels": {}}
{"labels": {"t": "a"}}
{"item": "3", "labels": {"t": "a"}}
{"source": "a.csv", "labels": {"t": "a"}}
{"document": "12", "labels": {"t": "a"}}
{"document": 0, "labels": {"t": "a"}}
{"document": 1.5, "labels": {"t": "a"}}
{"document": 1, "labels": {"a/b": "x"}}
{"document": 1, "labels": {"t": 3}}
{"source": "a.csv", "item": "1", "id": "2", "labels": {"t": "a"}}
{"text": "   ", "labels": {"t": "a"}}
not json
{"document": 5, "labels": {"t": "ok"}}
`,
		want: []LabelRow{{Row: 14, Document: 5, Labels: l("t", "ok")}},
		rejects: []reject{
			{1, "no labels"}, {2, "no labels"}, {3, "no document named"}, {4, "no document named"},
			{5, `source "a.csv" without an item`}, {6, "document is not a number"},
			{7, "document 0 is not a document id"}, {8, "document 1.5 is not a document id"},
			{9, "contains a slash"}, {10, `label of task "t" is not a string`},
			{11, `both "item" and "id"`}, {12, "no document named"}, {13, "invalid JSON"},
		},
	}, {
		name: "CSV: columns name documents, every other column is a task",
		file: "x.csv",
		content: `Document,source,Item,text,topic,spam
12,,,,sport,
,incoming/a.csv,r7,,news,ham
,,,some text,x,y
,,r9,other text,z,
`,
		want: []LabelRow{
			{Row: 1, Document: 12, Labels: l("topic", "sport", "spam", "")},
			{Row: 2, Source: "incoming/a.csv", Item: "r7", Labels: l("topic", "news", "spam", "ham")},
			{Row: 3, Text: "some text", Labels: l("topic", "x", "spam", "y")},
			{Row: 4, Text: "other text", Labels: l("topic", "z", "spam", "")},
		},
	}, {
		name:    "CSV: the upload format's id column is the item",
		file:    "x.tsv",
		content: "source\tid\tnew task\nreviews.csv\t7\tyes\n",
		want:    []LabelRow{{Row: 1, Source: "reviews.csv", Item: "7", Labels: l("new task", "yes")}},
	}, {
		name:    "CSV: bad rows",
		file:    "x.csv",
		content: "document,text,t\nabc,,a\n-1,,a\n,,a\n1,x\n2,,b\n",
		want:    []LabelRow{{Row: 5, Document: 2, Labels: l("t", "b")}},
		rejects: []reject{
			{1, `document "abc" is not a document id (a positive integer) (CSV line 2)`}, {2, `document "-1"`},
			{3, "or text (CSV line 4)"}, {4, "2 fields, the header has 3"},
		},
	}, {
		name:    "CSV: no column names a document",
		file:    "x.csv",
		content: "item,topic\n1,a\n",
		fileErr: "no column names a document",
	}, {
		name:    "CSV: source without item",
		file:    "x.csv",
		content: "source,topic\na.csv,a\n",
		fileErr: `a "source" column needs an "item"`,
	}, {
		name:    "CSV: no task column",
		file:    "x.csv",
		content: "document,text\n1,a\n",
		fileErr: "no task column",
	}, {
		name:    "CSV: item and id",
		file:    "x.csv",
		content: "source,item,id,t\na,1,2,x\n",
		fileErr: `both an "item" and an "id" column`,
	}, {
		name:    "CSV: a column that cannot name a task",
		file:    "x.csv",
		content: "document,a/b\n1,x\n",
		fileErr: "column 2",
	}, {
		name:    "another format",
		file:    "x.txt",
		content: "document 1 is spam\n",
		fileErr: `a labels file must be CSV (.csv, .tsv) or JSON Lines (.jsonl, .ndjson), not ".txt"`,
	}, {
		name:    "empty file",
		file:    "x.csv",
		content: "",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var got []LabelRow
			var rejects []RowError
			err := ParseLabels(t.Context(), "_labels/"+tc.file, strings.NewReader(tc.content), Options{},
				func(lr LabelRow) error { got = append(got, lr); return nil },
				func(re RowError) { rejects = append(rejects, re) })
			if tc.fileErr != "" {
				var fe *FileError
				if !errors.As(err, &fe) || !strings.Contains(fe.Reason, tc.fileErr) {
					t.Fatalf("error %v, want a FileError containing %q", err, tc.fileErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("rows\n got %+v\nwant %+v", got, tc.want)
			}
			checkRejects(t, rejects, tc.rejects)
			for _, re := range rejects {
				if re.File != "_labels/"+tc.file {
					t.Errorf("reject names file %q", re.File)
				}
			}
		})
	}
}

// TestParseLabelsEmitError: emit's error stops the parse and is returned
// as it is.
func TestParseLabelsEmitError(t *testing.T) {
	stop := errors.New("stop")
	err := ParseLabels(t.Context(), "x.jsonl", strings.NewReader(`{"document": 1, "labels": {"t": "a"}}`+"\n"), Options{},
		func(LabelRow) error { return stop }, nil)
	if err != stop {
		t.Errorf("error %v, want emit's", err)
	}
}
