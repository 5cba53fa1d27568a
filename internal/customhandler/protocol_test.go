package customhandler

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestMetaString(t *testing.T) {
	tests := []struct {
		raw  string
		want string
	}{
		{`"\"a/b.txt\""`, "a/b.txt"}, // encoded twice, as the host usually does
		{`"a/b.txt"`, "a/b.txt"},     // encoded once
		{`42`, "42"},
		{`"\"\""`, ""},
		{`"\"with \\\"quotes\\\"\""`, `with "quotes"`},
	}
	for _, tt := range tests {
		r := InvokeRequest{Metadata: map[string]json.RawMessage{"k": json.RawMessage(tt.raw)}}
		if got := r.MetaString("k"); got != tt.want {
			t.Errorf("MetaString(%s) = %q, want %q", tt.raw, got, tt.want)
		}
	}
	if got := (&InvokeRequest{}).MetaString("missing"); got != "" {
		t.Errorf("missing key: got %q", got)
	}
}

func TestBlobPath(t *testing.T) {
	tests := []struct {
		name          string
		meta          map[string]string
		wantContainer string
		wantName      string
		wantErr       bool
	}{
		{"azurite uri", map[string]string{"Uri": "http://127.0.0.1:10000/devstoreaccount1/incoming/spam/ham/a%20b.eml", "name": "spam/ham/a b.eml"}, "incoming", "spam/ham/a b.eml", false},
		{"azure uri", map[string]string{"Uri": "https://acct.blob.core.windows.net/incoming/x.csv"}, "incoming", "x.csv", false},
		{"name only", map[string]string{"name": "dir/x.jsonl"}, "incoming", "dir/x.jsonl", false},
		{"neither", map[string]string{}, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := InvokeRequest{Metadata: map[string]json.RawMessage{}}
			for k, v := range tt.meta {
				r.Metadata[k] = twice(v)
			}
			c, n, err := r.BlobPath("incoming")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if c != tt.wantContainer || n != tt.wantName {
				t.Errorf("got %q %q, want %q %q", c, n, tt.wantContainer, tt.wantName)
			}
		})
	}
}

func TestBlobTriggerRequestRoundTrip(t *testing.T) {
	content := []byte("hello\x00\xff binary-safe")
	req := BlobTriggerRequest("EmbedBlob", "blob", "http://127.0.0.1:10000/devstoreaccount1/incoming/a.txt", "a.txt",
		content, BlobProperties{ETag: `"0x8D1"`})
	wire, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var back InvokeRequest
	if err := json.Unmarshal(wire, &back); err != nil {
		t.Fatal(err)
	}
	got, err := back.BlobContent("blob")
	if err != nil || string(got) != string(content) {
		t.Fatalf("content = %q, %v", got, err)
	}
	if _, ok := back.Metadata["BlobTrigger"]; ok {
		t.Error("the host never sends BlobTrigger metadata")
	}
	var props BlobProperties
	if err := back.MetaObject("Properties", &props); err != nil {
		t.Fatal(err)
	}
	if props.ETag != `"0x8D1"` || props.ContentLength != int64(len(content)) {
		t.Errorf("props = %+v", props)
	}
	if back.MetaString("name") != "a.txt" {
		t.Errorf("name = %q", back.MetaString("name"))
	}
}

// TestWriteBlobTrigger: the streamed invocation is the one BlobTriggerRequest
// builds.
func TestWriteBlobTrigger(t *testing.T) {
	content := []byte(strings.Repeat("hello\x00\xff binary-safe ", 10_000))
	props := BlobProperties{ETag: `"0x8D1"`, ContentLength: int64(len(content))}
	var b bytes.Buffer
	if err := WriteBlobTrigger(&b, "EmbedBlob", "blob", "http://h/acct/incoming/a.txt", "a.txt", bytes.NewReader(content), props); err != nil {
		t.Fatal(err)
	}
	var got InvokeRequest
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := BlobTriggerRequest("EmbedBlob", "blob", "http://h/acct/incoming/a.txt", "a.txt", content, props)
	if c, err := got.BlobContent("blob"); err != nil || !bytes.Equal(c, content) {
		t.Fatalf("content differs: %v", err)
	}
	for _, k := range []string{"Uri", "name", "Properties", "Metadata"} {
		if string(got.Metadata[k]) != string(want.Metadata[k]) {
			t.Errorf("metadata %s = %s, want %s", k, got.Metadata[k], want.Metadata[k])
		}
	}
}
