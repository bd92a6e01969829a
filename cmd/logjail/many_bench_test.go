package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/daemon"
	"github.com/logjail/logjail/internal/testkit"
)

// BenchmarkManyPipelines appends the same lines (the shared workload of
// issue 13: LOGJAIL_BENCH_LOG, else /tmp/auth1m.log, else a generated
// 1M-line auth.log) all to one pipeline's file, then spread in equal runs
// over 20 pipelines' files, and reports lines/s until every pipeline has
// read, processed and committed its share (the goal: 20 no slower than
// one). The workload's dates are weeks old: its failures are counted as
// stale, not banned, so this measures reading, matching and committing.
func BenchmarkManyPipelines(b *testing.B) {
	needIdleBench(b)
	chunks := workloadChunks(b)
	for _, n := range []int{1, idlePipelines} {
		b.Run(fmt.Sprintf("pipelines=%d", n), func(b *testing.B) {
			tn := newTestNet(b)
			s, logs := manySetup(b, n)
			pid := daemonPID(b, s.start(b, tn))
			cl := daemon.NewClient(s.socket)
			parts := spread(chunks, n)
			var lines int
			before := readProc(b, pid)
			b.ResetTimer()
			for range b.N {
				lines += appendAndWait(b, cl, logs, parts)
			}
			b.StopTimer()
			used := readProc(b, pid).cpu - before.cpu
			b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
			// The daemon's CPU time per million lines, and how much of the
			// machine's two cores it had: whether it waited or worked.
			b.ReportMetric(used.Seconds()/float64(lines)*1e6, "cpu-s/Mline")
			b.ReportMetric(used.Seconds()/b.Elapsed().Seconds(), "cores")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// workloadChunks reads the workload as 2×3×4×5 = 120 runs of whole lines,
// which split evenly over 1 or 20 files.
func workloadChunks(b *testing.B) [][]byte {
	b.Helper()
	path := testkit.WorkloadPath()
	data, err := os.ReadFile(path)
	if err != nil {
		b.Logf("no workload at %s (%v): a generated 1M-line auth.log", path, err)
		data = []byte(strings.Join(testkit.AuthLog(1_000_000), "\n") + "\n")
	}
	const runs = 120
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	out := make([][]byte, runs)
	for i := range runs {
		out[i] = bytes.Join(lines[i*len(lines)/runs:(i+1)*len(lines)/runs], nil)
	}
	return out
}

// spread gives each of n files an equal share of the runs, in order.
func spread(chunks [][]byte, n int) [][]byte {
	out := make([][]byte, n)
	for i, c := range chunks {
		out[i*n/len(chunks)] = append(out[i*n/len(chunks)], c...)
	}
	return out
}

// appendAndWait appends parts[i] to logs[i] and waits until each pipeline
// has read and processed as many more lines and committed them all; it
// returns the lines appended.
func appendAndWait(b *testing.B, cl *daemon.Client, logs []string, parts [][]byte) int {
	b.Helper()
	want := make([]uint64, len(logs))
	total := 0
	for i, p := range parts {
		read, _ := pipelineProgress(b, cl, i)
		n := bytes.Count(p, []byte("\n"))
		want[i], total = read+uint64(n), total+n
	}
	for i, p := range parts {
		f, err := os.OpenFile(logs[i], os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Write(p); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	for i := range logs {
		testkit.WaitFor(b, 5*time.Minute, func() error {
			read, done := pipelineProgress(b, cl, i)
			return testkit.Check(read >= want[i] && done, "pipeline %d: %d of %d lines read, or some not processed and committed", i+1, read, want[i])
		})
	}
	return total
}

// pipelineProgress is what the i-th pipeline's source has read, and
// whether the pipeline has processed and committed all of it.
func pipelineProgress(b *testing.B, cl *daemon.Client, i int) (read uint64, done bool) {
	b.Helper()
	st, err := cl.PipelineStatus(context.Background(), fmt.Sprintf("p%02d", i+1))
	if err != nil {
		b.Fatal(err)
	}
	f := st.Filter
	processed := f.Matched + f.Missed + f.Ignored + f.TimedOut + f.BadAddress
	read = st.Sources[0].Read
	return read, processed == read && st.Uncommitted == 0
}
