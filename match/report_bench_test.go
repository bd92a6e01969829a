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

// BenchmarkTestWorkload is `logjail test sshd` in-process on the shared
// workload (a worker per core, each reading its ranges of the file), for
// a profile of its reading and merging beside the matcher:
//
//	go test -run '^$' -bench TestWorkload -cpuprofile cpu.out ./match/
//
// LOGJAIL_BENCH_LOG names another log; without the file it is skipped.
func BenchmarkTestWorkload(b *testing.B) {
	path := testkit.WorkloadPath()
	if _, err := os.Stat(path); err != nil {
		b.Skipf("no workload: %v", err)
	}
	build := func() (match.Matcher, error) { m, _, err := pipelines.ResolveFilter("sshd", "."); return m, err }
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
