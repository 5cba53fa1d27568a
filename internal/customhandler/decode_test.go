package customhandler

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	long := strings.Repeat(`a\\b\"c`, 40_000) // escapes across the reader's 64 KiB buffer
	tests := []struct {
		name    string
		in      string
		skip    []string
		want    *InvokeRequest
		wantErr string
	}{
		{
			name: "all kept",
			in:   `{"Data": {"req": {"Body": "x\"}", "n": [1, {"a": null}]}}, "Metadata": {"name": "\"a.txt\"", "n": 3}}`,
			want: &InvokeRequest{
				Data:     map[string]json.RawMessage{"req": json.RawMessage(`{"Body": "x\"}", "n": [1, {"a": null}]}`)},
				Metadata: map[string]json.RawMessage{"name": json.RawMessage(`"\"a.txt\""`), "n": json.RawMessage(`3`)},
			},
		},
		{
			name: "blob skipped",
			in:   `{"Data":{"blob":"` + long + `","other":true},"Metadata":{"k":"v"}}`,
			skip: []string{"blob"},
			want: &InvokeRequest{
				Data:     map[string]json.RawMessage{"other": json.RawMessage(`true`)},
				Metadata: map[string]json.RawMessage{"k": json.RawMessage(`"v"`)},
			},
		},
		{
			name: "long value kept",
			in:   `{"Data":{"blob":"` + long + `"}}`,
			want: &InvokeRequest{
				Data:     map[string]json.RawMessage{"blob": json.RawMessage(`"` + long + `"`)},
				Metadata: map[string]json.RawMessage{},
			},
		},
		{
			name: "unknown keys and nulls",
			in:   ` {"Other": [1,2], "Data": null, "Metadata": {}} ` + "\n",
			want: &InvokeRequest{Data: map[string]json.RawMessage{}, Metadata: map[string]json.RawMessage{}},
		},
		{name: "trailing garbage", in: `{"Data":{}} x`, wantErr: "data after the object"},
		{name: "two objects", in: `{"Data":{}}{}`, wantErr: "data after the object"},
		{name: "truncated in a skipped string", in: `{"Data":{"blob":"abc`, skip: []string{"blob"}, wantErr: "unexpected end"},
		{name: "truncated object", in: `{"Data":{"req":{"a":1}`, wantErr: "unexpected end"},
		{name: "not an object", in: `[1]`, wantErr: "want an object"},
		{name: "bad kept value", in: `{"Data":{"req":{"a" 1}}}`, wantErr: "not valid JSON"},
		{name: "bad literal", in: `{"Data":{"req":tru}}`, wantErr: "bad literal"},
		{name: "empty", in: ``, wantErr: "unexpected end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(strings.NewReader(tt.in), tt.skip...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestDecodeMatchesUnmarshal: what Decode keeps is what encoding/json reads.
func TestDecodeMatchesUnmarshal(t *testing.T) {
	req := BlobTriggerRequest("EmbedBlob", "blob", "http://127.0.0.1:10000/devstoreaccount1/incoming/a b.txt", "a b.txt",
		[]byte(strings.Repeat("x\\\"\x00\xff", 50_000)), BlobProperties{ETag: `"0x8D1"`})
	wire, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var want InvokeRequest
	if err := json.Unmarshal(wire, &want); err != nil {
		t.Fatal(err)
	}
	got, err := Decode(strings.NewReader(string(wire)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, want) {
		t.Error("Decode and json.Unmarshal differ")
	}
	skipped, err := Decode(strings.NewReader(string(wire)), "blob")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := skipped.Data["blob"]; ok {
		t.Error("the skipped binding was kept")
	}
	if !reflect.DeepEqual(skipped.Metadata, want.Metadata) {
		t.Error("metadata differs when the blob is skipped")
	}
}

// FuzzDecode: on any input Decode either fails or keeps exactly what
// encoding/json reads from the same invocation.
func FuzzDecode(f *testing.F) {
	f.Add(`{"Data":{"req":{"Body":"x\"}"}},"Metadata":{"name":"\"a\""}}`)
	f.Add(`{"Data":{"blob":"YWJj\\\\"},"Metadata":{}}`)
	f.Add(`{"Data":null,"Metadata":{"n":[1,{"a":true}]}}`)
	f.Fuzz(func(t *testing.T, in string) {
		got, err := Decode(strings.NewReader(in))
		var want InvokeRequest
		wantErr := json.Unmarshal([]byte(in), &want)
		if err != nil {
			return // stricter than encoding/json is fine (e.g. duplicate keys are not merged)
		}
		if wantErr != nil {
			t.Fatalf("Decode accepted %q, which encoding/json refuses: %v", in, wantErr)
		}
		for k, v := range got.Data {
			if !jsonEqual(v, want.Data[k]) {
				t.Fatalf("Data[%q] = %s, encoding/json read %s", k, v, want.Data[k])
			}
		}
		for k, v := range got.Metadata {
			if !jsonEqual(v, want.Metadata[k]) {
				t.Fatalf("Metadata[%q] = %s, encoding/json read %s", k, v, want.Metadata[k])
			}
		}
	})
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}
