package daemon

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
)

// The file benchmark measures the daemon as a user would: a file pipeline
// with the shipped sshd filter reads the 1M-line workload of issue 13 at
// once (it replaces the followed file, as a rotation does), and the clock
// stops when the ban of a sentinel address, whose maxretry failures end the
// file, is committed to the store. That is the whole path: file source →
// match → window → ban → commit.

const (
	// sentinelAddr is in no workload line (a documentation range).
	sentinelAddr = "198.51.100.77"
	benchRetry   = 5
	// benchFindTime covers the whole workload: every failure is counted
	// in its window, and attackers are banned along the way.
	benchFindTime = "1w"
)

// BenchmarkDaemonFile measures lines per second from the file to the
// sentinel's committed ban (in-process daemon, dry-run enforcer). The
// workload is testkit.Workload's (LOGJAIL_BENCH_LOG=/tmp/auth1m.log reuses
// a generated copy):
//
//	LOGJAIL_BENCH_LOG=/tmp/auth1m.log go test -run '^$' -bench DaemonFile -benchtime 3x ./daemon/
func BenchmarkDaemonFile(b *testing.B) {
	stage, lines, what := stageWorkload(b)
	b.Logf("workload: %s", what)
	b.ResetTimer()
	var runs []daemonRun
	for range b.N {
		runs = append(runs, runDaemonOnce(b, stage))
	}
	med := median(runs)
	b.ReportMetric(float64(lines)/med.secs, "lines/s")
	// CPU time tells more than wall time on a shared machine: the cores
	// the run had to itself are not known.
	b.ReportMetric(med.cpu, "cpu-s/run")
	b.ReportMetric(float64(med.bans), "bans")
}

// median returns the run of median time, with the median CPU time.
func median(runs []daemonRun) daemonRun {
	slices.SortFunc(runs, func(a, b daemonRun) int { return cmp.Compare(a.cpu, b.cpu) })
	cpu := runs[len(runs)/2].cpu
	slices.SortFunc(runs, func(a, b daemonRun) int { return cmp.Compare(a.secs, b.secs) })
	m := runs[len(runs)/2]
	m.cpu = cpu
	return m
}

// cpuSeconds is the CPU time (user and system) the process used so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// stageWorkload writes the workload, its dates moved so that its last
// line is a few seconds old as in a log being tailed (its content and
// spacing unchanged: 69 hours, within benchFindTime), followed by the
// sentinel's failures, and returns the file with its line count and what
// the workload is.
func stageWorkload(b *testing.B) (path string, lines int, what string) {
	dir := b.TempDir()
	raw, what := testkit.Workload(b, dir)
	in, err := os.Open(raw)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	path = filepath.Join(dir, "staged.log")
	out, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(out, 1<<20)
	now := time.Now()
	mv := &redater{shift: now.Add(-10 * time.Second).Sub(lastStamp(b, raw))}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		w.WriteString(mv.line(sc.Text()))
		w.WriteByte('\n')
		lines++
	}
	for i := range benchRetry {
		at := now.Add(time.Duration(i-benchRetry) * time.Second).Format(time.Stamp)
		fmt.Fprintf(w, "%s web01 sshd[4242]: Failed password for root from %s port %d ssh2\n", at, sentinelAddr, 40000+i)
		lines++
	}
	if err := cmp.Or(sc.Err(), w.Flush(), out.Close()); err != nil {
		b.Fatal(err)
	}
	return path, lines, what
}

