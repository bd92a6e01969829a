// Package authlog runs a matcher over an auth.log (testkit.AuthLog
// generates one) as a benchmark loop, for the match and pipelines
// benchmarks.
package authlog

import (
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/match"
)

// Bench runs m over lines, read at now, as b's loop, and reports lines/s.
// It returns the entries and how many of them matched.
func Bench(b *testing.B, m match.Matcher, lines []string, now time.Time) ([]ingest.Entry, int) {
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
	perLine := b.Elapsed().Seconds() / float64(b.N) / float64(len(lines))
	b.ReportMetric(1/perLine, "lines/s")
	return entries, matched
}
