// Package azurite runs a real Azurite blob service (the Azure Storage
// emulator) for tests and for the local run.
//
// Azurite is installed by scripts/setup.sh into the cache directory; the
// executable is found through TINYHEAD_AZURITE_BIN, else at
// npm/node_modules/.bin/azurite-blob in the cache directory (see
// internal/devenv). Tests start it with internal/azurite/azuritetest.
package azurite

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/tinyhead/tinyhead/internal/devenv"
)

// The development storage account every Azurite has, and the blob port
// that "UseDevelopmentStorage=true" means (on 127.0.0.1).
const (
	AccountName     = "devstoreaccount1"
	AccountKey      = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	DevelopmentPort = 10000
)

// BlobEndpoint returns the development account's blob service URL on the
// given port of 127.0.0.1.
func BlobEndpoint(port int) string {
	return fmt.Sprintf("http://127.0.0.1:%d/%s", port, AccountName)
}

// ConnectionString returns a shared-key connection string for the
// development account on the given port of 127.0.0.1.
func ConnectionString(port int) string {
	return fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s;",
		AccountName, AccountKey, BlobEndpoint(port))
}

// BinEnv names the setting that points at the azurite-blob executable;
// binRel is its path inside the cache directory.
const (
	BinEnv = "TINYHEAD_AZURITE_BIN"
	binRel = "npm/node_modules/.bin/azurite-blob"
)

// Options configure Start. The zero value is ready to use.
type Options struct {
	// Bin is the azurite-blob executable; empty means FindBinary.
	Bin string
	// Port is the blob service port on 127.0.0.1; 0 picks a free one.
	Port int
	// Dir is where Azurite keeps its data; empty means a temporary
	// directory, removed by Stop.
	Dir string
	// StartTimeout bounds the wait for the service to answer; 0 means 60 s
	// (far more than Azurite usually needs, for loaded machines).
	StartTimeout time.Duration
	// Getenv looks up TINYHEAD_AZURITE_BIN and TINYHEAD_CACHE; nil means os.Getenv.
	Getenv func(string) string
}

// Server is a running Azurite blob service.
type Server struct {
	port    int
	dir     string
	tempDir bool
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has exited
	waitErr error         // valid once exited is closed
	out     *tailBuffer
	stop    sync.Once
}

// FindBinary returns the azurite-blob executable (see the package comment),
// or an error that says how to install it.
func FindBinary(getenv func(string) string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	bin, err := devenv.Path(getenv, BinEnv, binRel)
	if err != nil {
		return "", fmt.Errorf("azurite-blob not found: %w; set %s or run scripts/setup.sh", err, BinEnv)
	}
	if err := isExecutable(bin); err != nil {
		if getenv(BinEnv) != "" {
			return "", fmt.Errorf("%s: %w", BinEnv, err)
		}
		return "", fmt.Errorf("azurite-blob not found (%w); run scripts/setup.sh to install it", err)
	}
	return bin, nil
}

func isExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// Start runs azurite-blob and returns once it answers HTTP requests. ctx
// bounds the start only; the server runs until Stop.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin := opts.Bin
	if bin == "" {
		var err error
		if bin, err = FindBinary(opts.Getenv); err != nil {
			return nil, err
		}
	}
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	dir, tempDir := opts.Dir, false
	if dir == "" {
		d, err := os.MkdirTemp("", "azurite-")
		if err != nil {
			return nil, fmt.Errorf("start azurite: %w", err)
		}
		dir, tempDir = d, true
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("start azurite: %w", err)
	}

	// A free port picked here may be taken before Azurite binds it; then
	// Azurite exits at once and another port is tried.
	attempts := 1
	if opts.Port == 0 {
		attempts = 3
	}
	var err error
	for range attempts {
		port := opts.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				break
			}
		}
		var s *Server
		s, err = start(ctx, bin, port, dir)
		if err == nil {
			s.tempDir = tempDir
			return s, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	if tempDir {
		os.RemoveAll(dir)
	}
	return nil, err
}

func start(ctx context.Context, bin string, port int, dir string) (*Server, error) {
	s := &Server{port: port, dir: dir, exited: make(chan struct{}), out: &tailBuffer{max: 4096}}
	s.cmd = exec.Command(bin,
		"--blobHost", "127.0.0.1",
		"--blobPort", strconv.Itoa(port),
		"--location", dir,
		// azblob sends an API version newer than Azurite knows.
		"--skipApiVersionCheck",
		"--disableTelemetry",
		"--silent",
	)
	s.cmd.Stdout = s.out
	s.cmd.Stderr = s.out
	s.cmd.SysProcAttr = sysProcAttr()
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start azurite: %w", err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()

	client := &http.Client{Timeout: time.Second}
	url := s.BlobEndpoint() + "?comp=list"
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			s.Stop()
			return nil, fmt.Errorf("start azurite: %w", err)
		}
		if resp, err := client.Do(req); err == nil {
			// Any HTTP answer (even 403 for the unsigned request) means ready.
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("start azurite on port %d: it exited (%v): %s", port, s.waitErr, bytes.TrimSpace(s.out.Bytes()))
		case <-ctx.Done():
			s.Stop()
			return nil, fmt.Errorf("start azurite on port %d: no answer: %w; output: %s", port, ctx.Err(), bytes.TrimSpace(s.out.Bytes()))
		case <-tick.C:
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Port returns the blob service's port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// Dir returns the directory Azurite keeps its data in.
func (s *Server) Dir() string { return s.dir }

// BlobEndpoint returns the blob service URL of the development account.
func (s *Server) BlobEndpoint() string { return BlobEndpoint(s.port) }

// ConnectionString returns a shared-key connection string for the
// development account on this server.
func (s *Server) ConnectionString() string { return ConnectionString(s.port) }

// Stop ends Azurite's process group (SIGTERM, then SIGKILL after 5 s), waits
// for it, and removes the data directory if Start created it. It is safe to
// call more than once.
func (s *Server) Stop() {
	s.stop.Do(func() {
		select {
		case <-s.exited:
		default:
			signalGroup(s.cmd.Process, syscall.SIGTERM)
			select {
			case <-s.exited:
			case <-time.After(5 * time.Second):
				signalGroup(s.cmd.Process, syscall.SIGKILL)
				<-s.exited
			}
		}
		if s.tempDir {
			os.RemoveAll(s.dir)
		}
	})
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-b.max:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf)
}
