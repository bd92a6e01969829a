package matcher

import (
	"testing"
	"time"

	"github.com/logjail/logjail/internal/authlog"
	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/match"
)

// BenchmarkFail2banSSHD runs fail2ban's own sshd filter (read from
// /etc/fail2ban) in the fail2ban dialect over a generated auth.log.
//
//	go test -run '^$' -bench Fail2banSSHD -benchmem ./match/fail2ban/matcher/
func BenchmarkFail2banSSHD(b *testing.B) {
	for _, mode := range []string{"normal", "aggressive"} {
		b.Run(mode, func(b *testing.B) {
			m := benchSSHD(b, mode)
			lines := testkit.AuthLog(50_000)
			now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
			if _, matched := authlog.Bench(b, m, lines, now); matched < len(lines)/10 {
				b.Fatalf("matched %d of %d lines", matched, len(lines))
			}
		})
	}
}

// BenchmarkFail2banSSHDWorkload runs fail2ban's sshd filter over the
// shared workload of issue 13 (gen_authlog.py 1000000 --seed 42), one
// core:
//
//	python3 ../shared/bench/gen_authlog.py 1000000 --seed 42 > /tmp/auth1m.log
//	go test -run '^$' -bench Fail2banSSHDWorkload -benchmem ./match/fail2ban/matcher/
//
// LOGJAIL_BENCH_LOG names another log; without the file it is skipped.
func BenchmarkFail2banSSHDWorkload(b *testing.B) {
	lines, err := testkit.WorkloadLines()
	if err != nil {
		b.Skipf("no workload: %v", err)
	}
	m := benchSSHD(b, "normal")
	// The workload's dates are in November; read it then.
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	_, matched := authlog.Bench(b, m, lines, now)
	b.ReportMetric(float64(matched), "matched")
}

// benchSSHD compiles fail2ban's sshd filter in mode (skips without it).
func benchSSHD(b *testing.B, mode string) *Matcher {
	cf, err := loadCorpusFilter(corpusFilterDir, "sshd", map[string]string{"mode": mode})
	if err != nil {
		b.Skip(err)
	}
	m, err := Compile("sshd", match.Rules{Dialect: match.DialectFail2ban, Prefregex: cf.Prefregex, Failregex: cf.Failregex,
		Ignoreregex: cf.Ignoreregex, Datepattern: cf.Datepattern, MaxLines: cf.MaxLines, Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	return m
}
