// Package azuritetest starts Azurite for tests. It is the only part of the
// Azurite support that imports testing, so that the handler, which runs
// Azurite for its local mode, does not link it.
package azuritetest

import (
	"testing"

	"github.com/tinyhead/tinyhead/internal/azurite"
)

// Start starts Azurite on a free port for the test and stops it when the
// test ends. The test fails (it does not skip) when Azurite is not
// installed.
func Start(tb testing.TB) *azurite.Server {
	tb.Helper()
	bin, err := azurite.FindBinary(nil)
	if err != nil {
		tb.Fatalf("azurite is required for this test: %v", err)
	}
	s, err := azurite.Start(tb.Context(), azurite.Options{Bin: bin, Dir: tb.TempDir()})
	if err != nil {
		tb.Fatalf("azurite: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}
