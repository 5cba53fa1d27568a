// Package devhost plays the Azure Functions host's part when the host itself
// cannot run (locally, and on machines where Core Tools cannot be
// installed). Host watches a container, and for every new blob version
// POSTs the exact invocation the host would send to the custom handler's
// /{FunctionName} endpoint, retrying failures up to the host's default of
// 5 tries before giving the blob up as poison; for every blob gone since
// the last scan it POSTs the BlobDeleted Event Grid event, as Event Grid
// and the host would. Gateway is the host's HTTP
// front door: /api/{route} for HTTP triggers, /admin/functions/{name} for
// the others.
package devhost

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/customhandler"
)

// Host dispatches blob-trigger invocations.
type Host struct {
	Blobs      *blobstore.Client
	HandlerURL string // e.g. http://127.0.0.1:7071
	Container  string
	Function   string // e.g. "EmbedBlob"
	Binding    string // the trigger's binding name in function.json
	// DeleteFunction, if set, receives a Microsoft.Storage.BlobDeleted
	// Event Grid event for every blob that a scan no longer finds (e.g.
	// "BlobDeleted"); DeleteBinding is its trigger's binding name.
	DeleteFunction string
	DeleteBinding  string
	// Concurrency is how many invocations run at once (default 2, like
	// host.json's extensions.blobs.maxDegreeOfParallelism).
	Concurrency int
	// MaxAttempts before a blob version is poisoned (default 5, the host's).
	MaxAttempts int
	// PollEvery is the scan interval of Run (default 1 s).
	PollEvery time.Duration
	HTTP      *http.Client
	Log       *slog.Logger

	mu       sync.Mutex
	receipts map[string]string // name → ETag dispatched (the host's blob receipts)
}

// Invocation is the outcome of one blob's dispatch.
type Invocation struct {
	Name     string
	ETag     string
	Attempts int
	Status   int             // HTTP status of the last attempt
	Response json.RawMessage // the handler's InvokeResponse
	Poisoned bool
	Elapsed  time.Duration
}

// Run scans the container every PollEvery until ctx ends, dispatching every
// blob version not dispatched before, at most Concurrency at a time. Scans
// go on while invocations run, so a file dropped during a long ingest is
// picked up as soon as a slot frees, as the host does. It returns once
// ctx ends and the invocations in flight have returned.
func (h *Host) Run(ctx context.Context, onDone func(Invocation)) error {
	every := h.PollEvery
	if every <= 0 {
		every = time.Second
	}
	sem := make(chan struct{}, h.concurrency())
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		todo, err := h.scan(ctx)
		if err != nil && ctx.Err() == nil {
			h.log().Warn("scan of incoming blobs failed; will retry", "container", h.Container, "error", err)
		}
		for _, it := range todo {
			wg.Add(1)
			go func() {
				defer wg.Done()
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return
				}
				defer func() { <-sem }()
				inv := h.dispatch(ctx, it)
				if onDone != nil {
					onDone(inv)
				}
			}()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
	}
}

// scan lists the container, delivers the deletion of every blob dispatched
// before that is no longer there, and returns the blob versions not
// dispatched before, marking them dispatched (the host's blob receipts).
func (h *Host) scan(ctx context.Context) ([]blobstore.Item, error) {
	var todo []blobstore.Item
	seen := map[string]bool{}
	err := h.Blobs.List(ctx, h.Container, "", func(it blobstore.Item) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		seen[it.Name] = true
		if h.receipts == nil {
			h.receipts = map[string]string{}
		}
		if h.receipts[it.Name] != it.ETag {
			h.receipts[it.Name] = it.ETag
			todo = append(todo, it)
		}
		return nil
	})
	if err != nil {
		return todo, fmt.Errorf("list %s: %w", h.Container, err)
	}
	h.deliverDeletions(ctx, h.forget(seen))
	if len(todo) > 0 {
		h.log().Info("new blobs", "container", h.Container, "count", len(todo))
	}
	return todo, nil
}

func (h *Host) concurrency() int {
	if h.Concurrency <= 0 {
		return 2
	}
	return h.Concurrency
}

// Sync dispatches every blob version in the container that has not been
// dispatched yet and waits for them; it returns how many it dispatched.
func (h *Host) Sync(ctx context.Context, onDone func(Invocation)) (int, error) {
	todo, err := h.scan(ctx)
	if err != nil {
		return 0, err
	}
	sem := make(chan struct{}, h.concurrency())
	var wg sync.WaitGroup
	var doneMu sync.Mutex
	done, start := 0, time.Now()
	for _, it := range todo {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			inv := h.dispatch(ctx, it)
			doneMu.Lock()
			done++
			h.log().Info("blob done", "blob", it.Name, "attempts", inv.Attempts, "poisoned", inv.Poisoned,
				"progress", fmt.Sprintf("%d/%d", done, len(todo)),
				"files_per_s", fmt.Sprintf("%.2f", float64(done)/time.Since(start).Seconds()))
			doneMu.Unlock()
			if onDone != nil {
				onDone(inv)
			}
		}()
	}
	wg.Wait()
	return len(todo), ctx.Err()
}

// dispatch invokes the function for one blob version, retrying with
// backoff as the host does.
func (h *Host) dispatch(ctx context.Context, it blobstore.Item) Invocation {
	start := time.Now()
	inv := Invocation{Name: it.Name, ETag: it.ETag}
	max := h.MaxAttempts
	if max <= 0 {
		max = 5
	}
	for inv.Attempts < max && ctx.Err() == nil {
		inv.Attempts++
		status, body, err := h.invoke(ctx, it)
		inv.Status, inv.Response = status, body
		if err == nil && status >= 200 && status < 300 {
			inv.Elapsed = time.Since(start)
			return inv
		}
		h.log().Warn("invocation failed", "function", h.Function, "blob", it.Name, "attempt", inv.Attempts,
			"status", status, "error", err, "response", truncate(body, 500))
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(inv.Attempts) * 200 * time.Millisecond):
		}
	}
	inv.Poisoned = ctx.Err() == nil
	if inv.Poisoned {
		h.log().Error("blob given up after repeated failures (the host would move it to the webjobs-blobtrigger-poison queue)",
			"blob", it.Name, "etag", it.ETag, "attempts", inv.Attempts)
	}
	inv.Elapsed = time.Since(start)
	return inv
}

// invoke sends one invocation as the host does: the blob base64-encoded
// into Data, described in Metadata. The blob is streamed from storage into
// the request as it is sent, never held whole (the host itself does hold
// it: see README, "Size limits").
func (h *Host) invoke(ctx context.Context, it blobstore.Item) (int, json.RawMessage, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	body, props, err := h.Blobs.Open(ctx, h.Container, it.Name)
	if err != nil {
		return 0, nil, fmt.Errorf("open %s: %w", it.Name, err)
	}
	defer body.Close()
	pr, pw := io.Pipe()
	written := make(chan struct{})
	go func() {
		defer close(written)
		pw.CloseWithError(customhandler.WriteBlobTrigger(pw, h.Function, h.Binding, h.Blobs.URL(h.Container, it.Name), it.Name, body,
			customhandler.BlobProperties{ETag: props.ETag, ContentLength: props.Size, ContentType: it.ContentType, LastModified: it.LastModified}))
	}()
	status, resp, err := post(ctx, h.HTTP, h.HandlerURL+"/"+h.Function, pr)
	pr.Close() // ends the writer if the handler answered before reading it all
	<-written  // before body is closed
	return status, resp, err
}

func (h *Host) log() *slog.Logger {
	if h.Log == nil {
		return slog.Default()
	}
	return h.Log
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}
