package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/logjail/logjail/daemon"
	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/pipelines/simulate"
)

// simulateKeys ban at the third failure within 10 minutes, never
// 192.0.2.3, in nftables.
var simulateKeys = []string{"maxretry: 3", "findtime: 10m", "bantime: 1h", `ignoreip: [192.0.2.3]`, fileSource, sshdFilter, nftables2222}

var simulateConfig = e2ePipeline(simulateKeys...)

// simulateLog is what logjail run and logjail simulate both read: .2
// and 2001:db8::2 fail three times, .4 twice, the ignored .3 three times;
// the last line decides the last ban.
func simulateLog() []string {
	var out []string
	out = append(out, failures("192.0.2.2", 3)...)
	out = append(out, failures("192.0.2.4", 2)...)
	out = append(out, failures("192.0.2.3", 3)...)
	return append(out, failures("2001:db8::2", 3)...)
}

// logjail simulate bans what logjail run bans for the same log, and
// touches neither the firewall (run in a namespace of its own, with an
// nftables enforcer configured, it leaves no table there) nor any state:
// its temporary directory is left empty, and the default state directory
// and socket are not made.
func TestSimulateAgreesWithRun(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "ip")
	s := newSetup(t, simulateConfig)
	s.extra = []string{"--log-format", "json"}
	s.start(t, &testNet{srv: testkit.NamedNetns(t, "lj-simrun")})
	s.appendLines(t, time.Now(), simulateLog()...)
	waitBans(t, 20*time.Second, s.socket, "192.0.2.2", "2001:db8::2")

	before := defaultPaths(t)
	tmp := filepath.Join(s.dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	ns := testkit.NamedNetns(t, "lj-sim")
	r := runSimulate(t, ns, tmp, s)
	for _, b := range r.Bans {
		if b.Pipeline != "e2e" || b.BanTimeS != 3600 || b.BanCount != 1 || len(b.Lines) != 3 {
			t.Errorf("simulated ban %+v: want e2e's first ban, for an hour, with its 3 lines", b)
		}
	}
	if live, simulated := loggedBans(t, s, len(banned(t, s.socket))), simulatedBans(r); !slices.Equal(simulated, live) {
		t.Fatalf("simulate bans %v, logjail run banned %v", simulated, live)
	}
	if tables := nftTables(t, ns); len(tables) != 0 {
		t.Errorf("simulate made nftables tables %v", tables)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("simulate left %v in its temporary directory", left)
	}
	if after := defaultPaths(t); !slices.Equal(after, before) {
		t.Errorf("the default state directory and socket went from %v to %v", before, after)
	}
}

// A ban that expired before the address failed again, the second ban's
// count, and recidive from the bans source: as logjail run decided them.
func TestSimulateAgreesWithRunOnRecidive(t *testing.T) {
	t.Parallel()
	s := newSetup(t, `
pipelines:
  e2e: {enabled: true, maxretry: 2, bantime: 1s, ingest: [{file: {paths: [LOGFILE], poll: 100ms}}], match: {filter: sshd}}
  recidive: {enabled: true, maxretry: 2, findtime: 1d, bantime: 1w, ingest: [{bans: {pipelines: [e2e]}}], match: {filter: recidive}}
`)
	s.extra = []string{"--log-format", "json"}
	s.start(t, nil)
	for round := range 2 {
		s.appendLines(t, time.Now(), failures("2001:db8::77", 2)...)
		testkit.WaitFor(t, 10*time.Second, func() error {
			n := len(liveBans(t, s))
			return testkit.Check(n > 2*round, "round %d: %d bans logged", round+1, n)
		})
		testkit.WaitFor(t, 10*time.Second, func() error {
			bans := banned(t, s.socket)
			return testkit.Check(!slices.ContainsFunc(bans, byPipeline("e2e")), "e2e's ban %d not expired: %+v", round+1, bans)
		})
	}
	waitBanOf(t, 10*time.Second, s.socket, "recidive", "2001:db8::77")
	r := runSimulate(t, "", t.TempDir(), s)
	// e2e's two bans and recidive's.
	if live, simulated := loggedBans(t, s, 3), simulatedBans(r); !slices.Equal(simulated, live) {
		t.Fatalf("simulate bans %v, logjail run banned %v", simulated, live)
	}
	if n := len(r.Bans); n != 3 || r.Bans[1].BanCount != 2 {
		t.Fatalf("simulated bans %+v: want e2e's two (the second its ban 2) and recidive's", r.Bans)
	}
}

