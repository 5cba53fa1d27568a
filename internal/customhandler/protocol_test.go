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

// TestEventGridEvent decodes an eventGridTrigger's value in each form the
// host may pass it (an object, or a string holding it) and finds the blob
// from the subject, or else from the data's url.
func TestEventGridEvent(t *testing.T) {
	const url = "https://acct.blob.core.windows.net/incoming/dir/a%20b.jsonl"
	ev := BlobDeletedEventFor(url, "incoming", "dir/a b.jsonl")
	object := EventGridTriggerRequest("BlobDeleted", "event", ev)
	asString := EventGridTriggerRequest("BlobDeleted", "event", ev)
	asString.Data["event"] = mustJSON(string(object.Data["event"]))
	twiceEncoded := EventGridTriggerRequest("BlobDeleted", "event", ev)
	twiceEncoded.Data["event"] = twice(string(object.Data["event"]))
	noSubject := ev
	noSubject.Subject = ""
	tests := []struct {
		name          string
		req           InvokeRequest
		wantContainer string
		wantName      string
		wantErr       bool
	}{
		{"object", object, "incoming", "dir/a b.jsonl", false},
		{"string", asString, "incoming", "dir/a b.jsonl", false},
		{"string encoded twice", twiceEncoded, "incoming", "dir/a b.jsonl", false},
		{"url only", EventGridTriggerRequest("BlobDeleted", "event", noSubject), "incoming", "dir/a b.jsonl", false},
		{"no blob", EventGridTriggerRequest("BlobDeleted", "event", EventGridEvent{ID: "1", Subject: "/x"}), "", "", true},
		{"no binding", InvokeRequest{}, "", "", true},
		{"not an event", InvokeRequest{Data: map[string]json.RawMessage{"event": json.RawMessage(`[1]`)}}, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wire, err := json.Marshal(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			var back InvokeRequest
			if err := json.Unmarshal(wire, &back); err != nil {
				t.Fatal(err)
			}
			got, err := back.EventGridEvent("event")
			var c, n string
			if err == nil {
				c, n, err = got.BlobPath()
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if c != tt.wantContainer || n != tt.wantName {
				t.Errorf("blob %q %q, want %q %q", c, n, tt.wantContainer, tt.wantName)
			}
			if !tt.wantErr && (got.EventType != BlobDeletedEvent || got.ID != ev.ID) {
				t.Errorf("event %+v", got)
			}
		})
	}
	var data StorageBlobEventData
	if err := object.MetaObject("data", &data); err != nil || data.URL != url || data.API != "DeleteBlob" {
		t.Errorf("metadata data = %+v, %v; want the event's data", data, err)
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
