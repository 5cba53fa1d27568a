package blobstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/azurite"
	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/blobstore/blobtest"
	"github.com/tinyhead/tinyhead/internal/registry"
)

// TestConformance runs the blob conformance suite, which the in-memory
// fake (internal/inmem) passes too, against the real client on Azurite.
// It skips when Azurite is not installed (scripts/setup.sh installs it).
func TestConformance(t *testing.T) {
	bin, err := azurite.FindBinary(nil)
	if err != nil {
		t.Skipf("skipping the blob conformance suite on Azurite: %v", err)
	}
	srv, err := azurite.Start(t.Context(), azurite.Options{Bin: bin, Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("azurite: %v", err)
	}
	t.Cleanup(srv.Stop)
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
