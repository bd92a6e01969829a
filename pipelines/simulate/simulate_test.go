package simulate

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/pipelines"
)

// t0 is the tests' log time.
var t0 = time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)

// failed is an sshd failure line of addr at t0+at.
func failed(at time.Duration, addr string) string {
	return fmt.Sprintf("%s srv sshd[1]: Failed password for root from %s port 22 ssh2", t0.Add(at).Format(time.RFC3339), addr)
}

// lines are failed lines of addr at each of ats.
func lines(addr string, ats ...time.Duration) []string {
	var out []string
	for _, at := range ats {
		out = append(out, failed(at, addr))
	}
	return out
}

// sshdConfig is one pipeline "sshd" reading auth.log with the shipped
// filter, and the keys given (YAML lines at the pipeline's level).
func sshdConfig(keys ...string) string {
	return "pipelines:\n  sshd:\n    enabled: true\n    ingest: [{file: {paths: [/var/log/auth.log], max_line: 200}}]\n    match: {filter: sshd}\n    ignoreself: false\n" +
		"    " + strings.Join(keys, "\n    ") + "\n"
}

// recidiveConfig adds a recidive pipeline following sshd's bans.
func recidiveConfig(keys ...string) string {
	return sshdConfig(keys...) + "  recidive:\n    enabled: true\n    ingest: [{bans: {pipelines: [sshd]}}]\n    match: {filter: recidive}\n    maxretry: 2\n    findtime: 1d\n    bantime: 1w\n    ignoreself: false\n"
}

// simulate runs config over a log of the given lines, whose modification
// time is an hour after t0.
func simulate(t *testing.T, config string, log []string, opts Options) *Report {
	t.Helper()
	cfg := loadConfig(t, config)
	logPath := filepath.Join(t.TempDir(), "auth.log")
	if err := os.WriteFile(logPath, []byte(strings.Join(log, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(logPath, t0.Add(time.Hour), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	opts.Logs = []string{logPath}
	r, err := Run(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range r.Logs {
		r.Logs[i].Path = filepath.Base(r.Logs[i].Path)
	}
	for i := range r.Bans {
		for j := range r.Bans[i].Lines {
			r.Bans[i].Lines[j].Log = filepath.Base(r.Bans[i].Lines[j].Log)
		}
	}
	return r
}

// banned is a ban as the table expects it: pipeline, address, time (from
// t0), length, ban count.
type banned struct {
	pipeline, addr string
	at, length     time.Duration
	count          int
}

func bansOf(r *Report) []banned {
	var out []banned
	for _, b := range r.Bans {
		length := time.Duration(b.BanTimeS) * time.Second
		out = append(out, banned{b.Pipeline, b.Addr, b.Time.Sub(t0), length, b.BanCount})
	}
	return out
}

func TestSimulate(t *testing.T) {
	const a, b = "203.0.113.7", "198.51.100.9"
	for _, tc := range []struct {
		name   string
		config string
		log    []string
		want   []banned
	}{
		{"maxretry reached", sshdConfig("maxretry: 3", "bantime: 1h"),
			lines(a, 0, time.Second, 2*time.Second),
			[]banned{{"sshd", a, 2 * time.Second, time.Hour, 1}}},
		{"maxretry not reached", sshdConfig("maxretry: 3"),
			append(lines(a, 0, time.Second), lines(b, 2*time.Second)...), nil},
		{"findtime edge: the last failure exactly findtime after the first", sshdConfig("maxretry: 3", "findtime: 10m", "bantime: 1h"),
			lines(a, 0, 5*time.Minute, 10*time.Minute),
			[]banned{{"sshd", a, 10 * time.Minute, time.Hour, 1}}},
		{"findtime edge: a second too late", sshdConfig("maxretry: 3", "findtime: 10m"),
			lines(a, 0, 5*time.Minute, 10*time.Minute+time.Second), nil},
		{"ignoreip never banned", sshdConfig("maxretry: 2", "bantime: 1h", "ignoreip: [203.0.113.0/24]"),
			append(lines(a, 0, time.Second, 2*time.Second), lines(b, 3*time.Second, 4*time.Second)...),
			[]banned{{"sshd", b, 4 * time.Second, time.Hour, 1}}},
		{"a banned address's failures are not counted", sshdConfig("maxretry: 2", "bantime: 1h"),
			lines(a, 0, time.Second, 2*time.Second, 3*time.Second),
			[]banned{{"sshd", a, time.Second, time.Hour, 1}}},
		{"increment on a second ban after the first expired", sshdConfig("maxretry: 2", "bantime: 1m", "bantime_increment: {factor: 1}"),
			lines(a, 0, time.Second, 2*time.Minute, 2*time.Minute+time.Second),
			[]banned{{"sshd", a, time.Second, time.Minute, 1}, {"sshd", a, 2*time.Minute + time.Second, 2 * time.Minute, 2}}},
		{"recidive from two bans", recidiveConfig("maxretry: 2", "bantime: 1m"),
			lines(a, 0, time.Second, 2*time.Minute, 2*time.Minute+time.Second),
			[]banned{{"sshd", a, time.Second, time.Minute, 1}, {"sshd", a, 2*time.Minute + time.Second, time.Minute, 2},
				{"recidive", a, 2*time.Minute + time.Second, 7 * 24 * time.Hour, 1}}},
		{"lines out of order are counted by their times", sshdConfig("maxretry: 3", "findtime: 1m", "bantime: 1h"),
			lines(a, 2*time.Minute, 0, 50*time.Second, 30*time.Second),
			[]banned{{"sshd", a, 50 * time.Second, time.Hour, 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := simulate(t, tc.config, tc.log, Options{})
			if got := bansOf(r); !slices.Equal(got, tc.want) {
				t.Fatalf("bans %+v,\nwant %+v", got, tc.want)
			}
		})
	}
}

// loadConfig loads config from a file.
func loadConfig(t *testing.T, config string) *pipelines.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "logjail.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return loadConfigTB(t, path)
}

// loadConfigTB loads the configuration at path.
func loadConfigTB(t testing.TB, path string) *pipelines.Config {
	t.Helper()
	cfg, err := pipelines.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
