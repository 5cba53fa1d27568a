package app

import (
	"net/http"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// ReturnMemoryAbove is how much memory the Go runtime may keep from the
// operating system after an invocation before it is handed back at once.
// Go's background scavenger returns freed memory only gradually (a large
// request's garbage stayed resident for minutes), which on a 2,048 MB
// instance running two invocations at once is memory the next large
// request cannot have. Below this, the scavenger's pace is fine.
const ReturnMemoryAbove = 256 << 20

// returnMemory calls next, then, if the runtime holds more than
// ReturnMemoryAbove from the operating system, collects and returns the
// free part (debug.FreeOSMemory: one full collection, a few milliseconds
// for tinyhead's heaps, whose large objects hold no pointers).
func returnMemory(next http.Handler) http.Handler {
	var mu sync.Mutex // one collection at a time is enough
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		if heldBytes() <= ReturnMemoryAbove || !mu.TryLock() {
			return
		}
		defer mu.Unlock()
		debug.FreeOSMemory()
	})
}

// heldBytes is the memory the Go runtime has mapped and not returned to
// the operating system.
func heldBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64() - s[1].Value.Uint64()
}
