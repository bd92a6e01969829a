package pipelines

import (
	"testing"
	"time"

	"github.com/logjail/logjail/internal/authlog"
	"github.com/logjail/logjail/internal/testkit"
)

// BenchmarkMatchSSHDWorkload runs the shipped sshd filter over the shared
// workload of issue 13 (gen_authlog.py 1000000 --seed 42), one core:
//
//	python3 ../shared/bench/gen_authlog.py 1000000 --seed 42 > /tmp/auth1m.log
//	go test -run '^$' -bench MatchSSHDWorkload -benchmem ./pipelines/
//
// LOGJAIL_BENCH_LOG names another log; without the file it is skipped.
func BenchmarkMatchSSHDWorkload(b *testing.B) {
	lines, err := testkit.WorkloadLines()
	if err != nil {
		b.Skipf("no workload: %v", err)
	}
	m, _, err := ResolveFilter("sshd", ".")
	if err != nil {
		b.Fatal(err)
	}
	// The workload's dates are in November; read it then.
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	_, matched := authlog.Bench(b, m, lines, now)
	b.ReportMetric(float64(matched), "matched")
}
