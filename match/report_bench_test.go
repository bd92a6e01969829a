package match_test

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/pipelines"
)

// BenchmarkTestWorkload is `logjail test` in-process on the shared
// workload with a worker per core: the shipped sshd filter (each worker
// reading its ranges of the file), and fail2ban's sshd.conf (one reader,
// the date and connections in order on a match.Stream), for a profile of
// the reading, the stream and the merging beside the matcher:
//
//	go test -run '^$' -bench TestWorkload/sshd$ -cpuprofile cpu.out ./match/
//	go test -run '^$' -bench TestWorkload/fail2ban -benchmem -memprofile mem.out ./match/
//
// LOGJAIL_BENCH_LOG names another log; without the file it is skipped.
func BenchmarkTestWorkload(b *testing.B) {
	path := testkit.WorkloadPath()
	if _, err := os.Stat(path); err != nil {
		b.Skipf("no workload: %v", err)
	}
	for _, c := range []struct{ name, ref string }{
		{"sshd", "sshd"},
		{"fail2ban-sshd.conf", "/etc/fail2ban/filter.d/sshd.conf"},
	} {
		b.Run(c.name, func(b *testing.B) { benchTest(b, path, c.ref) })
	}
}

// benchTest runs Test with the filter ref over the log at path.
func benchTest(b *testing.B, path, ref string) {
	if _, _, err := pipelines.ResolveFilter(ref, "."); err != nil {
		b.Skip(err)
	}
	build := func() (match.Matcher, error) { m, _, err := pipelines.ResolveFilter(ref, "."); return m, err }
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC) // the workload's dates are in November
	var lines int
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		rep, err := match.Test(build, f, now, match.TestOptions{}, runtime.GOMAXPROCS(0))
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		lines = rep.Lines
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
