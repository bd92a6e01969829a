package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
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
	var secs []float64
	for range b.N {
		secs = append(secs, runDaemonOnce(b, stage))
	}
	slices.Sort(secs)
	b.ReportMetric(float64(lines)/secs[len(secs)/2], "lines/s")
}

// stageWorkload writes the workload followed by the sentinel's failures
// to a file and returns it with its line count and what the workload is.
func stageWorkload(b *testing.B) (path string, lines int, what string) {
	dir := b.TempDir()
	path, what = testkit.Workload(b, dir)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	now := time.Now()
	for i := range benchRetry {
		at := now.Add(time.Duration(i-benchRetry) * time.Second).Format(time.Stamp)
		fmt.Fprintf(f, "%s web01 sshd[4242]: Failed password for root from %s port %d ssh2\n", at, sentinelAddr, 40000+i)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return path, bytes.Count(data, []byte{'\n'}), what
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

// runDaemonOnce starts a daemon following an empty dir/auth.log, moves the
// staged workload over it and returns the seconds until the sentinel's ban
// is committed (banned, and no processed entry left uncommitted).
func runDaemonOnce(b *testing.B, stage string) float64 {
	b.StopTimer()
	dir := b.TempDir()
	next := copyTo(b, stage, dir, "next.log")
	log := testkit.WriteFile(b, dir, "auth.log", "")
	c := loadConfig(b, dir, fmt.Sprintf("pipelines:\n  sshd:\n    enabled: true\n    maxretry: %d\n    findtime: 10m\n    ingest: [{file: {paths: [%q]}}]\n    match: {filter: sshd}\n", benchRetry, log))
	cl, stop := startDaemon(b, dir, Options{Config: c})
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
	start := time.Now()
	if err := os.Rename(next, log); err != nil {
		b.Fatal(err)
	}
	for {
		st, err := cl.PipelineStatus(ctx, "sshd")
		if err != nil {
			b.Fatal(err)
		}
		if slices.Contains(st.Actions.Banned, sentinelAddr) && st.Uncommitted == 0 {
			break
		}
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("no committed ban of the sentinel after 5 minutes: %+v", st.Filter)
		}
		time.Sleep(2 * time.Millisecond)
	}
	secs := time.Since(start).Seconds()
	b.StopTimer()
	return secs
}
