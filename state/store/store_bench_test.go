package store

import (
	"net/netip"
	"testing"
	"time"

	"github.com/logjail/logjail/state"
)

// floodBans are n bans of distinct addresses in 10.0.0.0/8, as a flood
// decides them.
func floodBans(first, n int, now time.Time) []state.Decision {
	out := make([]state.Decision, 0, n)
	for j := first; j < first+n; j++ {
		a := netip.AddrFrom4([4]byte{10, byte(j >> 16), byte(j >> 8), byte(j)})
		out = append(out, state.Decision{Kind: state.Ban, Pipeline: "sshd", Prefix: netip.PrefixFrom(a, 32), Time: now, Until: now.Add(time.Hour), Failures: 5, BanCount: 1, Reason: "5 failures within 10m"})
	}
	return out
}

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
		if err := s.Commit("sshd", &Changes{Decisions: floodBans(i, 10_000, now)}); err != nil {
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

// BenchmarkCommitBans measures the commit of a flood's 10,000 bans (each
// with its ban history record) into a store holding 20,000: the store's
// part of a flood's per-ban cost.
func BenchmarkCommitBans(b *testing.B) {
	now := time.Now()
	held, bans := floodBans(0, 20_000, now), floodBans(20_000, 10_000, now)
	b.ReportAllocs()
	for range b.N {
		b.StopTimer()
		s, err := Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Commit("sshd", &Changes{Decisions: held}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := s.Commit("sshd", &Changes{Decisions: bans}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
}

// BenchmarkCountNewAddress measures the ban history's answer for an
// address it has no record of, in a store of 100,000 banned addresses: a
// flood's every ban asks it.
func BenchmarkCountNewAddress(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	for i := 0; i < 100_000; i += 10_000 {
		if err := s.Commit("sshd", &Changes{Decisions: floodBans(i, 10_000, now)}); err != nil {
			b.Fatal(err)
		}
	}
	news := floodBans(100_000, 10_000, now)
	i := 0
	for b.Loop() {
		if n, err := s.Count("sshd", news[i%len(news)].Prefix, false); n != 0 || err != nil {
			b.Fatal(n, err)
		}
		i++
	}
}
