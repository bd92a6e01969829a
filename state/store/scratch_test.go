package store

import (
	"net/netip"
	"testing"
	"time"

	"github.com/logjail/logjail/state"
)

// A scratch store is a store (the history counts as in any), opened only
// where none is.
func TestOpenScratch(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenScratch(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix("192.0.2.7/32")
	d := state.Decision{Kind: state.Ban, Pipeline: "sshd", Prefix: p, Time: t0, Until: t0.Add(time.Hour), BanCount: 2}
	if err := s.RecordBan(d); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Count("sshd", p, false); n != 2 || err != nil {
		t.Fatalf("count %d, %v; want 2", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenScratch(dir); err == nil {
		t.Fatal("a scratch store opened over an existing store")
	}
}
