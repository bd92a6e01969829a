package pipelines

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
)

// BenchmarkCorpusVsFail2ban runs `logjail test sshd` and fail2ban-regex
// with fail2ban's own sshd filter over the same generated 1M-line auth.log,
// one run each, and prints lines/s, the ratio and the peak RSS of both.
//
//	task corpus-bench
//	LOGJAIL_CORPUS_BENCH=1 go test -run '^$' -bench CorpusVsFail2ban -benchtime 1x -timeout 30m ./pipelines/
func BenchmarkCorpusVsFail2ban(b *testing.B) {
	if os.Getenv("LOGJAIL_CORPUS_BENCH") != "1" {
		b.Skip("a 30-second comparison: run it with `task corpus-bench` (LOGJAIL_CORPUS_BENCH=1)")
	}
	f2b, err := exec.LookPath("fail2ban-regex")
	if err != nil {
		b.Fatal("fail2ban-regex is missing (apt-get install fail2ban)")
	}
	const filter = "/etc/fail2ban/filter.d/sshd.conf"
	dir := b.TempDir()
	bin := filepath.Join(dir, "logjail")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/logjail").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	const n = 1_000_000
	log := filepath.Join(dir, "auth.log")
	f, err := os.Create(log)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for _, l := range testkit.AuthLog(n) {
		w.WriteString(l)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()

	type result struct {
		secs  float64
		rssKB int64
		out   []byte
	}
	run := func(name string, args ...string) result {
		cmd := exec.Command(name, args...)
		start := time.Now()
		out, err := cmd.Output()
		el := time.Since(start).Seconds()
		if err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		return result{secs: el, rssKB: cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss, out: out}
	}
	b.ResetTimer()
	// Both print their summary only, as fail2ban-regex does by default.
	lj := run(bin, "test", "sshd", log, "--now", "2026-11-26T00:00:00Z")
	fb := run(f2b, log, filter)
	b.StopTimer()

	var rep struct{ Lines, Ignored, Matched, Missed int }
	if _, err := fmt.Sscanf(string(lj.out), "Lines: %d lines, %d ignored, %d matched, %d missed", &rep.Lines, &rep.Ignored, &rep.Matched, &rep.Missed); err != nil || rep.Lines != n {
		b.Fatalf("logjail test: %v (lines %d):\n%s", err, rep.Lines, lj.out)
	}
	ljRate, fbRate := float64(n)/lj.secs, float64(n)/fb.secs
	fmt.Printf("corpus: %d lines, logjail matched %d\n", n, rep.Matched)
	fmt.Printf("logjail test sshd:      %8.0f lines/s  %6.1fs  RSS %6.1f MiB\n", ljRate, lj.secs, float64(lj.rssKB)/1024)
	fmt.Printf("fail2ban-regex (sshd):  %8.0f lines/s  %6.1fs  RSS %6.1f MiB\n", fbRate, fb.secs, float64(fb.rssKB)/1024)
	fmt.Printf("ratio: %.1fx\n", ljRate/fbRate)
	b.ReportMetric(ljRate/fbRate, "x-fail2ban")
}
