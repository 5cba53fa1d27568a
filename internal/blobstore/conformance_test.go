package blobstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/azurite/azuritetest"
	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/blobstore/blobtest"
	"github.com/tinyhead/tinyhead/internal/registry"
)

// TestConformance runs the blob conformance suite, which the in-memory
// fake (internal/inmem) passes too, against the real client on Azurite.
// Without Azurite it is testenv.Missing (a failure under scripts/test.sh).
func TestConformance(t *testing.T) {
	srv := azuritetest.Start(t)
	c, err := blobstore.NewFromConnectionString(srv.ConnectionString())
	if err != nil {
		t.Fatal(err)
	}
	blobtest.Run(t, func(*testing.T) blobtest.Blobs { return clientBlobs{c} })
}

// clientBlobs gives the client's AcquireLease the registry's signature.
type clientBlobs struct{ *blobstore.Client }

func (c clientBlobs) AcquireLease(ctx context.Context, container, name string, ttl time.Duration) (registry.Lease, error) {
	l, err := c.Client.AcquireLease(ctx, container, name, ttl)
	if err != nil {
		return nil, err
	}
	return l, nil
}
