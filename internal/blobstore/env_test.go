package blobstore

import (
	"strings"
	"testing"

	"github.com/tinyhead/tinyhead/internal/azurite"
)

func TestNewFromEnv(t *testing.T) {
	const key = azurite.AccountKey
	tests := []struct {
		name       string
		connection string
		env        map[string]string
		wantURL    string
		wantAuth   string
		wantErr    []string // substrings of the error
	}{
		{
			name:       "connection string",
			connection: "Storage",
			env: map[string]string{"Storage": "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + key +
				";EndpointSuffix=core.windows.net"},
			wantURL:  "https://acct.blob.core.windows.net/",
			wantAuth: "connection string",
		},
		{
			name:       "connection string with blob endpoint",
			connection: "Storage",
			env: map[string]string{"Storage": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + key +
				";BlobEndpoint=http://127.0.0.1:41234/devstoreaccount1;"},
			wantURL:  "http://127.0.0.1:41234/devstoreaccount1/",
			wantAuth: "connection string",
		},
		{
			name:       "development storage",
			connection: "AzureWebJobsStorage",
			env:        map[string]string{"AzureWebJobsStorage": "UseDevelopmentStorage=true"},
			wantURL:    "http://127.0.0.1:10000/devstoreaccount1/",
			wantAuth:   "development storage",
		},
		{
			name:     "empty connection is AzureWebJobsStorage",
			env:      map[string]string{"AzureWebJobsStorage": " usedevelopmentstorage=TRUE; "},
			wantURL:  "http://127.0.0.1:10000/devstoreaccount1/",
			wantAuth: "development storage",
		},
		{
			name:       "AzureWebJobs prefix",
			connection: "Storage",
			env:        map[string]string{"AzureWebJobsStorage": "UseDevelopmentStorage=true"},
			wantURL:    "http://127.0.0.1:10000/devstoreaccount1/",
			wantAuth:   "development storage",
		},
		{
			name:       "SAS connection string",
			connection: "Storage",
			env:        map[string]string{"Storage": "BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=sv=2022-11-02&sig=SECRET"},
			wantURL:    "https://acct.blob.core.windows.net/",
			wantAuth:   "connection string",
		},
		{
			name:       "malformed connection string",
			connection: "Storage",
			env:        map[string]string{"Storage": "AccountName=acct;AccountKey=SECRET"},
			wantErr:    []string{"Storage"},
		},
		{
			name:       "identity, default credential",
			connection: "Storage",
			env:        map[string]string{"Storage__blobServiceUri": "https://acct.blob.core.windows.net"},
			wantURL:    "https://acct.blob.core.windows.net",
			wantAuth:   "DefaultAzureCredential",
		},
		{
			name:       "identity, serviceUri",
			connection: "Storage",
			env:        map[string]string{"Storage__serviceUri": "https://acct.blob.core.windows.net/"},
			wantURL:    "https://acct.blob.core.windows.net/",
			wantAuth:   "DefaultAzureCredential",
		},
		{
			name:       "identity, accountName",
			connection: "Storage",
			env:        map[string]string{"Storage__accountName": "acct", "Storage__credential": "managedidentity"},
			wantURL:    "https://acct.blob.core.windows.net/",
			wantAuth:   "managed identity (system-assigned)",
		},
		{
			name:       "identity, user-assigned",
			connection: "AzureWebJobsStorage",
			env: map[string]string{
				"AzureWebJobsStorage__blobServiceUri":  "https://acct.blob.core.windows.net/",
				"AzureWebJobsStorage__queueServiceUri": "https://acct.queue.core.windows.net/",
				"AzureWebJobsStorage__credential":      "managedidentity",
				"AzureWebJobsStorage__clientId":        "00000000-1111-2222-3333-444444444444",
			},
			wantURL:  "https://acct.blob.core.windows.net/",
			wantAuth: "managed identity (client ID 00000000-1111-2222-3333-444444444444)",
		},
		{
			name:       "identity under the AzureWebJobs prefix",
			connection: "Storage",
			env:        map[string]string{"AzureWebJobsStorage__blobServiceUri": "https://acct.blob.core.windows.net/"},
			wantURL:    "https://acct.blob.core.windows.net/",
			wantAuth:   "DefaultAzureCredential",
		},
		{
			name:       "connection string wins over identity",
			connection: "Storage",
			env: map[string]string{
				"Storage":                 "UseDevelopmentStorage=true",
				"Storage__blobServiceUri": "https://acct.blob.core.windows.net/",
			},
			wantURL:  "http://127.0.0.1:10000/devstoreaccount1/",
			wantAuth: "development storage",
		},
		{
			name:       "nothing set",
			connection: "Storage",
			env:        map[string]string{},
			wantErr:    []string{`"Storage" is not configured`, "Storage__blobServiceUri"},
		},
		{
			name:       "managed identity without a service URI",
			connection: "Storage",
			env:        map[string]string{"Storage__credential": "managedidentity", "Storage__clientId": "abc"},
			wantErr:    []string{"Storage__blobServiceUri is not"},
		},
		{
			name:       "service URI not a URL",
			connection: "Storage",
			env:        map[string]string{"Storage__blobServiceUri": "acct.blob.core.windows.net"},
			wantErr:    []string{"Storage__blobServiceUri is not an http(s) URL"},
		},
		{
			name:       "unknown credential",
			connection: "Storage",
			env:        map[string]string{"Storage__blobServiceUri": "https://acct.blob.core.windows.net/", "Storage__credential": "password"},
			wantErr:    []string{"Storage__credential", "managedidentity"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewFromEnv(tt.connection, func(k string) string { return tt.env[k] })
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("NewFromEnv() succeeded (%s, %s), want an error", c.ServiceURL(), c.Auth())
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), key) {
					t.Errorf("the error shows a secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewFromEnv() error = %v", err)
			}
			if got := c.ServiceURL(); got != tt.wantURL {
				t.Errorf("ServiceURL() = %q, want %q", got, tt.wantURL)
			}
			if got := c.Auth(); got != tt.wantAuth {
				t.Errorf("Auth() = %q, want %q", got, tt.wantAuth)
			}
			if u := c.URL("incoming", "a b/c.txt"); strings.Contains(u, "SECRET") || !strings.HasSuffix(u, "/incoming/a%20b/c.txt") {
				t.Errorf("URL() = %q", u)
			}
		})
	}
}
