package testkit

import (
	"os"
	"strings"
)

// DefaultWorkload is where the shared workload of issue 13 is generated:
//
//	python3 ../shared/bench/gen_authlog.py 1000000 --seed 42 > /tmp/auth1m.log
const DefaultWorkload = "/tmp/auth1m.log"

// Workload returns the lines of the shared workload (LOGJAIL_BENCH_LOG
// names another log), or the error reading it: a benchmark skips then.
func Workload() ([]string, error) {
	path := os.Getenv("LOGJAIL_BENCH_LOG")
	if path == "" {
		path = DefaultWorkload
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"), nil
}
