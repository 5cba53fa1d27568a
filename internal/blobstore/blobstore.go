// Package blobstore is a thin wrapper over the azblob client: it connects the
// way Azure Functions bindings do (a connection string, or an identity-based
// connection), streams blobs with their ETag pinned, and maps the storage
// service's answers to the domain's error kinds (tinyhead.ErrNotFound for a
// missing blob or container, tinyhead.ErrConflict for a failed condition or
// a held lease, tinyhead.ErrUnavailable for throttling, server errors and
// broken connections).
package blobstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/tinyhead/tinyhead/internal/azurite"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// DevelopmentConnectionString is what "UseDevelopmentStorage=true" stands for:
// the well-known development account on a local Azurite.
var DevelopmentConnectionString = azurite.ConnectionString(azurite.DevelopmentPort)

// DefaultConnection is the connection name Functions uses when a binding
// names none.
const DefaultConnection = "AzureWebJobsStorage"

const (
	defaultMaxRetries = 5
	defaultBlockSize  = 4 << 20
	defaultUploadConc = 4
	// maxDownload bounds Download, which holds the whole blob in memory.
	maxDownload = 512 << 20
)

// Client is a blob service client. It is safe for concurrent use.
type Client struct {
	az         *azblob.Client
	serviceURL string // without any query (a SAS would be a secret)
	auth       string
	maxRetries int32
	log        *slog.Logger
}

// An Option configures a Client.
type Option func(*options)

type options struct {
	client     azblob.ClientOptions
	maxRetries int32
	log        *slog.Logger
}

// WithClientOptions sets the azblob client options (retry policy, transport…).
func WithClientOptions(o azblob.ClientOptions) Option {
	return func(opts *options) { opts.client = o }
}

// WithMaxRetries sets how many times in a row a broken read is resumed
// (default 5).
func WithMaxRetries(n int) Option {
	return func(opts *options) {
		if n > 0 {
			opts.maxRetries = int32(n)
		}
	}
}

// WithLogger sets the logger for retried reads (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(opts *options) {
		if l != nil {
			opts.log = l
		}
	}
}

func newOptions(opts []Option) options {
	o := options{maxRetries: defaultMaxRetries}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	return o
}

func newClient(az *azblob.Client, auth string, o options) *Client {
	return &Client{
		az:         az,
		serviceURL: stripQuery(az.URL()),
		auth:       auth,
		maxRetries: o.maxRetries,
		log:        o.log,
	}
}

// NewFromConnectionString connects with a storage connection string (shared
// key or SAS); "UseDevelopmentStorage=true" means DevelopmentConnectionString.
func NewFromConnectionString(conn string, opts ...Option) (*Client, error) {
	o := newOptions(opts)
	auth := "connection string"
	if IsDevelopmentStorage(conn) {
		conn, auth = DevelopmentConnectionString, "development storage"
	}
	az, err := azblob.NewClientFromConnectionString(conn, &o.client)
	if err != nil {
		// The error names what is wrong; the string itself holds a secret.
		return nil, fmt.Errorf("parse the storage connection string: %w", err)
	}
	return newClient(az, auth, o), nil
}

// NewWithCredential connects to serviceURL (https://<account>.blob.core.windows.net/)
// with a token credential.
func NewWithCredential(serviceURL string, cred azcore.TokenCredential, auth string, opts ...Option) (*Client, error) {
	o := newOptions(opts)
	az, err := azblob.NewClient(serviceURL, cred, &o.client)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", stripQuery(serviceURL), err)
	}
	return newClient(az, auth, o), nil
}

// NewFromEnv connects the way an Azure Functions binding with
// "connection": connection does, reading settings with getenv:
//
//   - <connection> (or AzureWebJobs<connection>) holding a connection string,
//     or "UseDevelopmentStorage=true";
//   - otherwise an identity-based connection: <connection>__blobServiceUri,
//     <connection>__serviceUri or <connection>__accountName gives the
//     service, and the credential is a managed identity when
//     <connection>__credential is "managedidentity" (a user-assigned one when
//     <connection>__clientId is set), else azidentity's DefaultAzureCredential.
//
// An empty connection means AzureWebJobsStorage. Nothing is contacted until
// the first request.
func NewFromEnv(connection string, getenv func(string) string, opts ...Option) (*Client, error) {
	if connection == "" {
		connection = DefaultConnection
	}
	prefixes := []string{connection}
	if !strings.HasPrefix(connection, "AzureWebJobs") {
		prefixes = append(prefixes, "AzureWebJobs"+connection)
	}
	for _, p := range prefixes {
		if conn := strings.TrimSpace(getenv(p)); conn != "" {
			c, err := NewFromConnectionString(conn, opts...)
			if err != nil {
				return nil, fmt.Errorf("storage connection setting %s: %w", p, err)
			}
			return c, nil
		}
	}
	for _, p := range prefixes {
		c, ok, err := newFromIdentitySettings(p, getenv, opts)
		if ok || err != nil {
			return c, err
		}
	}
	return nil, fmt.Errorf("storage connection %q is not configured: set %s to a connection string, "+
		"or %s__blobServiceUri (with %s__credential=managedidentity and %s__clientId for a user-assigned identity)",
		connection, connection, connection, connection, connection)
}

