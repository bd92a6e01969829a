package daemon

import (
	"context"
	"testing"

	"github.com/logjail/logjail/daemon/buildinfo"
	"github.com/logjail/logjail/internal/testkit"
)

// buildConfig is a pipeline that starts and reads nothing.
func buildConfig(t *testing.T, dir string) Options {
	t.Helper()
	logA := testkit.WriteFile(t, dir, "a.log", "")
	return Options{Config: loadConfig(t, dir, "pipelines:\n  a:\n    enabled: true\n    ingest: [{file: {paths: ["+logA+"]}}]\n    match: {filter: sshd}\n")}
}

// The daemon reports the build it is given in ping and status, and its
// binary's build information when given none.
func TestBuildInStatusAndPing(t *testing.T) {
	given := buildinfo.Info{Version: "v1.2.3", Revision: "0123456789abcdef", Time: "2026-12-07T12:00:00Z", Modified: true, GoVersion: "go1.26.8"}
	tests := []struct {
		name  string
		build buildinfo.Info
		want  buildinfo.Info
	}{
		{"given", given, given},
		{"from the binary", buildinfo.Info{}, buildinfo.Read("")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := buildConfig(t, dir)
			opts.Build = tc.build
			cl, stop := startDaemon(t, dir, opts)
			defer stop()
			pong, err := cl.Ping(context.Background())
			if err != nil || pong.Build != tc.want {
				t.Errorf("ping: %+v %v, want build %+v", pong, err, tc.want)
			}
			st, err := cl.Status(context.Background())
			if err != nil || st.Build == nil || *st.Build != tc.want {
				t.Errorf("status: %+v %v, want build %+v", st, err, tc.want)
			}
		})
	}
}

// The metrics endpoint has logjail_build_info and the standard Go runtime
// and process collectors.
func TestMetricsBuildAndRuntime(t *testing.T) {
	dir := t.TempDir()
	opts := buildConfig(t, dir)
	opts.Build = buildinfo.Info{Version: "v1.2.3", Revision: "0123456789abcdef", GoVersion: "go1.26.8"}
	opts.Metrics = "127.0.0.1:0"
	log, addrs := newAddrLogger()
	opts.Log = log
	_, stop := startDaemon(t, dir, opts)
	defer stop()
	body := scrape(t, metricsAddr(t, addrs))
	if got := sample(t, body, `logjail_build_info{goversion="go1.26.8",revision="0123456789abcdef",version="v1.2.3"}`); got != 1 {
		t.Errorf("logjail_build_info = %v, want 1", got)
	}
	fams := families(body)
	for name, typ := range map[string]string{
		"logjail_build_info":            "gauge",
		"go_goroutines":                 "gauge",
		"go_gc_duration_seconds":        "summary",
		"go_memstats_alloc_bytes":       "gauge",
		"process_cpu_seconds_total":     "counter",
		"process_resident_memory_bytes": "gauge",
		"process_open_fds":              "gauge",
		"process_start_time_seconds":    "gauge",
	} {
		if fams[name] != typ {
			t.Errorf("metric %s: type %q, want %q", name, fams[name], typ)
		}
	}
	if sample(t, body, "go_goroutines") < 1 || sample(t, body, "process_open_fds") < 1 {
		t.Errorf("go_goroutines %v, process_open_fds %v", sample(t, body, "go_goroutines"), sample(t, body, "process_open_fds"))
	}
}
