package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/daemon"
	"github.com/logjail/logjail/internal/testkit"
)

// The idle benchmarks measure the real binary as a user would, from
// /proc: the CPU time (utime+stime) an idle daemon with many pipelines
// spends, the resident memory of the shipped configuration, and the
// throughput of many pipelines against one. Each runs logjail in a network
// namespace of its own, with real nftables. They take a minute and need
// root, so they run only with LOGJAIL_IDLE_BENCH=1:
//
//	task idle-bench
//	LOGJAIL_IDLE_BENCH=1 go test -run '^$' -bench 'Idle' -benchtime 1x -timeout 20m ./cmd/logjail/
//	LOGJAIL_IDLE_BENCH=1 go test -run '^$' -bench 'ManyPipelines' -benchtime 3x -timeout 20m ./cmd/logjail/

// idlePipelines is how many pipelines the many-pipelines benchmarks run,
// each tailing its own file.
const idlePipelines = 20

// needIdleBench skips a benchmark unless LOGJAIL_IDLE_BENCH=1 (and root).
func needIdleBench(b *testing.B) {
	b.Helper()
	if os.Getenv("LOGJAIL_IDLE_BENCH") != "1" {
		b.Skip("a minute of idle measurements: run them with `task idle-bench` (LOGJAIL_IDLE_BENCH=1)")
	}
	testkit.NeedRoot(b, "ip", "nft")
	// An installed binary is on disk: the one TestMain just built may
	// still be dirty in the page cache, whose pages the kernel cannot
	// give up (see trimAfterStart).
	f, err := os.Open(binary)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
}

// idleSeconds is how long the idle period measured lasts:
// LOGJAIL_IDLE_SECONDS, default 20.
func idleSeconds(b *testing.B) time.Duration {
	s := os.Getenv("LOGJAIL_IDLE_SECONDS")
	if s == "" {
		return 20 * time.Second
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("LOGJAIL_IDLE_SECONDS=%q: want a number of seconds", s)
	}
	return time.Duration(n) * time.Second
}

