package match

import (
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/internal/testkit"
)

// BenchmarkFail2banSSHD runs fail2ban's own sshd filter (read from
// /etc/fail2ban) in the fail2ban dialect over a generated auth.log.
//
//	go test -run '^$' -bench Fail2banSSHD -benchmem ./match/
func BenchmarkFail2banSSHD(b *testing.B) {
	for _, mode := range []string{"normal", "aggressive"} {
		b.Run(mode, func(b *testing.B) {
			cf, err := loadCorpusFilter(corpusFilterDir, "sshd", map[string]string{"mode": mode})
			if err != nil {
				b.Skip(err)
			}
			m, err := Compile("sshd", Rules{Dialect: DialectFail2ban, Prefregex: cf.Prefregex, Failregex: cf.Failregex,
				Ignoreregex: cf.Ignoreregex, Datepattern: cf.Datepattern, MaxLines: cf.MaxLines, Location: time.UTC})
			if err != nil {
				b.Fatal(err)
			}
			lines := testkit.AuthLog(50_000)
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
					if _, out := m.Match(&entries[i], now); out == Matched {
						matched++
					}
				}
			}
			b.StopTimer()
			if matched < len(lines)/10 {
				b.Fatalf("matched %d of %d lines", matched, len(lines))
			}
			perLine := b.Elapsed().Seconds() / float64(b.N) / float64(len(lines))
			b.ReportMetric(1/perLine, "lines/s")
		})
	}
}
