package pipelines

import (
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/match"
)

// BenchmarkMatchSSHD measures the match stage (date recognition, prefregex,
// failregexes, address parsing) over a generated 100k-line auth.log.
//
//	go test -run '^$' -bench MatchSSHD -benchmem ./pipelines/
func BenchmarkMatchSSHD(b *testing.B) {
	lines := testkit.AuthLog(100_000)
	m, _, err := ResolveFilter("sshd", ".")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	entries := make([]ingest.Entry, len(lines))
	for i, l := range lines {
		entries[i] = ingest.Entry{Message: l, ReadAt: now}
	}
	matched := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		matched = 0
		for i := range entries {
			if _, out := m.Match(&entries[i], now); out == match.Matched {
				matched++
			}
		}
	}
	b.StopTimer()
	if matched < len(lines)/10 || matched > len(lines)/2 {
		b.Fatalf("matched %d of %d lines: generator or filter is off", matched, len(lines))
	}
	perLine := b.Elapsed().Seconds() / float64(b.N) / float64(len(lines))
	b.ReportMetric(1/perLine, "lines/s")
	b.ReportMetric(float64(testing.AllocsPerRun(1, func() {
		for i := range entries {
			m.Match(&entries[i], now)
		}
	}))/float64(len(lines)), "allocs/line")
}
