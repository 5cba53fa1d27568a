package blobstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// Props are a blob's properties.
type Props struct {
	ETag         string
	Size         int64
	LastModified time.Time
	ContentType  string
}

// Item is a blob listed by List.
type Item struct {
	Name         string
	ETag         string
	Size         int64
	LastModified time.Time
	ContentType  string
}

// Props returns the item's properties.
func (it Item) Props() Props {
	return Props{ETag: it.ETag, Size: it.Size, LastModified: it.LastModified, ContentType: it.ContentType}
}

func (c *Client) blob(container, name string) *blob.Client {
	return c.az.ServiceClient().NewContainerClient(container).NewBlobClient(name)
}

// EnsureContainer creates a container unless it exists.
func (c *Client) EnsureContainer(ctx context.Context, name string) error {
	_, err := c.az.CreateContainer(ctx, name, nil)
	if err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return fmt.Errorf("create container %s: %w", name, mapErr(err))
	}
	return nil
}

// Upload writes r to a block blob, replacing any blob of that name, and
// returns the new ETag. The content is sent in blocks as it is read, so r
// may be larger than memory.
func (c *Client) Upload(ctx context.Context, container, name string, r io.Reader, contentType string) (string, error) {
	resp, err := c.az.UploadStream(ctx, container, name, r, &azblob.UploadStreamOptions{
		BlockSize:   defaultBlockSize,
		Concurrency: defaultUploadConc,
		HTTPHeaders: httpHeaders(contentType),
	})
	return uploaded(container, name, resp.ETag, err)
}

// UploadBytes writes data to a block blob, replacing any blob of that name,
// and returns the new ETag. (A small blob is one request, where Upload
// always stages blocks.)
func (c *Client) UploadBytes(ctx context.Context, container, name string, data []byte, contentType string) (string, error) {
	resp, err := c.az.UploadBuffer(ctx, container, name, data, &azblob.UploadBufferOptions{
		BlockSize:   defaultBlockSize,
		Concurrency: defaultUploadConc,
		HTTPHeaders: httpHeaders(contentType),
	})
	return uploaded(container, name, resp.ETag, err)
}

// uploaded is the result of an upload: the new ETag, or the error naming
// the blob.
func uploaded(container, name string, tag *azcore.ETag, err error) (string, error) {
	if err != nil {
		return "", fmt.Errorf("upload blob %s/%s: %w", container, name, mapErr(err))
	}
	return etag(tag), nil
}

func httpHeaders(contentType string) *blob.HTTPHeaders {
	if contentType == "" {
		return nil
	}
	return &blob.HTTPHeaders{BlobContentType: &contentType}
}

// Props returns a blob's properties.
func (c *Client) Props(ctx context.Context, container, name string) (Props, error) {
	return c.props(ctx, container, name, "")
}

func (c *Client) props(ctx context.Context, container, name, ifMatch string) (Props, error) {
	var o *blob.GetPropertiesOptions
	if ifMatch != "" {
		m := azcore.ETag(ifMatch)
		o = &blob.GetPropertiesOptions{AccessConditions: &blob.AccessConditions{
			ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &m},
		}}
	}
	resp, err := c.blob(container, name).GetProperties(ctx, o)
	if err != nil {
		return Props{}, fmt.Errorf("get properties of blob %s/%s: %w", container, name, mapErr(err))
	}
	p := Props{ETag: etag(resp.ETag), ContentType: deref(resp.ContentType), LastModified: deref(resp.LastModified)}
	if resp.ContentLength != nil {
		p.Size = *resp.ContentLength
	}
	return p, nil
}

// Open streams a blob: one GET, whose body the returned reader hands on as
// it is read. When the connection breaks, the reader resumes where it broke
// (azblob's retry reader) with If-Match on the ETag the blob had at open,
// so a long read either returns exactly that version or fails with an
// error of kind
// tinyhead.ErrConflict. ctx must stay live while the reader is used;
// Close it when done.
func (c *Client) Open(ctx context.Context, container, name string) (io.ReadCloser, Props, error) {
	return c.open(ctx, container, name, "")
}

// OpenETag is Open for one version of the blob: it fails with tinyhead.ErrConflict
// unless the blob's ETag is etag.
func (c *Client) OpenETag(ctx context.Context, container, name, etag string) (io.ReadCloser, Props, error) {
	if etag == "" {
		return nil, Props{}, fmt.Errorf("open blob %s/%s: empty ETag", container, name)
	}
	return c.open(ctx, container, name, etag)
}

