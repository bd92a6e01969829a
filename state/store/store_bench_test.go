package store

import (
	"net/netip"
	"testing"
	"time"

	"github.com/logjail/logjail/state"
)

// BenchmarkOpenStore measures opening a store of 100,000 bans, most of it
// bbolt's consistency check (README: "The state store").
func BenchmarkOpenStore(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for i := 0; i < 100_000; i += 10_000 {
		c := &Changes{}
		for j := i; j < i+10_000; j++ {
			a := netip.AddrFrom4([4]byte{10, byte(j >> 16), byte(j >> 8), byte(j)})
			c.Bans = append(c.Bans, state.Decision{Kind: state.Ban, Pipeline: "sshd", Prefix: netip.PrefixFrom(a, 32), Time: now, Until: now.Add(time.Hour), Failures: 5, BanCount: 1, Reason: "5 failures"})
		}
		if err := s.Commit("sshd", c); err != nil {
			b.Fatal(err)
		}
	}
	s.Close()
	b.ResetTimer()
	for b.Loop() {
		s, err := Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}
