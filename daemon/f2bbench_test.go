package daemon

import (
	"bytes"
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

// BenchmarkDaemonVsFail2ban runs, in one go on the same staged file, the
// file benchmark's daemon (three runs, the median) and fail2ban-server
// tailing it with its own sshd filter and a jail of the same maxretry and
// findtime (one run: it takes a minute or more), each until the sentinel's
// ban, and prints lines/s and the ratio.
//
//	task daemon-bench
//	LOGJAIL_DAEMON_BENCH=1 go test -run '^$' -bench DaemonVsFail2ban -benchtime 1x -timeout 30m ./daemon/
func BenchmarkDaemonVsFail2ban(b *testing.B) {
	if os.Getenv("LOGJAIL_DAEMON_BENCH") != "1" {
		b.Skip("a several-minute comparison: run it with `task daemon-bench` (LOGJAIL_DAEMON_BENCH=1)")
	}
	if _, err := exec.LookPath("fail2ban-server"); err != nil {
		b.Fatal("fail2ban-server is missing (apt-get install fail2ban)")
	}
	stage, lines, what := stageWorkload(b)
	b.ResetTimer()
	var runs []daemonRun
	for range 3 {
		runs = append(runs, runDaemonOnce(b, stage))
	}
	f2b, f2bBans := runFail2banOnce(b, stage)
	b.StopTimer()
	lj := median(runs)
	fmt.Printf("workload: %s, dates moved to end now, %d lines with the sentinel's %d failures at the end; maxretry %d, findtime %s\n", what, lines, benchRetry, benchRetry, benchFindTime)
	fmt.Printf("%-32s %6.2fs  %9.0f lines/s  %4d bans  (runs %.2f–%.2fs, median %.2f CPU-s)\n", "logjail daemon (file → commit)", lj.secs, float64(lines)/lj.secs, lj.bans, runs[0].secs, runs[2].secs, lj.cpu)
	fmt.Printf("%-32s %6.2fs  %9.0f lines/s  %4d bans\n", "fail2ban-server (polling)", f2b, float64(lines)/f2b, f2bBans)
	fmt.Printf("logjail is %.1fx fail2ban-server\n", f2b/lj.secs)
	b.ReportMetric(float64(lines)/lj.secs, "lines/s")
	b.ReportMetric(f2b/lj.secs, "x-fail2ban")
}

// fail2banConf is fail2ban-server's own configuration for the benchmark,
// everything under %[1]s: its log, socket, pid file and database.
const fail2banConf = `[Definition]
loglevel = INFO
logtarget = %[1]s/fail2ban.log
syslogsocket = auto
socket = %[1]s/fail2ban.sock
pidfile = %[1]s/fail2ban.pid
dbfile = %[1]s/fail2ban.sqlite3
dbpurgeage = 1d
allowipv6 = auto
`

// fail2banJail is the sshd jail, the daemon benchmark's pipeline in
// fail2ban's terms, with an action that does nothing.
const fail2banJail = `[DEFAULT]
backend = polling
[sshd]
enabled = true
filter = sshd
logpath = %s
maxretry = %d
findtime = %s
bantime = 1h
action = nothing
`

// runFail2banOnce starts fail2ban-server on an empty dir/auth.log, moves
// the staged workload over it and returns the seconds until it logs the
// sentinel's ban, and how many bans it logged.
func runFail2banOnce(b *testing.B, stage string) (secs float64, bans int) {
	b.StopTimer()
	dir := b.TempDir()
	conf := filepath.Join(dir, "conf")
	if err := os.MkdirAll(filepath.Join(conf, "action.d"), 0o755); err != nil {
		b.Fatal(err)
	}
	// Its filters, as installed; the rest is this run's own.
	if err := os.Symlink("/etc/fail2ban/filter.d", filepath.Join(conf, "filter.d")); err != nil {
		b.Fatal(err)
	}
	next := copyTo(b, stage, dir, "next.log")
	log := testkit.WriteFile(b, dir, "auth.log", "")
	testkit.WriteFile(b, conf, "fail2ban.conf", fmt.Sprintf(fail2banConf, dir))
	testkit.WriteFile(b, conf, "jail.conf", fmt.Sprintf(fail2banJail, log, benchRetry, benchFindTime))
	testkit.WriteFile(b, conf, "action.d/nothing.conf", "[Definition]\nactionstart =\nactionstop =\nactioncheck =\nactionban =\nactionunban =\n")
	out, err := os.Create(filepath.Join(dir, "server.out"))
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command("fail2ban-server", "-f", "-x", "-c", conf)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer stopProcess(cmd)
	f2bLog := filepath.Join(dir, "fail2ban.log")
	waitForLog(b, f2bLog, "Jail 'sshd' started", time.Minute)
	b.StartTimer()
	start := time.Now()
	if err := os.Rename(next, log); err != nil {
		b.Fatal(err)
	}
	waitForLog(b, f2bLog, "Ban "+sentinelAddr, 30*time.Minute)
	secs = time.Since(start).Seconds()
	b.StopTimer()
	logged, err := os.ReadFile(f2bLog)
	if err != nil {
		b.Fatal(err)
	}
	return secs, bytes.Count(logged, []byte("] Ban "))
}

// waitForLog waits until the file at path holds want, reading what was
// appended every 50 ms.
func waitForLog(b *testing.B, path, want string, limit time.Duration) {
	var seen []byte
	var off int64
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		f, err := os.Open(path)
		if err != nil {
			continue // not written yet
		}
		more, _ := io.ReadAll(io.NewSectionReader(f, off, 1<<40))
		f.Close()
		off += int64(len(more))
		// Keep only a tail as long as want, for a match across two reads.
		seen = append(seen[max(0, len(seen)-len(want)):], more...)
		if bytes.Contains(seen, []byte(want)) {
			return
		}
	}
	b.Fatalf("%s: no %q after %v", path, want, limit)
}

// stopProcess ends a server the benchmark started: SIGTERM, then SIGKILL
// after 10 s.
func stopProcess(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}
