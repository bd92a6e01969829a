package store

import (
	"net/netip"
	"testing"
	"time"

	"github.com/logjail/logjail/match"
)

// t0 is the tests' fixed clock.
var t0 = time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)

// openTestStore opens a new store in a temporary directory, closed when
// the test ends.
func openTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// failure is a failure of addr read at at.
func failure(addr string, at time.Time) match.Failure {
	return match.Failure{Pipeline: "sshd", Addr: netip.MustParseAddr(addr), Time: at, Line: "line of " + addr}
}
