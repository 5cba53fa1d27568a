package blobstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/tinyhead/tinyhead/internal/azurite"
	"github.com/tinyhead/tinyhead/internal/azurite/azuritetest"
	"github.com/tinyhead/tinyhead/internal/logbuf"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// TestAzurite runs the client against a real Azurite (scripts/setup.sh
// installs it; the test fails without it).
func TestAzurite(t *testing.T) {
	srv := azuritetest.Start(t)
	env := map[string]string{"AzureWebJobsStorage": srv.ConnectionString()}
	newClient := func(t *testing.T, opts ...Option) *Client {
		t.Helper()
		c, err := NewFromEnv("", func(k string) string { return env[k] }, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := newClient(t)
	ctx := t.Context()
	for _, name := range []string{"incoming", "models"} {
		for range 2 { // the second time it exists
			if err := c.EnsureContainer(ctx, name); err != nil {
				t.Fatalf("EnsureContainer(%s): %v", name, err)
			}
		}
	}

	t.Run("conditional upload", func(t *testing.T) {
		first, err := c.UploadIf(ctx, "models", "cond/current.json", []byte(`{"v":1}`), "application/json", "")
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if _, err := c.UploadIf(ctx, "models", "cond/current.json", []byte(`{"v":9}`), "", ""); !errors.Is(err, tinyhead.ErrConflict) {
			t.Fatalf("create over an existing blob: err = %v, want a conflict", err)
		}
		second, err := c.UploadIf(ctx, "models", "cond/current.json", []byte(`{"v":2}`), "", first)
		if err != nil {
			t.Fatalf("replace with the right ETag: %v", err)
		}
		if _, err := c.UploadIf(ctx, "models", "cond/current.json", []byte(`{"v":3}`), "", first); !errors.Is(err, tinyhead.ErrConflict) {
			t.Fatalf("replace with a stale ETag: err = %v, want a conflict", err)
		}
		if got, _ := c.Download(ctx, "models", "cond/current.json"); string(got) != `{"v":2}` || second == first {
			t.Fatalf("content %s", got)
		}
	})

	t.Run("lease", func(t *testing.T) {
		l, err := c.AcquireLease(ctx, "models", "lease/.lock", 15*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.AcquireLease(ctx, "models", "lease/.lock", 15*time.Second); !errors.Is(err, tinyhead.ErrConflict) {
			t.Fatalf("second holder: err = %v, want a conflict", err)
		}
		if err := l.Renew(ctx); err != nil {
			t.Fatal(err)
		}
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
		l2, err := c.AcquireLease(ctx, "models", "lease/.lock", 15*time.Second)
		if err != nil {
			t.Fatalf("after release: %v", err)
		}
		l2.Release(ctx)
	})

	t.Run("round trip", func(t *testing.T) {
		tests := []struct {
			name, blob, contentType string
			data                    []byte
			bytesAPI                bool
		}{
			{"text", "a/b.txt", "text/plain; charset=utf-8", []byte("hello, world\n"), false},
			{"bytes", "spam/3/model.onnx", "application/octet-stream", bytes.Repeat([]byte{1, 2, 3}, 1000), true},
			{"empty", "empty.txt", "", nil, false},
			{"empty bytes", "empty.bin", "", nil, true},
			{"odd name", "spam/ham/a b+c%d é.eml", "message/rfc822", []byte("Subject: hi\n\nbody"), false},
			{"several blocks", "big.bin", "", pseudoRandom(3, 9<<20+17), false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var etag string
				var err error
				if tt.bytesAPI {
					etag, err = c.UploadBytes(ctx, "models", tt.blob, tt.data, tt.contentType)
				} else {
					etag, err = c.Upload(ctx, "models", tt.blob, bytes.NewReader(tt.data), tt.contentType)
				}
				if err != nil {
					t.Fatal(err)
				}
				if etag == "" {
					t.Error("Upload returned no ETag")
				}
				p, err := c.Props(ctx, "models", tt.blob)
				if err != nil {
					t.Fatal(err)
				}
				if p.ETag != etag || p.Size != int64(len(tt.data)) || p.LastModified.IsZero() {
					t.Errorf("Props() = %+v, want ETag %s and size %d", p, etag, len(tt.data))
				}
				if tt.contentType != "" && p.ContentType != tt.contentType {
					t.Errorf("content type %q, want %q", p.ContentType, tt.contentType)
				}
				got, err := c.Download(ctx, "models", tt.blob)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, tt.data) {
					t.Errorf("Download() = %d bytes, want the %d uploaded", len(got), len(tt.data))
				}
				// The blob's URL names it again.
				if cn, n, err := SplitBlobURL(c.URL("models", tt.blob)); err != nil || cn != "models" || n != tt.blob {
					t.Errorf("SplitBlobURL(URL()) = %q, %q, %v", cn, n, err)
				}
			})
		}
	})

	t.Run("stream 50 MB", func(t *testing.T) {
		const size = 50 << 20
		// Upload from a generator: the content never exists whole in memory.
		want := sha256.New()
		etag, err := c.Upload(ctx, "incoming", "big/50mb.bin", io.TeeReader(io.LimitReader(newPRNG(1), size), want), "")
		if err != nil {
			t.Fatal(err)
		}
		r, p, err := c.Open(ctx, "incoming", "big/50mb.bin")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if p.Size != size || p.ETag != etag {
			t.Fatalf("Open() props = %+v, want size %d and ETag %s", p, size, etag)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		got := sha256.New()
		n, err := io.Copy(io.Discard, io.TeeReader(r, got))
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		if n != size {
			t.Fatalf("read %d bytes, want %d", n, size)
		}
		if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
			t.Fatal("the content read differs from the content uploaded")
		}
		// Streaming allocates per read, not per blob (about 100 KB here).
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("reading %d bytes allocated %d bytes", size, alloc)
		if alloc > 16<<20 {
			t.Errorf("reading %d bytes allocated %d bytes: the blob is being held", size, alloc)
		}
		if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Errorf("Read after the end = %d, %v; want 0, EOF", n, err)
		}
	})

	t.Run("replaced mid-read", func(t *testing.T) {
		// The open GET goes on serving the version it started with, or
		// fails with a conflict: never bytes of the new version. (A
		// resumed GET that meets the new version: "transient errors".)
		v1, v2 := pseudoRandom(11, 3<<20), pseudoRandom(12, 3<<20)
		if _, err := c.UploadBytes(ctx, "incoming", "pinned.bin", v1, ""); err != nil {
			t.Fatal(err)
		}
		r, _, err := c.Open(ctx, "incoming", "pinned.bin")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		head := make([]byte, 1<<20)
		if _, err := io.ReadFull(r, head); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(head, v1[:1<<20]) {
			t.Fatal("the first MiB differs from the blob")
		}
		if _, err := c.UploadBytes(ctx, "incoming", "pinned.bin", v2, ""); err != nil {
			t.Fatal(err)
		}
		rest, err := io.ReadAll(r)
		if err != nil && !errors.Is(err, tinyhead.ErrConflict) {
			t.Fatalf("reading on after the blob was replaced: %d bytes, error %v; want the old version or a conflict", len(rest), err)
		}
		if !bytes.Equal(rest, v1[1<<20:1<<20+len(rest)]) || err == nil && len(rest) != len(v1)-1<<20 {
			t.Fatalf("read %d bytes (error %v) that are not the rest of the version opened", len(rest), err)
		}
		t.Logf("read %d of %d bytes, error %v", len(head)+len(rest), len(v1), err)
	})

	t.Run("OpenETag", func(t *testing.T) {
		etag, err := c.UploadBytes(ctx, "incoming", "versioned.txt", []byte("v1"), "text/plain")
		if err != nil {
			t.Fatal(err)
		}
		r, _, err := c.OpenETag(ctx, "incoming", "versioned.txt", etag)
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		if _, err := c.UploadBytes(ctx, "incoming", "versioned.txt", []byte("v2"), "text/plain"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.OpenETag(ctx, "incoming", "versioned.txt", etag); !errors.Is(err, tinyhead.ErrConflict) {
			t.Errorf("OpenETag(old ETag) error = %v, want a conflict", err)
		}
	})

	t.Run("transient errors", func(t *testing.T) {
		data := pseudoRandom(21, 5<<20+3)
		if _, err := c.UploadBytes(ctx, "incoming", "flaky.bin", data, ""); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name     string
			breaks   int32 // how many downloads break mid-body
			replace  bool  // replace the blob when the first download breaks
			wantErr  error
			wantLogs bool
		}{
			{"survived", 3, false, nil, true},
			{"replaced while broken", 1, true, tinyhead.ErrConflict, true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tr := &flakyTransport{breaks: tt.breaks, after: 100 << 10}
				if tt.replace {
					tr.onBreak = func() {
						if _, err := c.UploadBytes(context.Background(), "incoming", "flaky.bin", pseudoRandom(22, 100), ""); err != nil {
							t.Error(err)
						}
					}
				}
				var logs logbuf.Buffer
				fc := newClient(t,
					WithClientOptions(azblob.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: tr}}),
					WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
				r, _, err := fc.Open(ctx, "incoming", "flaky.bin")
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				got, err := io.ReadAll(r)
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("ReadAll error = %v, want %v", err, tt.wantErr)
					}
				} else {
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, data) {
						t.Fatalf("read %d bytes that differ from the %d uploaded", len(got), len(data))
					}
				}
				if tr.broken.Load() == 0 {
					t.Error("no download was broken: the test tests nothing")
				}
				if l := logs.String(); tt.wantLogs && !strings.Contains(l, "blob read failed") {
					t.Errorf("no retry was logged; logs: %s", l)
				}
			})
		}
	})

	t.Run("list", func(t *testing.T) {
		if err := c.EnsureContainer(ctx, "listing"); err != nil {
			t.Fatal(err)
		}
		sizes := map[string]int{"a/1.txt": 1, "a/2.txt": 22, "a b/x.txt": 3, "ab.txt": 4, "b/1.txt": 5}
		for name, n := range sizes {
			if _, err := c.UploadBytes(ctx, "listing", name, bytes.Repeat([]byte("x"), n), "text/plain"); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			prefix string
			want   []string
		}{
			{"", []string{"a b/x.txt", "a/1.txt", "a/2.txt", "ab.txt", "b/1.txt"}},
			{"a/", []string{"a/1.txt", "a/2.txt"}},
			{"a", []string{"a b/x.txt", "a/1.txt", "a/2.txt", "ab.txt"}},
			{"c", nil},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("prefix %q", tt.prefix), func(t *testing.T) {
				var got []string
				err := c.List(ctx, "listing", tt.prefix, func(it Item) error {
					got = append(got, it.Name)
					if it.ETag == "" || it.Size != int64(sizes[it.Name]) || it.LastModified.IsZero() || it.ContentType != "text/plain" {
						t.Errorf("item %+v", it)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("List(%q) = %q, want %q", tt.prefix, got, tt.want)
				}
			})
		}
		stop := errors.New("stop")
		calls := 0
		err := c.List(ctx, "listing", "", func(Item) error { calls++; return stop })
		if err != stop || calls != 1 {
			t.Errorf("List with a failing callback: %d calls, error %v; want 1 call and the callback's error", calls, err)
		}
	})

	t.Run("not found", func(t *testing.T) {
		if _, err := c.UploadBytes(ctx, "incoming", "doomed.txt", []byte("x"), ""); err != nil {
			t.Fatal(err)
		}
		if err := c.Delete(ctx, "incoming", "doomed.txt"); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			op   func() error
		}{
			{"Open deleted", func() error { _, _, err := c.Open(ctx, "incoming", "doomed.txt"); return err }},
			{"Open in missing container", func() error { _, _, err := c.Open(ctx, "nope", "a.txt"); return err }},
			{"Props", func() error { _, err := c.Props(ctx, "incoming", "never.txt"); return err }},
			{"Download", func() error { _, err := c.Download(ctx, "models", "never/model.onnx"); return err }},
			{"Delete", func() error { return c.Delete(ctx, "incoming", "doomed.txt") }},
			{"List missing container", func() error { return c.List(ctx, "nope", "", func(Item) error { return nil }) }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := tt.op()
				if !errors.Is(err, tinyhead.ErrNotFound) {
					t.Fatalf("error = %v, want not found", err)
				}
				var re *azcore.ResponseError
				if !errors.As(err, &re) || re.StatusCode != http.StatusNotFound {
					t.Errorf("error %v does not wrap the 404 azcore.ResponseError", err)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error %q spans lines", err)
				}
			})
		}
	})

	t.Run("wrong key", func(t *testing.T) {
		bad := strings.Replace(srv.ConnectionString(), azurite.AccountKey, "AAAA"+azurite.AccountKey[4:], 1)
		bc, err := NewFromConnectionString(bad)
		if err != nil {
			t.Fatal(err)
		}
		_, err = bc.Props(ctx, "incoming", "a.txt")
		var re *ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden || errors.Is(err, tinyhead.ErrNotFound) {
			t.Fatalf("error = %v, want a 403 ResponseError", err)
		}
		if strings.Contains(err.Error(), azurite.AccountKey[4:]) {
			t.Errorf("the error shows the key: %v", err)
		}
	})
}

