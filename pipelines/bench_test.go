package pipelines

import (
	"testing"
	"time"

	"github.com/logjail/logjail/internal/authlog"
	"github.com/logjail/logjail/internal/testkit"
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
	entries, matched := authlog.Bench(b, m, lines, now)
	if matched < len(lines)/10 || matched > len(lines)/2 {
		b.Fatalf("matched %d of %d lines: generator or filter is off", matched, len(lines))
	}
	b.ReportMetric(float64(testing.AllocsPerRun(1, func() {
		for i := range entries {
			m.Match(&entries[i], now)
		}
	}))/float64(len(lines)), "allocs/line")
}