func (c *Client) open(ctx context.Context, container, name, ifMatch string) (io.ReadCloser, Props, error) {
	var o blob.DownloadStreamOptions
	if ifMatch != "" {
		m := azcore.ETag(ifMatch)
		o.AccessConditions = &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &m}}
	}
	resp, err := c.blob(container, name).DownloadStream(ctx, &o)
	if err != nil {
		return nil, Props{}, fmt.Errorf("open blob %s/%s: %w", container, name, mapErr(err))
	}
	// DownloadStream answers a 304 with an empty response and no error; If-Match never yields one.
	if resp.Body == nil {
		return nil, Props{}, fmt.Errorf("open blob %s/%s: no content in the answer", container, name)
	}
	p := Props{
		ETag:         etag(resp.ETag),
		Size:         deref(resp.ContentLength),
		LastModified: deref(resp.LastModified),
		ContentType:  deref(resp.ContentType),
	}
	r := &reader{container: container, name: name, size: p.Size}
	// The retry reader asks again from the offset where the body broke,
	// with If-Match on this answer's ETag.
	r.body = resp.NewRetryReader(ctx, &blob.RetryReaderOptions{
		MaxRetries: c.maxRetries,
		OnFailedRead: func(failures int32, err error, rng blob.HTTPRange, willRetry bool) {
			c.log.WarnContext(ctx, "blob read failed", "container", container, "blob", name,
				"offset", rng.Offset, "failures", failures, "retry", willRetry, "err", err)
		},
	})
	return r, p, nil
}

// Download reads a small blob (a model artifact) whole, with Open's
// guarantees. Blobs over 512 MiB are refused: stream them with Open.
func (c *Client) Download(ctx context.Context, container, name string) ([]byte, error) {
	r, p, err := c.Open(ctx, container, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if p.Size > maxDownload {
		return nil, fmt.Errorf("download blob %s/%s: %d bytes is too large to hold in memory; stream it with Open", container, name, p.Size)
	}
	buf := bytes.NewBuffer(make([]byte, 0, p.Size))
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, err // the reader's errors name the blob
	}
	return buf.Bytes(), nil
}

// List calls fn for each blob in container whose name starts with prefix,
// in name order, one result page at a time. An error from fn stops the
// listing and is returned as is.
func (c *Client) List(ctx context.Context, containerName, prefix string, fn func(Item) error) error {
	o := &container.ListBlobsFlatOptions{}
	if prefix != "" {
		o.Prefix = &prefix
	}
	pager := c.az.ServiceClient().NewContainerClient(containerName).NewListBlobsFlatPager(o)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list blobs in %s (prefix %q): %w", containerName, prefix, mapErr(err))
		}
		for _, b := range page.Segment.BlobItems {
			if b == nil || b.Name == nil {
				continue
			}
			it := Item{Name: *b.Name}
			if p := b.Properties; p != nil {
				it.ETag = etag(p.ETag)
				it.Size = deref(p.ContentLength)
				it.LastModified = deref(p.LastModified)
				it.ContentType = deref(p.ContentType)
			}
			if err := fn(it); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete removes a blob and its snapshots.
func (c *Client) Delete(ctx context.Context, container, name string) error {
	include := blob.DeleteSnapshotsOptionTypeInclude
	_, err := c.blob(container, name).Delete(ctx, &blob.DeleteOptions{DeleteSnapshots: &include})
	if err != nil {
		return fmt.Errorf("delete blob %s/%s: %w", container, name, mapErr(err))
	}
	return nil
}

// reader is Open's reader: the retry reader, with errors that name the
// blob and are of kind tinyhead.ErrConflict or ErrNotFound, and a check that the blob
// ended where its size said.
type reader struct {
	container, name string
	size            int64
	body            io.ReadCloser
	off             int64 // bytes returned so far
	err             error // sticky
}

var errClosed = errors.New("read after Close")

func (r *reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.body.Read(p)
	r.off += int64(n)
	switch {
	case err == nil && r.off > r.size, errors.Is(err, io.EOF) && r.off != r.size:
		r.err = fmt.Errorf("read blob %s/%s: %d bytes, its size is %d", r.container, r.name, r.off, r.size)
	case err != nil:
		r.err = err
		if !errors.Is(err, io.EOF) {
			r.err = fmt.Errorf("read blob %s/%s at offset %d: %w", r.container, r.name, r.off, mapErr(err))
		}
	}
	return n, r.err
}

// Close releases the connection.
func (r *reader) Close() error {
	if r.err == nil {
		r.err = errClosed
	}
	return r.body.Close()
}

func etag(e *azcore.ETag) string {
	if e == nil {
		return ""
	}
	return string(*e)
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
