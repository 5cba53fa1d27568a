package app

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

var sink []byte

// TestMemoryReturnedAfterLargeRequest: an invocation that leaves hundreds
// of megabytes of garbage behind does not leave them resident.
func TestMemoryReturnedAfterLargeRequest(t *testing.T) {
	h := returnMemory(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 8 {
			sink = make([]byte, 64<<20)
			for i := 0; i < len(sink); i += 4096 {
				sink[i] = 1 // touch every page
			}
		}
		sink = nil
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/Classify", nil))
	if got := heldBytes(); got > ReturnMemoryAbove {
		t.Errorf("the runtime holds %d MiB after the request, want at most %d MiB", got>>20, ReturnMemoryAbove>>20)
	}
}
