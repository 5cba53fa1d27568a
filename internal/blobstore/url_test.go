package blobstore

import (
	"strings"
	"testing"
)

func TestSplitBlobURL(t *testing.T) {
	tests := []struct {
		url       string
		container string
		name      string
		wantErr   string
	}{
		{"http://127.0.0.1:10000/devstoreaccount1/incoming/a/b.txt", "incoming", "a/b.txt", ""},
		{"http://127.0.0.1:10000/devstoreaccount1/incoming/spam/ham/a%20b.eml", "incoming", "spam/ham/a b.eml", ""},
		{"http://localhost:10000/devstoreaccount1/incoming/x.csv", "incoming", "x.csv", ""},
		{"http://azurite:10000/devstoreaccount1/incoming/x.csv", "incoming", "x.csv", ""},
		{"http://[::1]:10000/devstoreaccount1/incoming/x.csv", "incoming", "x.csv", ""},
		{"https://acct.blob.core.windows.net/incoming/a/b.txt", "incoming", "a/b.txt", ""},
		{"https://acct.blob.core.windows.net/incoming/%C3%A9t%C3%A9/r%C3%A9sum%C3%A9%2B1.txt", "incoming", "été/résumé+1.txt", ""},
		{"https://acct.blob.core.windows.net/incoming/a+b%3Fc%23d.txt", "incoming", "a+b?c#d.txt", ""},
		{"https://acct.blob.core.windows.net/incoming/a/b.txt?sv=2020&sig=SECRET", "incoming", "a/b.txt", ""},
		{"https://acct.privatelink.blob.core.windows.net/models/spam/3/model.onnx", "models", "spam/3/model.onnx", ""},
		{"https://acct.blob.core.windows.net/incoming/dir/", "incoming", "dir/", ""},
		{"https://acct.blob.core.windows.net/incoming", "", "", "no container and blob"},
		{"https://acct.blob.core.windows.net/incoming/", "", "", "no container and blob"},
		{"https://acct.blob.core.windows.net/", "", "", "no container and blob"},
		{"http://127.0.0.1:10000/devstoreaccount1/incoming", "", "", "no container and blob"},
		{"http://127.0.0.1:10000/devstoreaccount1", "", "", "no account"},
		{"incoming/a.txt", "", "", "want an http or https URL"},
		{"ftp://acct.blob.core.windows.net/incoming/a.txt", "", "", "want an http or https URL"},
		{"https://acct.blob.core.windows.net/incoming/bad%zzname?sig=SECRET", "", "", "parse blob URL"},
		{"https://acct.blob.core.windows.net/in coming\x7f/a?sig=SECRET", "", "", "parse blob URL"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			c, n, err := SplitBlobURL(tt.url)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("SplitBlobURL() = %q, %q, %v; want an error mentioning %q", c, n, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "SECRET") {
					t.Errorf("the error shows the query: %v", err)
				}
				return
			}
			if err != nil || c != tt.container || n != tt.name {
				t.Fatalf("SplitBlobURL() = %q, %q, %v; want %q, %q", c, n, err, tt.container, tt.name)
			}
		})
	}
}