// stamp parses the syslog date a line starts with, in the current year.
func stamp(line string) (time.Time, bool) {
	if len(line) < len(time.Stamp) {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation(time.Stamp, line[:len(time.Stamp)], time.Local)
	return t.AddDate(time.Now().Year(), 0, 0), err == nil
}

// lastStamp is the date of the last line of the file at path (read from
// its last 64 KiB).
func lastStamp(b *testing.B, path string) time.Time {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	tail := make([]byte, min(fi.Size(), 64<<10))
	if _, err := f.ReadAt(tail, fi.Size()-int64(len(tail))); err != nil {
		b.Fatal(err)
	}
	tail = bytes.TrimRight(tail, "\n")
	t, ok := stamp(string(tail[bytes.LastIndexByte(tail, '\n')+1:]))
	if !ok {
		b.Fatal("the workload's last line has no syslog date")
	}
	return t
}

// redater moves the syslog dates of lines by shift.
type redater struct {
	shift    time.Duration
	from, to string // the last date moved, as it was and as it is
}

func (r *redater) line(l string) string {
	if len(l) < len(time.Stamp) {
		return l
	}
	if l[:len(time.Stamp)] != r.from {
		t, ok := stamp(l)
		if !ok {
			return l
		}
		r.from, r.to = l[:len(time.Stamp)], t.Add(r.shift).Format(time.Stamp)
	}
	return r.to + l[len(time.Stamp):]
}

// copyTo copies the staged workload to dir/name for one run.
func copyTo(b *testing.B, stage, dir, name string) string {
	in, err := os.Open(stage)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	path := filepath.Join(dir, name)
	out, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// daemonRun is what one run of the daemon benchmark measured.
type daemonRun struct {
	secs, cpu float64 // wall and CPU seconds from the move to the commit
	bans      int     // bans decided, the sentinel's included
}

// runDaemonOnce starts a daemon following an empty dir/auth.log, moves the
// staged workload over it and measures until the sentinel's ban is
// committed: logged (as decided), then no processed entry left
// uncommitted.
func runDaemonOnce(b *testing.B, stage string) daemonRun {
	b.StopTimer()
	dir := b.TempDir()
	next := copyTo(b, stage, dir, "next.log")
	log := testkit.WriteFile(b, dir, "auth.log", "")
	c := loadConfig(b, dir, fmt.Sprintf("pipelines:\n  sshd:\n    enabled: true\n    maxretry: %d\n    findtime: %s\n    ingest: [{file: {paths: [%q]}}]\n    match: {filter: sshd}\n    log_failures: %t\n",
		benchRetry, benchFindTime, log, os.Getenv("LOGJAIL_BENCH_LOG_FAILURES") != "false"))
	watch := &banWatch{addr: sentinelAddr, seen: make(chan struct{}), once: new(sync.Once)}
	if path := os.Getenv("LOGJAIL_BENCH_DAEMON_LOG"); path != "" {
		watch.next = benchLogHandler(b, path)
	}
	cl, stop := startDaemon(b, dir, Options{Config: c, Log: slog.New(watch)})
	defer stop()
	ctx := context.Background()
	testkit.WaitFor(b, 10*time.Second, func() error {
		st, err := cl.PipelineStatus(ctx, "sshd")
		if err != nil {
			return err
		}
		return testkit.Check(len(st.Sources) == 1 && st.Sources[0].State == "reading", "source not reading: %+v", st.Sources)
	})
	b.StartTimer()
	start, cpuBefore := time.Now(), cpuSeconds()
	if err := os.Rename(next, log); err != nil {
		b.Fatal(err)
	}
	select {
	case <-watch.seen:
	case <-time.After(5 * time.Minute):
		b.Fatal("the sentinel is not banned after 5 minutes")
	}
	for {
		st, err := cl.PipelineStatus(ctx, "sshd")
		if err != nil {
			b.Fatal(err)
		}
		if st.Uncommitted == 0 {
			run := daemonRun{secs: time.Since(start).Seconds(), cpu: cpuSeconds() - cpuBefore, bans: int(st.Actions.TotalBanned)}
			b.StopTimer()
			return run
		}
		time.Sleep(time.Millisecond)
	}
}

// banWatch is a log handler that closes seen when the daemon logs the ban
// of addr, and drops every record, or hands it to next (see
// benchLogHandler).
type banWatch struct {
	addr string
	seen chan struct{}
	once *sync.Once
	next slog.Handler
}

// benchLogHandler is the log of `logjail run` (text, through a
// LogWriter) into path, for LOGJAIL_BENCH_DAEMON_LOG=PATH: the benchmark
// then pays for formatting and writing the log lines (the found lines of
// log_failures; LOGJAIL_BENCH_LOG_FAILURES=false turns them off).
func benchLogHandler(b *testing.B, path string) slog.Handler {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := NewLogWriter(f)
	b.Cleanup(func() { w.Close(); f.Close() })
	return slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo})
}

func (h *banWatch) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *banWatch) Handle(ctx context.Context, r slog.Record) error {
	if h.next != nil {
		_ = h.next.Handle(ctx, r)
	}
	if r.Message != "ban" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "addr" && a.Value.String() == h.addr {
			h.once.Do(func() { close(h.seen) })
		}
		return a.Key != "addr"
	})
	return nil
}

func (h *banWatch) WithAttrs(as []slog.Attr) slog.Handler {
	if h.next == nil {
		return h
	}
	c := *h
	c.next = h.next.WithAttrs(as)
	return &c
}

func (h *banWatch) WithGroup(string) slog.Handler { return h }
