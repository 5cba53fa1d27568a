// Package azuritetest starts Azurite for tests. It is the only part of the
// Azurite support that imports testing, so that the handler, which runs
// Azurite for its local mode, does not link it.
package azuritetest

import (
	"testing"

	"github.com/tinyhead/tinyhead/internal/azurite"
	"github.com/tinyhead/tinyhead/internal/testenv"
)

// Start starts Azurite on a free port for the test and stops it when the
// test ends. Azurite not installed is testenv.Missing: a failure under
// scripts/test.sh, a skip with the reason elsewhere.
func Start(tb testing.TB) *azurite.Server {
	tb.Helper()
	bin, err := azurite.FindBinary(nil)
	if err != nil {
		testenv.Missing(tb, "azurite is required for this test: %v", err)
	}
	s, err := azurite.Start(tb.Context(), azurite.Options{Bin: bin, Dir: tb.TempDir()})
	if err != nil {
		tb.Fatalf("azurite: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}