// newFromIdentitySettings reads the identity-based settings under prefix; ok
// is false when there are none.
func newFromIdentitySettings(prefix string, getenv func(string) string, opts []Option) (c *Client, ok bool, err error) {
	get := func(key string) string { return strings.TrimSpace(getenv(prefix + "__" + key)) }
	service := get("blobServiceUri")
	if service == "" {
		service = get("serviceUri")
	}
	if service == "" {
		if account := get("accountName"); account != "" {
			service = "https://" + account + ".blob.core.windows.net/"
		}
	}
	credential, clientID := get("credential"), get("clientId")
	if service == "" {
		if credential != "" || clientID != "" {
			return nil, true, fmt.Errorf("storage connection %s: %s__credential or %s__clientId is set but %s__blobServiceUri is not",
				prefix, prefix, prefix, prefix)
		}
		return nil, false, nil
	}
	u, err := url.Parse(service)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, true, fmt.Errorf("storage connection %s: %s__blobServiceUri is not an http(s) URL", prefix, prefix)
	}
	var cred azcore.TokenCredential
	var auth string
	switch {
	case strings.EqualFold(credential, "managedidentity"):
		mo := &azidentity.ManagedIdentityCredentialOptions{}
		auth = "managed identity (system-assigned)"
		if clientID != "" {
			mo.ID = azidentity.ClientID(clientID)
			auth = "managed identity (client ID " + clientID + ")"
		}
		cred, err = azidentity.NewManagedIdentityCredential(mo)
	case credential == "":
		// DefaultAzureCredential picks a user-assigned identity from AZURE_CLIENT_ID.
		auth = "DefaultAzureCredential"
		cred, err = azidentity.NewDefaultAzureCredential(nil)
	default:
		return nil, true, fmt.Errorf("storage connection %s: %s__credential is %q; only \"managedidentity\" is supported",
			prefix, prefix, credential)
	}
	if err != nil {
		return nil, true, fmt.Errorf("storage connection %s: create the %s credential: %w", prefix, auth, err)
	}
	c, err = NewWithCredential(service, cred, auth, opts...)
	if err != nil {
		return nil, true, fmt.Errorf("storage connection %s: %w", prefix, err)
	}
	return c, true, nil
}

// IsDevelopmentStorage reports whether a connection string is
// "UseDevelopmentStorage=true" (in any case, among other parts).
func IsDevelopmentStorage(conn string) bool {
	for part := range strings.SplitSeq(conn, ";") {
		k, v, _ := strings.Cut(part, "=")
		if strings.EqualFold(strings.TrimSpace(k), "UseDevelopmentStorage") && strings.EqualFold(strings.TrimSpace(v), "true") {
			return true
		}
	}
	return false
}

func stripQuery(s string) string {
	if i := strings.IndexByte(s, '?'); i >= 0 {
		return s[:i]
	}
	return s
}

// ServiceURL returns the blob service's URL (without any SAS).
func (c *Client) ServiceURL() string { return c.serviceURL }

// Auth says how the client authenticates, without secrets, for logs.
func (c *Client) Auth() string { return c.auth }

// URL returns a blob's URL (without any SAS), the name escaped segment by
// segment as the Functions host writes blob URIs (SplitBlobURL inverts it).
func (c *Client) URL(container, name string) string {
	segs := strings.Split(name, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.TrimSuffix(c.serviceURL, "/") + "/" + url.PathEscape(container) + "/" + strings.Join(segs, "/")
}

// Azure returns the underlying azblob client, for what this package lacks.
func (c *Client) Azure() *azblob.Client { return c.az }

// errChanged is the conflict of a blob whose ETag is not the expected one:
// it was replaced after it was opened, or before OpenETag.
var errChanged = tinyhead.Errorf(tinyhead.ErrConflict, "blob changed")

// ResponseError is a storage service's error answer, shortened to its
// status and error code; it wraps the azcore.ResponseError and the
// answer's kind: tinyhead.ErrNotFound, ErrConflict or ErrUnavailable.
type ResponseError struct {
	StatusCode int
	Code       string
	kind       error
	err        *azcore.ResponseError
}

func (e *ResponseError) Error() string {
	what := "storage request failed"
	switch e.kind {
	case tinyhead.ErrNotFound:
		what = "blob not found"
	case tinyhead.ErrConflict:
		what = "blob changed"
	case tinyhead.ErrUnavailable:
		what = "storage unavailable"
	}
	return fmt.Sprintf("%s (HTTP %d %s)", what, e.StatusCode, e.Code)
}

func (e *ResponseError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.err}
	}
	return []error{e.kind, e.err}
}

// mapErr turns azcore response errors into *ResponseError, and marks a
// failure to reach the service at all (after the SDK's own retries) as
// tinyhead.ErrUnavailable.
func mapErr(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return tinyhead.WithKind(tinyhead.ErrUnavailable, err)
	}
	e := &ResponseError{StatusCode: re.StatusCode, Code: re.ErrorCode, err: re}
	switch {
	case re.StatusCode == 404:
		e.kind = tinyhead.ErrNotFound
	case re.StatusCode == 412 || re.ErrorCode == "ConditionNotMet":
		e.kind = tinyhead.ErrConflict
	case re.StatusCode == 408 || re.StatusCode == 429 || re.StatusCode >= 500:
		e.kind = tinyhead.ErrUnavailable
	}
	return e
}
