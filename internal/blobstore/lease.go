package blobstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"

	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// UploadIf writes a small blob only if its current ETag is ifMatch, or,
// with ifMatch "", only if it does not exist yet — optimistic concurrency
// for pointers such as a model's current.json. A lost race returns an error
// of kind tinyhead.ErrConflict.
func (c *Client) UploadIf(ctx context.Context, container, name string, data []byte, contentType, ifMatch string) (string, error) {
	cond := &blob.ModifiedAccessConditions{}
	if ifMatch == "" {
		any := azcore.ETagAny
		cond.IfNoneMatch = &any
	} else {
		m := azcore.ETag(ifMatch)
		cond.IfMatch = &m
	}
	bb := c.az.ServiceClient().NewContainerClient(container).NewBlockBlobClient(name)
	resp, err := bb.Upload(ctx, streaming.NopCloser(bytes.NewReader(data)), &blockblob.UploadOptions{
		HTTPHeaders:      httpHeaders(contentType),
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: cond},
	})
	if bloberror.HasCode(err, bloberror.BlobAlreadyExists) {
		return "", fmt.Errorf("upload blob %s/%s: %w", container, name, errChanged)
	}
	if err != nil {
		return "", fmt.Errorf("upload blob %s/%s: %w", container, name, mapErr(err))
	}
	return etag(resp.ETag), nil
}

// Lease is an exclusive, renewable lease on a blob: a lock that expires by
// itself if its holder dies.
type Lease struct {
	client *lease.BlobClient
	name   string
}

// AcquireLease takes a lease of ttl (15 to 60 s) on the blob, creating an
// empty blob first if there is none. It fails with an error matching
// tinyhead.ErrConflict when another holder has it.
func (c *Client) AcquireLease(ctx context.Context, container, name string, ttl time.Duration) (*Lease, error) {
	if _, err := c.UploadIf(ctx, container, name, nil, "", ""); err != nil && !errors.Is(err, tinyhead.ErrConflict) {
		return nil, err
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	leaseID := fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:])
	lc, err := lease.NewBlobClient(c.blob(container, name), &lease.BlobClientOptions{LeaseID: &leaseID})
	if err != nil {
		return nil, err
	}
	if _, err := lc.AcquireLease(ctx, int32(ttl/time.Second), nil); err != nil {
		if bloberror.HasCode(err, bloberror.LeaseAlreadyPresent) {
			return nil, tinyhead.Errorf(tinyhead.ErrConflict, "lease %s/%s: blob is leased by another holder", container, name)
		}
		return nil, fmt.Errorf("lease %s/%s: %w", container, name, mapErr(err))
	}
	return &Lease{client: lc, name: container + "/" + name}, nil
}

// Renew extends the lease by its duration.
func (l *Lease) Renew(ctx context.Context) error {
	if _, err := l.client.RenewLease(ctx, nil); err != nil {
		return fmt.Errorf("renew lease on %s: %w", l.name, mapErr(err))
	}
	return nil
}

// Release gives the lease up.
func (l *Lease) Release(ctx context.Context) error {
	if _, err := l.client.ReleaseLease(ctx, nil); err != nil {
		return fmt.Errorf("release lease on %s: %w", l.name, mapErr(err))
	}
	return nil
}