// runSimulate runs logjail simulate --json on s's configuration and log,
// in namespace ns ("" for the test's), with TMPDIR tmp.
func runSimulate(t *testing.T, ns, tmp string, s *setup) simulate.Report {
	t.Helper()
	args := []string{binary, "simulate", "--config", s.config, s.logFile, "--json"}
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("logjail simulate: %v\n%s", err, out)
	}
	var r simulate.Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("logjail simulate --json: %v\n%s", err, out)
	}
	return r
}

// liveBans are the bans logjail run logged (its log in JSON), each as
// "PIPELINE ADDR", sorted.
// loggedBans is liveBans once the log holds at least n bans: a ban's
// line is written by the pipeline's log queue and the log's buffer (within
// 100 ms), after the control socket shows the ban.
func loggedBans(t *testing.T, s *setup, n int) []string {
	t.Helper()
	testkit.WaitFor(t, 5*time.Second, func() error {
		got := len(liveBans(t, s))
		return testkit.Check(got >= n, "%d of %d bans in logjail run's log yet", got, n)
	})
	return liveBans(t, s)
}

func liveBans(t *testing.T, s *setup) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(s.dir, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for line := range strings.Lines(string(data)) {
		var rec struct{ Msg, Pipeline, Addr string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "ban" {
			out = append(out, rec.Pipeline+" "+rec.Addr)
		}
	}
	slices.Sort(out)
	return out
}

// simulatedBans are a simulation's bans as liveBans gives logjail run's.
func simulatedBans(r simulate.Report) []string {
	var out []string
	for _, b := range r.Bans {
		out = append(out, b.Pipeline+" "+b.Addr)
	}
	slices.Sort(out)
	return out
}

// defaultPaths describes the daemon's default state store and socket:
// whether each exists, and when it was last modified.
func defaultPaths(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, p := range []string{filepath.Join(daemon.DefaultStateDir, "logjail.db"), daemon.DefaultSocket} {
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			out = append(out, p+" absent")
		case err != nil:
			t.Fatal(err)
		default:
			out = append(out, p+" "+fi.ModTime().String())
		}
	}
	return out
}

// nftTables lists the nftables tables of namespace ns.
func nftTables(t *testing.T, ns string) []string {
	t.Helper()
	f, err := os.Open("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	conn, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	tables, err := conn.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tb := range tables {
		names = append(names, tb.Name)
	}
	return names
}

// The command line: usage errors, an unknown pipeline, the human report.
func TestSimulateCommandLine(t *testing.T) {
	t.Parallel()
	// Run in the test's namespace, which may hold the test addresses.
	s := newSetup(t, e2ePipeline(append(slices.Clone(simulateKeys), "ignoreself: false")...))
	s.appendLines(t, time.Now(), simulateLog()...)
	for _, tc := range []struct {
		name    string
		args    []string
		fails   bool
		outputs []string
	}{
		{"no log", []string{"--config", s.config}, true, []string{"usage: logjail simulate"}},
		{"unknown pipeline", []string{"--config", s.config, s.logFile, "--pipeline", "nope"}, true, []string{"--pipeline nope: no enabled pipeline"}},
		{"missing log", []string{"--config", s.config, filepath.Join(s.dir, "none.log")}, true, []string{"none.log"}},
		{"human report", []string{"--config", s.config, s.logFile}, false,
			[]string{"e2e\t192.0.2.2\tbanned ", " for 1h until ", "e2e\t2001:db8::2\tbanned ", s.logFile + ":3: ", "PIPELINE", "11 lines, 0 skipped"}},
		{"bad --now", []string{"--config", s.config, s.logFile, "--now", "yesterday"}, true, []string{"--now: "}},
		{"JSON errors", []string{"--config", s.config, "--json"}, true, []string{`"error": "usage: logjail simulate`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(binary, append([]string{"simulate"}, tc.args...)...).CombinedOutput()
			if (err != nil) != tc.fails {
				t.Fatalf("error %v, want failure %v\n%s", err, tc.fails, out)
			}
			for _, want := range tc.outputs {
				if !strings.Contains(string(out), want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(string(out), "192.0.2.3\t") || strings.Contains(string(out), "192.0.2.4\t") {
				t.Errorf("an address that is not banned is reported:\n%s", out)
			}
		})
	}
}
