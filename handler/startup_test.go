package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestGate(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "served "+r.URL.Path) })
	tests := []struct {
		name       string
		h          http.Handler
		err        error
		wantStatus int
		wantBody   string
	}{
		{"ready", ok, nil, http.StatusOK, "served /Train"},
		{"failed", nil, errors.New("login failed for the app's identity"), http.StatusServiceUnavailable, "could not start: login failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGate()
			srv := httptest.NewServer(g)
			defer srv.Close()

			// Before the services are open the probe answers at once.
			resp, err := http.Get(srv.URL + "/")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "starting") {
				t.Fatalf("probe before start: %d %q", resp.StatusCode, body)
			}

			// An invocation waits for them.
			type answer struct {
				status int
				body   string
			}
			answers := make(chan answer, 1)
			go func() {
				resp, err := http.Post(srv.URL+"/Train", "application/json", strings.NewReader("{}"))
				if err != nil {
					answers <- answer{0, err.Error()}
					return
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				answers <- answer{resp.StatusCode, string(b)}
			}()
			select {
			case a := <-answers:
				t.Fatalf("answered before the services were open: %+v", a)
			case <-time.After(100 * time.Millisecond):
			}
			g.open(tt.h, tt.err)
			g.open(ok, nil) // only the first call counts
			a := <-answers
			if a.status != tt.wantStatus || !strings.Contains(a.body, tt.wantBody) {
				t.Errorf("invocation: %d %q, want %d %q", a.status, a.body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

func TestOpenWithRetry(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	resume := unavailable{errors.New("database is not currently available")}
	missing := errors.New("model.json: no such file")
	tests := []struct {
		name         string
		failures     int // attempts that fail before one succeeds
		failure      error
		patience     time.Duration
		wantErr      bool
		wantAttempts int
	}{
		{"first try", 0, resume, time.Second, false, 1},
		{"resumes", 3, resume, time.Second, false, 4},
		{"gives up", 1000, resume, 50 * time.Millisecond, true, 0},
		{"not worth retrying", 1000, missing, time.Minute, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			attempts := 0
			v, err := openWithRetry(t.Context(), log, tt.patience, time.Millisecond, 16*time.Millisecond, func(context.Context) (string, error) {
				attempts++
				if attempts <= tt.failures {
					return "", tt.failure
				}
				return "services", nil
			})
			if tt.wantErr {
				if !errors.Is(err, tt.failure) || v != "" {
					t.Errorf("got %q, %v; want the last error", v, err)
				}
				if tt.wantAttempts > 0 && attempts != tt.wantAttempts || tt.wantAttempts == 0 && (attempts < 3 || attempts > 10) {
					t.Errorf("%d attempts in %v", attempts, tt.patience)
				}
				return
			}
			if err != nil || v != "services" || attempts != tt.wantAttempts {
				t.Errorf("got %q, %v after %d attempts; want services after %d", v, err, attempts, tt.wantAttempts)
			}
		})
	}

	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		go func() { time.Sleep(20 * time.Millisecond); cancel() }()
		_, err := openWithRetry(ctx, log, time.Minute, 5*time.Millisecond, 5*time.Millisecond, func(context.Context) (int, error) {
			return 0, resume
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	})
}