// pseudoRandom returns n deterministic bytes.
func pseudoRandom(seed uint64, n int) []byte {
	b := make([]byte, n)
	io.ReadFull(newPRNG(seed), b)
	return b
}

type prng struct{ r *rand.ChaCha8 }

func newPRNG(seed uint64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	return prng{rand.NewChaCha8(s)}
}

func (p prng) Read(b []byte) (int, error) { return p.r.Read(b) }

// flakyTransport breaks the body of the first `breaks` blob downloads after
// `after` bytes, as a dropped connection would.
type flakyTransport struct {
	breaks  int32
	after   int
	onBreak func()
	broken  atomic.Int32
}

func (f *flakyTransport) Do(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil || req.Method != http.MethodGet || resp.StatusCode/100 != 2 || req.URL.Query().Has("comp") {
		return resp, err
	}
	if f.broken.Add(1) > f.breaks {
		return resp, nil
	}
	resp.Body = &breakingBody{rc: resp.Body, left: f.after, onBreak: f.onBreak}
	return resp, nil
}

var _ policy.Transporter = (*flakyTransport)(nil)

type breakingBody struct {
	rc      io.ReadCloser
	left    int
	onBreak func()
}

func (b *breakingBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		if b.onBreak != nil {
			b.onBreak()
			b.onBreak = nil
		}
		return 0, errors.New("connection reset by peer (injected)")
	}
	if len(p) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= n
	return n, err
}

func (b *breakingBody) Close() error { return b.rc.Close() }
