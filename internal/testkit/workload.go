package testkit

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Workload writes issue 13's 1M-line auth.log to dir/auth.log for a
// benchmark and says what it is: the file LOGJAIL_BENCH_LOG names when set
// (a copy of the workload generated once), else the shared workload when
// its generator is found (LOGJAIL_GEN_AUTHLOG, by default
// ../../shared/bench/gen_authlog.py, run as gen_authlog.py 1000000 --seed
// 42), else logjail's own generated auth.log of the same size.
func Workload(tb testing.TB, dir string) (path, what string) {
	tb.Helper()
	path = filepath.Join(dir, "auth.log")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if src := os.Getenv("LOGJAIL_BENCH_LOG"); src != "" {
		in, err := os.Open(src)
		if err != nil {
			tb.Fatal(err)
		}
		defer in.Close()
		if _, err := io.Copy(f, in); err != nil {
			tb.Fatal(err)
		}
		return path, "the log LOGJAIL_BENCH_LOG names (" + src + ")"
	}
	gen := os.Getenv("LOGJAIL_GEN_AUTHLOG")
	if gen == "" {
		gen = "../../shared/bench/gen_authlog.py"
	}
	if _, err := os.Stat(gen); err == nil {
		cmd := exec.Command("python3", gen, "1000000", "--seed", "42")
		cmd.Stdout = f
		if err := cmd.Run(); err != nil {
			tb.Fatalf("%s: %v", gen, err)
		}
		return path, "the shared workload (" + gen + " 1000000 --seed 42)"
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for _, l := range AuthLog(1_000_000) {
		w.WriteString(l)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	return path, "logjail's generated auth.log (" + gen + " not found)"
}

// DefaultWorkload is where the shared workload of issue 13 is generated:
//
//	python3 ../shared/bench/gen_authlog.py 1000000 --seed 42 > /tmp/auth1m.log
const DefaultWorkload = "/tmp/auth1m.log"

// WorkloadPath is where the shared workload is read from: the file
// LOGJAIL_BENCH_LOG names, else DefaultWorkload.
func WorkloadPath() string {
	if path := os.Getenv("LOGJAIL_BENCH_LOG"); path != "" {
		return path
	}
	return DefaultWorkload
}

// WorkloadLines returns the lines of the shared workload (WorkloadPath),
// or the error reading it: a benchmark skips then.
func WorkloadLines() ([]string, error) {
	b, err := os.ReadFile(WorkloadPath())
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"), nil
}