// manySetup is a configuration of n pipelines p01…pNN, each tailing its
// own (empty) file in the setup's directory with the shipped sshd filter
// and the default poll, enforcing with nftables; start waits for p01.
func manySetup(b *testing.B, n int) (*setup, []string) {
	b.Helper()
	var cfg strings.Builder
	cfg.WriteString("defaults:\n  maxretry: 5\n  findtime: 10m\n  bantime: 1h\n  enforce:\n    - nftables: {ports: [22]}\npipelines:\n")
	s := newSetup(b, "")
	logs := make([]string, n)
	for i := range n {
		logs[i] = filepath.Join(s.dir, fmt.Sprintf("p%02d.log", i+1))
		if err := os.WriteFile(logs[i], nil, 0o600); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(&cfg, "  p%02d:\n    enabled: true\n    ingest:\n      - file: {paths: [%s]}\n    match: {filter: sshd}\n", i+1, logs[i])
	}
	if err := os.WriteFile(s.config, []byte(cfg.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	s.logFile, s.pipeline = logs[0], "p01"
	return s, logs
}

// procStat is what /proc says of a process: its CPU time, its threads'
// context switches (wake-ups, roughly) and its resident memory.
type procStat struct {
	cpu                   time.Duration // utime + stime
	switches              uint64        // voluntary + involuntary, every thread
	rss, rssAnon, rssFile uint64        // bytes
}

// readProc reads pid's procStat.
func readProc(b *testing.B, pid int) procStat {
	b.Helper()
	var st procStat
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The fields after the command name, which is in parentheses.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	utime, _ := strconv.ParseUint(f[11], 10, 64)
	stime, _ := strconv.ParseUint(f[12], 10, 64)
	st.cpu = time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
	status := procFields(b, fmt.Sprintf("/proc/%d/status", pid))
	st.rss, st.rssAnon, st.rssFile = status["VmRSS"]*1024, status["RssAnon"]*1024, status["RssFile"]*1024
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	for _, task := range tasks {
		ts := procFields(b, task)
		st.switches += ts["voluntary_ctxt_switches"] + ts["nonvoluntary_ctxt_switches"]
	}
	return st
}

// procFields reads the numbers of a /proc status file, by name.
func procFields(b *testing.B, path string) map[string]uint64 {
	b.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		if fs := strings.Fields(val); len(fs) > 0 {
			if n, err := strconv.ParseUint(fs[0], 10, 64); err == nil {
				out[name] = n
			}
		}
	}
	return out
}

// daemonPID is the pid of the logjail process in.cmd started: ip netns
// exec may run it as its child.
func daemonPID(b *testing.B, in *instance) int {
	b.Helper()
	pid := in.cmd.Process.Pid
	for range 3 {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil {
			b.Fatal(err)
		}
		if strings.TrimSpace(string(comm)) == "logjail" {
			return pid
		}
		kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if err != nil || len(bytes.Fields(kids)) != 1 {
			b.Fatalf("no logjail process under %d (%q)", pid, kids)
		}
		pid, _ = strconv.Atoi(string(bytes.Fields(kids)[0]))
	}
	b.Fatalf("no logjail process under %d", in.cmd.Process.Pid)
	return 0
}

// BenchmarkIdleCPU runs 20 pipelines, each tailing its own file (the
// default poll, inotify, nftables in a namespace of its own), lets them
// settle, and reports the share of one core the daemon used over an idle
// period (the goal: under 1%), its wake-ups (context switches of all its
// threads) per second and its resident memory.
func BenchmarkIdleCPU(b *testing.B) {
	needIdleBench(b)
	idle := idleSeconds(b)
	tn := newTestNet(b)
	s, _ := manySetup(b, idlePipelines)
	pid := daemonPID(b, s.start(b, tn))
	time.Sleep(5 * time.Second) // start-up work (the first firewall checks) done
	b.ResetTimer()
	var used, wall time.Duration
	var switches uint64
	for range b.N {
		before, began := readProc(b, pid), time.Now()
		time.Sleep(idle)
		after := readProc(b, pid)
		used, wall = used+after.cpu-before.cpu, wall+time.Since(began)
		switches += after.switches - before.switches
	}
	b.StopTimer()
	end := readProc(b, pid)
	b.ReportMetric(100*used.Seconds()/wall.Seconds(), "%core")
	b.ReportMetric(float64(switches)/wall.Seconds(), "wakeups/s")
	b.ReportMetric(float64(end.rss)/(1<<20), "RSS-MiB")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkIdleRSS runs the shipped configuration (pipelines/logjail.yaml:
// sshd from journald, nftables) in a namespace of its own and reports its
// resident memory once it has settled (the goal: at most 16 MiB), with
// its anonymous (heap, stacks) and file-backed (the binary, libraries,
// the store's mmap) parts. Without journal files on the host the journald
// source waits and retries, as it would on such a host.
func BenchmarkIdleRSS(b *testing.B) {
	needIdleBench(b)
	settle := idleSeconds(b)
	tn := newTestNet(b)
	dir := b.TempDir()
	sock := filepath.Join(dir, "logjail.sock")
	var sum procStat
	for range b.N {
		cmd := exec.Command("ip", "netns", "exec", tn.srv, binary, "run", "--config", "../../pipelines/logjail.yaml",
			"--state-dir", filepath.Join(dir, "state"), "--socket", sock)
		out, err := os.Create(filepath.Join(dir, "daemon.log"))
		if err != nil {
			b.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		in := &instance{cmd: cmd, socket: sock, log: out}
		cl := daemon.NewClient(sock)
		testkit.WaitFor(b, 20*time.Second, func() error {
			_, err := cl.Status(context.Background())
			return err
		})
		time.Sleep(settle)
		st := readProc(b, daemonPID(b, in))
		sum.rss, sum.rssAnon, sum.rssFile = sum.rss+st.rss, sum.rssAnon+st.rssAnon, sum.rssFile+st.rssFile
		in.kill()
		cmd.Wait()
		out.Close()
	}
	n := float64(b.N) * (1 << 20)
	b.ReportMetric(float64(sum.rss)/n, "RSS-MiB")
	b.ReportMetric(float64(sum.rssAnon)/n, "anon-MiB")
	b.ReportMetric(float64(sum.rssFile)/n, "file-MiB")
	b.ReportMetric(0, "ns/op")
}
