package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/tinyhead"
)

// Blobs is what Remover asks storage; *blobstore.Client and *inmem.Blobs
// implement it.
type Blobs interface {
	// Props returns a blob's properties; an error of kind
	// tinyhead.ErrNotFound means the blob does not exist.
	Props(ctx context.Context, container, name string) (blobstore.Props, error)
	// List calls fn for every blob of container whose name starts with
	// prefix.
	List(ctx context.Context, container, prefix string, fn func(blobstore.Item) error) error
}

// SourceStore is what Remover changes in the store; sqlstore.Store and
// inmem.Store implement it.
type SourceStore interface {
	// Sources lists the sources that have documents.
	Sources(ctx context.Context) ([]string, error)
	// SourceVersions lists the versions of source the store knows.
	SourceVersions(ctx context.Context, source string) ([]string, error)
	// DeleteSource deletes the documents of source written by versions,
	// their labels, and marks those versions' ingest records deleted.
	DeleteSource(ctx context.Context, source string, versions []string) (deleted int, err error)
}

// Remover deletes the rows of blobs that are gone from storage: one blob
// when Event Grid reports its deletion (Removed), and every blob of a
// container whose deletion was missed (Reconcile, run nightly).
//
// A blob's rows are deleted only when storage answers that the blob does
// not exist: not when it cannot be asked (a storage error deletes
// nothing), and not when the blob exists again — a blob deleted and
// uploaded anew has a new version, whose own ingest replaces the old
// rows, whatever order the two events arrive in. The versions to delete
// are read before storage is asked, so that a version uploaded between
// the answer and the deletion keeps its rows.
type Remover struct {
	Blobs Blobs
	Store SourceStore
	Log   *slog.Logger
}

// Removal is the outcome for one blob.
type Removal struct {
	Source string `json:"source"`
	// Exists is true when the blob exists (again): nothing was deleted.
	Exists bool `json:"exists"`
	// ETag is the existing blob's version.
	ETag string `json:"etag,omitempty"`
	// Deleted is how many documents were deleted (0 for a blob never
	// ingested).
	Deleted int `json:"deleted"`
}

// Removed handles the deletion of the blob container/name: if the blob no
// longer exists, its documents, their labels and embeddings go, and its
// ingest records are marked deleted. An error means nothing was decided:
// the caller retries.
func (r *Remover) Removed(ctx context.Context, container, name string) (Removal, error) {
	rem := Removal{Source: Source(container, name)}
	versions, err := r.Store.SourceVersions(ctx, rem.Source)
	if err != nil {
		return rem, fmt.Errorf("look up the versions of %s: %w", rem.Source, err)
	}
	if len(versions) == 0 {
		r.log().Info("blob deleted; nothing was stored of it", "source", rem.Source)
		return rem, nil
	}
	props, err := r.Blobs.Props(ctx, container, name)
	switch {
	case err == nil:
		rem.Exists, rem.ETag = true, props.ETag
		r.log().Info("blob exists again; its newest version's ingest replaces its rows", "source", rem.Source, "etag", props.ETag)
		return rem, nil
	case !errors.Is(err, tinyhead.ErrNotFound):
		return rem, fmt.Errorf("check that %s is gone: %w", rem.Source, err)
	}
	n, err := r.Store.DeleteSource(ctx, rem.Source, versions)
	rem.Deleted = n
	if err != nil {
		return rem, fmt.Errorf("delete the rows of deleted blob %s: %w", rem.Source, err)
	}
	r.log().Info("blob deleted; its rows were deleted", "source", rem.Source, "documents", n)
	return rem, nil
}

// Reconciliation is the outcome of Reconcile.
type Reconciliation struct {
	Container string `json:"container"`
	// Sources is how many blobs of the container have rows in the store.
	Sources int `json:"sources"`
	// Removed are the blobs that were gone, whose rows were deleted.
	Removed []Removal `json:"removed,omitempty"`
	// Deleted is how many documents were deleted in all.
	Deleted int `json:"deleted"`
}

// Reconcile deletes the rows of every blob of container that has rows in
// the store but no longer exists: deletions whose event was missed. It
// lists the container once and asks storage about each blob missing from
// the listing before deleting anything of it. It stops at the first
// storage or store error, and returns what it did until then with the
// error: what was not checked is kept, for the next run.
func (r *Remover) Reconcile(ctx context.Context, container string) (Reconciliation, error) {
	rec := Reconciliation{Container: container}
	sources, err := r.Store.Sources(ctx)
	if err != nil {
		return rec, fmt.Errorf("reconcile %s: %w", container, err)
	}
	var names []string
	for _, src := range sources {
		if name, ok := strings.CutPrefix(src, container+"/"); ok {
			names = append(names, name)
		}
	}
	rec.Sources = len(names)
	if len(names) == 0 {
		return rec, nil
	}
	listed, err := r.list(ctx, container)
	if err != nil {
		return rec, fmt.Errorf("reconcile %s: %w", container, err)
	}
	for _, name := range names {
		if listed[name] {
			continue
		}
		// Not listed: deleted, or uploaded since the listing. Only a
		// definite "not found" deletes.
		rem, err := r.Removed(ctx, container, name)
		if err != nil {
			return rec, fmt.Errorf("reconcile %s: %w", container, err)
		}
		if !rem.Exists {
			rec.Removed = append(rec.Removed, rem)
			rec.Deleted += rem.Deleted
		}
	}
	r.log().Info("reconciled the store with storage", "container", container, "sources", rec.Sources,
		"removed", len(rec.Removed), "documents_deleted", rec.Deleted)
	return rec, nil
}

// list returns the names of the container's blobs; a container that does
// not exist has none.
func (r *Remover) list(ctx context.Context, container string) (map[string]bool, error) {
	names := map[string]bool{}
	err := r.Blobs.List(ctx, container, "", func(it blobstore.Item) error {
		names[it.Name] = true
		return nil
	})
	if err != nil && !errors.Is(err, tinyhead.ErrNotFound) {
		return nil, err
	}
	return names, nil
}

func (r *Remover) log() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}
