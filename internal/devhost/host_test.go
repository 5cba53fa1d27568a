package devhost

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/tinyhead/tinyhead/internal/azurite/azuritetest"
	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/customhandler"
)

// TestHostDeliversDeletions plays a scan after a blob was deleted: the
// host sends the BlobDeleted Event Grid event for it, once, and dispatches
// a blob uploaded again under the name as a new version.
func TestHostDeliversDeletions(t *testing.T) {
	az := azuritetest.Start(t)
	blobs, err := blobstore.NewFromConnectionString(az.ConnectionString())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := blobs.EnsureContainer(ctx, "incoming"); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		calls []string // "EmbedBlob a.txt", "BlobDeleted a.txt"
	)
	handler := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var inv customhandler.InvokeRequest
		if err := json.NewDecoder(r.Body).Decode(&inv); err != nil {
			t.Errorf("decode invocation: %v", err)
		}
		call := r.URL.Path[1:] + " "
		switch r.URL.Path {
		case "/EmbedBlob":
			_, name, err := inv.BlobPath("incoming")
			if err != nil {
				t.Error(err)
			}
			call += name
		case "/BlobDeleted":
			ev, err := inv.EventGridEvent("event")
			if err != nil {
				t.Fatal(err)
			}
			c, name, err := ev.BlobPath()
			if err != nil || c != "incoming" || ev.EventType != customhandler.BlobDeletedEvent {
				t.Errorf("event %+v: %s/%s, %v", ev, c, name, err)
			}
			call += name
		}
		mu.Lock()
		calls = append(calls, call)
		mu.Unlock()
		w.Write([]byte(`{"Logs": []}`))
	}))
	defer handler.Close()
	h := &Host{
		Blobs: blobs, HandlerURL: handler.URL, Container: "incoming",
		Function: "EmbedBlob", Binding: "blob", DeleteFunction: "BlobDeleted", DeleteBinding: "event",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	scan := func(want ...string) {
		t.Helper()
		mu.Lock()
		calls = nil
		mu.Unlock()
		if _, err := h.Sync(ctx, nil); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		slices.Sort(calls)
		if !slices.Equal(calls, want) {
			t.Errorf("invocations %q, want %q", calls, want)
		}
	}
	upload := func(name string) {
		t.Helper()
		if _, err := blobs.UploadBytes(ctx, "incoming", name, []byte("text"), ""); err != nil {
			t.Fatal(err)
		}
	}
	upload("a.txt")
	upload("dir/b.txt")
	scan("EmbedBlob a.txt", "EmbedBlob dir/b.txt")
	if err := blobs.Delete(ctx, "incoming", "dir/b.txt"); err != nil {
		t.Fatal(err)
	}
	scan("BlobDeleted dir/b.txt")
	scan()
	upload("dir/b.txt")
	scan("EmbedBlob dir/b.txt")
}
