package state

import (
	"net/netip"
	"testing"
	"time"

	"github.com/logjail/logjail/match"
)

// BenchmarkTrackerFlood measures the tracker's part of a flood: 100,000
// distinct addresses failing maxretry (5) times each, in waves of 1,000
// whose addresses fail once per round (as cmd/logjail's BenchmarkFlood
// writes them), each ban decided through the gate and the windows' changes
// taken for a commit every 10,000 failures. It reports the time and
// allocations per ban.
func BenchmarkTrackerFlood(b *testing.B) {
	const n, retry, wave = 100_000, 5, 1000
	now := time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)
	fs := make([]match.Failure, 0, n*retry)
	for first := 0; first < n; first += wave {
		for range retry {
			for i := first; i < first+wave; i++ {
				u := uint32(i) + 1
				a := netip.AddrFrom4([4]byte{10, byte(u >> 16), byte(u >> 8), byte(u)})
				fs = append(fs, match.Failure{Pipeline: "sshd", Addr: a, Time: now, Line: "Failed password for root from " + a.String() + " port 40000 ssh2"})
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		tr := NewTracker(Policy{Pipeline: "sshd", MaxRetry: retry, FindTime: 10 * time.Minute, BanTime: time.Hour, MaxTracked: 1 << 20})
		bans := 0
		for i, f := range fs {
			if _, ok := failThroughGate(tr, f, now); ok {
				bans++
			}
			if i%10_000 == 0 {
				tr.TakeWindowChanges()
			}
		}
		if bans != n {
			b.Fatalf("%d bans, want %d", bans, n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/ban")
}
