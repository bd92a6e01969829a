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
			cf, err := loadCorpusFilter(corpusFilterDir, "sshd", map[string]string{"mode": mode})
			if err != nil {
				b.Skip(err)
			}
			m, err := Compile("sshd", match.Rules{Dialect: match.DialectFail2ban, Prefregex: cf.Prefregex, Failregex: cf.Failregex,
				Ignoreregex: cf.Ignoreregex, Datepattern: cf.Datepattern, MaxLines: cf.MaxLines, Location: time.UTC})
			if err != nil {
				b.Fatal(err)
			}
			lines := testkit.AuthLog(50_000)
			now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
			if _, matched := authlog.Bench(b, m, lines, now); matched < len(lines)/10 {
				b.Fatalf("matched %d of %d lines", matched, len(lines))
			}
		})
	}
}
