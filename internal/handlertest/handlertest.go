// Package handlertest runs a built handler executable the way the Azure
// Functions host runs a custom handler — settings in the environment, the
// port in FUNCTIONS_CUSTOMHANDLER_PORT, invocations POSTed to
// /{FunctionName} — for the tests of the handler binary and of the
// deployment package.
package handlertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tinyhead/tinyhead/internal/app"
	"github.com/tinyhead/tinyhead/internal/blobstore"
	"github.com/tinyhead/tinyhead/internal/config"
	"github.com/tinyhead/tinyhead/internal/customhandler"
	"github.com/tinyhead/tinyhead/internal/logbuf"
)

// StartTimeout is how long the host waits for a custom handler to listen.
const StartTimeout = 60 * time.Second

// Handler is a running handler process.
type Handler struct {
	URL string // http://127.0.0.1:{port}

	cmd    *exec.Cmd
	logs   logbuf.Buffer
	exited chan struct{} // closed when the process has ended
	err    error         // its exit error, once exited is closed
}

// Start runs the executable bin in dir with env plus the port setting, and
// stops it (SIGTERM, then a clean exit within 30 s is expected) when the
// test ends. It does not wait for the handler to listen: see Ready.
func Start(tb testing.TB, bin, dir string, env []string) *Handler {
	tb.Helper()
	port := FreePort(tb)
	cmd := exec.Command(bin)
	cmd.Env = append(env[:len(env):len(env)], config.Port+"="+strconv.Itoa(port))
	cmd.Dir = dir
	h := &Handler{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &h.logs, &h.logs
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start the handler: %v", err)
	}
	go func() {
		h.err = cmd.Wait()
		close(h.exited)
	}()
	tb.Cleanup(func() {
		select {
		case <-h.exited:
			return // ended by itself; Exit reported it
		default:
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-h.exited:
			if h.err != nil {
				tb.Errorf("handler exit after SIGTERM: %v\n%s", h.err, h.Logs())
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			tb.Errorf("handler did not stop within 30 s of SIGTERM\n%s", h.Logs())
		}
	})
	return h
}

// Ready waits, as the host does, for GET / to answer, and fails the test if
// the handler exits or has not answered within StartTimeout.
func (h *Handler) Ready(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(StartTimeout)
	for {
		resp, err := http.Get(h.URL + "/")
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-h.exited:
			tb.Fatalf("the handler exited: %v\n%s", h.err, h.Logs())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the handler did not answer within %v: %v\n%s", StartTimeout, err, h.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Exit waits up to timeout for the handler to end by itself and returns
// its exit error; it fails the test (and kills the handler) if it is still
// running then.
func (h *Handler) Exit(tb testing.TB, timeout time.Duration) error {
	tb.Helper()
	select {
	case <-h.exited:
		return h.err
	case <-time.After(timeout):
		h.cmd.Process.Kill()
		<-h.exited
		tb.Fatalf("the handler still ran after %v\n%s", timeout, h.Logs())
		return nil
	}
}

// Kill ends the handler with SIGKILL, as a crash or an out-of-memory kill
// would, and waits until it is gone.
func (h *Handler) Kill(tb testing.TB) {
	tb.Helper()
	if err := h.cmd.Process.Kill(); err != nil {
		tb.Fatalf("kill the handler: %v", err)
	}
	<-h.exited
}

// Invoke POSTs an invocation payload to /{function}, as the host does, and
// returns the status and the body of the answer.
func (h *Handler) Invoke(tb testing.TB, function string, payload any) (int, string) {
	tb.Helper()
	body, err := json.Marshal(payload)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := http.Post(h.URL+"/"+function, "application/json", bytes.NewReader(body))
	if err != nil {
		tb.Fatalf("invoke %s: %v\n%s", function, err, h.Logs())
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read the answer of %s: %v", function, err)
	}
	return resp.StatusCode, string(raw)
}

// EmbedBlob uploads content to incoming/{name} and sends the blob-trigger
// invocation the host sends for it.
func (h *Handler) EmbedBlob(tb testing.TB, blobs *blobstore.Client, name string, content []byte, contentType string) (int, string) {
	tb.Helper()
	ctx := context.Background()
	if err := blobs.EnsureContainer(ctx, config.IncomingContainer); err != nil {
		tb.Fatal(err)
	}
	etag, err := blobs.UploadBytes(ctx, config.IncomingContainer, name, content, contentType)
	if err != nil {
		tb.Fatal(err)
	}
	req := customhandler.BlobTriggerRequest(app.EmbedBlobFunction, app.BlobBinding,
		blobs.URL(config.IncomingContainer, name), name, content,
		customhandler.BlobProperties{ETag: etag, ContentType: contentType})
	return h.Invoke(tb, app.EmbedBlobFunction, req)
}

// DeleteBlob deletes incoming/name and sends the invocation the host sends
// for its BlobDeleted event, as Event Grid delivers it to the BlobDeleted
// function.
func (h *Handler) DeleteBlob(tb testing.TB, blobs *blobstore.Client, name string) (int, string) {
	tb.Helper()
	if err := blobs.Delete(context.Background(), config.IncomingContainer, name); err != nil {
		tb.Fatal(err)
	}
	ev := customhandler.BlobDeletedEventFor(blobs.URL(config.IncomingContainer, name), config.IncomingContainer, name)
	return h.Invoke(tb, app.BlobDeletedFunction, customhandler.EventGridTriggerRequest(app.BlobDeletedFunction, app.EventBinding, ev))
}

// Logs is what the handler has written to stdout and stderr so far.
func (h *Handler) Logs() string { return h.logs.String() }

// LogsContain reports whether the process's output contains s within
// timeout. A line the handler wrote before it answered a request may still
// be in the pipe when the answer arrives, so a test that checks for it
// waits a little instead of reading the buffer once.
func (h *Handler) LogsContain(s string, timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); ; time.Sleep(10 * time.Millisecond) {
		if strings.Contains(h.Logs(), s) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// FreePort is a TCP port on the loopback interface that was free a moment
// ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
