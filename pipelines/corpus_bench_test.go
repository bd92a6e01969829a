package pipelines

import (
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
)

// fail2banSSHD is fail2ban's own sshd filter, as Debian installs it.
const fail2banSSHD = "/etc/fail2ban/filter.d/sshd.conf"

// BenchmarkCorpusVsFail2ban runs logjail's test command (the shipped sshd
// filter, its --json output, and fail2ban's own sshd.conf in the fail2ban
// dialect) and fail2ban-regex with fail2ban's sshd filter over the same
// 1M-line auth.log, and prints seconds, lines/s, peak RSS and the ratios:
// fail2ban-regex runs once (it takes half a minute), logjail's commands
// five times each, in turn, and the median counts (a run under half a
// second is at the mercy of a passing load; the range is printed too). The log is testkit.Workload's: the project's shared workload
// (gen_authlog.py 1000000 --seed 42) when its generator is there, else a
// generated one of the same size, and the output says which.
//
//	task corpus-bench
//	LOGJAIL_CORPUS_BENCH=1 go test -run '^$' -bench CorpusVsFail2ban -benchtime 1x -timeout 30m ./pipelines/
func BenchmarkCorpusVsFail2ban(b *testing.B) {
	if os.Getenv("LOGJAIL_CORPUS_BENCH") != "1" {
		b.Skip("a 1-minute comparison: run it with `task corpus-bench` (LOGJAIL_CORPUS_BENCH=1)")
	}
	f2b, err := exec.LookPath("fail2ban-regex")
	if err != nil {
		b.Fatal("fail2ban-regex is missing (apt-get install fail2ban)")
	}
	dir := b.TempDir()
	bin := filepath.Join(dir, "logjail")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/logjail").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	log, what := testkit.Workload(b, dir)
	b.ResetTimer()
	// All print their summary only, as fail2ban-regex does by default.
	runs := medianRuns(b, [][]string{
		{bin, "test", "sshd", log},
		{bin, "test", "--json", "sshd", log},
		{bin, "test", fail2banSSHD, log},
	})
	lj, ljJSON, ljConf := runs[0], runs[1], runs[2]
	fb := runTimed(b, f2b, log, fail2banSSHD)
	b.StopTimer()

	var rep struct{ Lines, Ignored, Matched, Missed int }
	if _, err := fmt.Sscanf(string(lj.out), "Lines: %d lines, %d ignored, %d matched, %d missed", &rep.Lines, &rep.Ignored, &rep.Matched, &rep.Missed); err != nil {
		b.Fatalf("logjail test: %v:\n%s", err, lj.out)
	}
	fmt.Printf("workload: %s, %d lines, logjail's sshd filter matched %d\n", what, rep.Lines, rep.Matched)
	for _, r := range []struct {
		name string
		run  timedRun
	}{{"logjail test sshd", lj}, {"logjail test --json sshd", ljJSON}, {"logjail test sshd.conf", ljConf}, {"fail2ban-regex sshd.conf", fb}} {
		fmt.Printf("%-26s %6.2fs  %9.0f lines/s  RSS %6.1f MiB  %6.1fx fail2ban-regex  %s\n",
			r.name, r.run.secs, float64(rep.Lines)/r.run.secs, float64(r.run.rssKB)/1024, fb.secs/r.run.secs, r.run.spread)
	}
	fmt.Printf("--json costs %.2fx the summary\n", ljJSON.secs/lj.secs)
	b.ReportMetric(fb.secs/lj.secs, "x-fail2ban")
}

// timedRun is one command's wall time, peak RSS and output; spread, for a
// median of several runs, names their range.
type timedRun struct {
	secs   float64
	rssKB  int64
	out    []byte
	spread string
}

// medianRuns runs each command medianOf times, the commands in turn, and
// returns each one's median run (by wall time) with the range of all.
func medianRuns(b *testing.B, cmds [][]string) []timedRun {
	const medianOf = 5
	all := make([][]timedRun, len(cmds))
	for range medianOf {
		for i, c := range cmds {
			all[i] = append(all[i], runTimed(b, c[0], c[1:]...))
		}
	}
	out := make([]timedRun, len(cmds))
	for i, rs := range all {
		slices.SortFunc(rs, func(x, y timedRun) int { return cmp.Compare(x.secs, y.secs) })
		out[i] = rs[len(rs)/2]
		out[i].spread = fmt.Sprintf("(median of %d, %.2f-%.2fs)", medianOf, rs[0].secs, rs[len(rs)-1].secs)
	}
	return out
}

// runTimed runs a command to its end, its output going to a file, as a
// user's `> out.json` would (a pipe would bill the command for the
// benchmark reading it, on the same two cores); the first lines of the
// output are kept.
func runTimed(b *testing.B, name string, args ...string) timedRun {
	out, err := os.CreateTemp(b.TempDir(), "out")
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(name, args...)
	cmd.Stdout = out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	secs := time.Since(start).Seconds()
	head := make([]byte, 4096)
	n, _ := out.ReadAt(head, 0)
	return timedRun{secs: secs, rssKB: cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss, out: head[:n]}
}
