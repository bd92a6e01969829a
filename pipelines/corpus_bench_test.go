package pipelines

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
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
// 1M-line auth.log, one run each, and prints seconds, lines/s, peak RSS and
// the ratios. The log is testkit.Workload's: the project's shared workload
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
	lj := runTimed(b, bin, "test", "sshd", log)
	ljJSON := runTimed(b, bin, "test", "--json", "sshd", log)
	ljConf := runTimed(b, bin, "test", fail2banSSHD, log)
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
		fmt.Printf("%-26s %6.2fs  %9.0f lines/s  RSS %6.1f MiB  %6.1fx fail2ban-regex\n",
			r.name, r.run.secs, float64(rep.Lines)/r.run.secs, float64(r.run.rssKB)/1024, fb.secs/r.run.secs)
	}
	fmt.Printf("--json costs %.2fx the summary\n", ljJSON.secs/lj.secs)
	b.ReportMetric(fb.secs/lj.secs, "x-fail2ban")
}

// timedRun is one command's wall time, peak RSS and output.
type timedRun struct {
	secs  float64
	rssKB int64
	out   []byte
}

// runTimed runs a command to its end; its output is kept for the first
// lines only (a --json document is read and dropped).
func runTimed(b *testing.B, name string, args ...string) timedRun {
	cmd := exec.Command(name, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	head := make([]byte, 4096)
	n, _ := io.ReadFull(out, head)
	io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	return timedRun{secs: time.Since(start).Seconds(), rssKB: cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss, out: head[:n]}
}
