package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/pipelines"
)

func TestValidateCommand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, config string
		wantErr      string
		wantOut      string
	}{
		{name: "shipped config", config: "../../pipelines/logjail.yaml", wantOut: "OK (1 pipelines, enabled: sshd)"},
		{name: "bad duration", config: "../../pipelines/testdata/invalid/bad-duration.yaml", wantErr: "bad-duration.yaml:3:13: defaults.findtime: invalid duration"},
		{name: "missing file", config: "nosuch.yaml", wantErr: "nosuch.yaml: no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(binary, "validate", "--config", tc.config).CombinedOutput()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(string(out), tc.wantErr) {
					t.Fatalf("want failure with %q, got %v:\n%s", tc.wantErr, err, out)
				}
				return
			}
			if err != nil || !strings.Contains(string(out), tc.wantOut) {
				t.Fatalf("want %q, got %v:\n%s", tc.wantOut, err, out)
			}
		})
	}
}

func TestTestCommand(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), "auth.log")
	lines := "Nov 25 07:13:18 h sshd[1]: Failed password for root from 192.0.2.1 port 22 ssh2\n" +
		"Nov 25 07:13:19 h sshd[2]: Accepted publickey for alice from 192.0.2.2 port 22 ssh2: ED25519 SHA256:x\n" +
		"Nov 25 07:13:20 h sshd[3]: Connection closed by 192.0.2.3 port 22 [preauth]\n"
	if err := os.WriteFile(log, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		args    []string
		matched int
		addrs   []string
	}{
		{"normal", []string{"sshd", log}, 1, []string{"192.0.2.1"}},
		{"aggressive", []string{"sshd[mode=aggressive]", log}, 2, []string{"192.0.2.1", "192.0.2.3"}},
		{"one line", []string{"sshd", "Nov 25 07:13:18 h sshd[1]: Invalid user x from 2001:db8::9 port 22"}, 1, []string{"2001:db8::9"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"test"}, tc.args...)
			args = append(args, "--json", "--now", "2026-11-26T00:00:00Z")
			out, err := exec.Command(binary, args...).Output()
			if err != nil {
				t.Fatalf("logjail test: %v", err)
			}
			var rep match.Report
			if err := json.Unmarshal(out, &rep); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if rep.Matched != tc.matched || len(rep.Failures) != len(tc.addrs) {
				t.Fatalf("report %+v", rep)
			}
			for i, a := range tc.addrs {
				if rep.Failures[i].Addr != a {
					t.Errorf("failure %d: %s, want %s", i, rep.Failures[i].Addr, a)
				}
			}
			if f := rep.Failures[0]; f.Line != 1 || f.Time.Year() != 2026 || f.Time.Month() != 11 {
				t.Errorf("first failure %+v", f)
			}
		})
	}
	// Human output names the counts: the login and the closed connection
	// are recognised (they record their connection's address), not
	// failures.
	out, err := exec.Command(binary, "test", "sshd", log).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Lines: 3 lines, 2 ignored, 1 matched, 0 missed") {
		t.Fatalf("%v\n%s", err, out)
	}
}

// `logjail test --json` keeps "user": "" when the filter captured an empty
// user (sshd's "Invalid user  from ...", which fail2ban's corpus has) and
// leaves "user" out only when it captured none, in both dialects.
func TestTestCommandJSONUser(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), "auth.log")
	lines := "Nov 25 07:13:18 h sshd[1]: Invalid user  from 192.0.2.1 port 22\n" +
		"Nov 25 07:13:19 h sshd[2]: Failed password for root from 192.0.2.2 port 22 ssh2\n" +
		"Nov 25 07:13:20 h sshd[3]: Connection closed by 192.0.2.3 port 22 [preauth]\n"
	if err := os.WriteFile(log, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	const f2bFilter = "/etc/fail2ban/filter.d/sshd.conf"
	for _, tc := range []struct {
		name   string
		filter string
		want   []any // per failure: the user, or nil for no "user" key
	}{
		{"logjail", "sshd[mode=ddos]", []any{"", "root", nil}},
		{"fail2ban", f2bFilter + "[mode=ddos]", []any{"", "root", nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.HasPrefix(tc.filter, f2bFilter) {
				testkit.NeedFile(t, f2bFilter, "fail2ban")
			}
			out, err := exec.Command(binary, "test", tc.filter, log, "--json", "--now", "2026-11-26T00:00:00Z").Output()
			if err != nil {
				t.Fatalf("logjail test: %v", err)
			}
			var rep struct {
				Failures []map[string]any `json:"failures"`
			}
			if err := json.Unmarshal(out, &rep); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if len(rep.Failures) != len(tc.want) {
				t.Fatalf("%d failures, want %d:\n%s", len(rep.Failures), len(tc.want), out)
			}
			for i, w := range tc.want {
				u, has := rep.Failures[i]["user"]
				switch {
				case w == nil && has:
					t.Errorf("failure %d: user %q, want no user key", i, u)
				case w != nil && (!has || u != w):
					t.Errorf("failure %d: user %v (present %v), want %q", i, u, has, w)
				}
			}
		})
	}
}

// `logjail test` on a line crafted to make a regex backtrack without end:
// the line is reported as timed out (not missed), with the regex's count,
// in --json and in the human report.
func TestTestCommandTimeout(t *testing.T) {
	t.Parallel()
	const filter = "testdata/backtracking.conf"
	line := strings.Repeat("x", 64) + " 192.0.2.1"
	out, err := exec.Command(binary, "test", filter, line, "--json").Output()
	if err != nil {
		t.Fatalf("logjail test: %v", err)
	}
	var rep match.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.Lines != 1 || rep.TimedOut != 1 || rep.Missed != 0 || rep.Timeouts != 1 ||
		len(rep.Regexes) != 1 || rep.Regexes[0].Timeouts != 1 || rep.Regexes[0].Engine != "regexp2" ||
		len(rep.TimeoutLines) != 1 || rep.TimeoutLines[0].Text != line {
		t.Errorf("report:\n%s", out)
	}
	out, err = exec.Command(binary, "test", filter, line).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "0 missed, 1 timed out (1 regex timeouts)") || !strings.Contains(string(out), "[1 timeouts]") {
		t.Errorf("%v\n%s", err, out)
	}
}

// `logjail test --json` streams its failures: the document holds the same
// fields, byte for byte, as the whole report encoded at the end (as the
// command printed it before), "failures" first; only lines_per_sec (a
// measurement) differs.
func TestTestCommandJSONStreamed(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), "auth.log")
	if err := os.WriteFile(log, []byte(strings.Join(testkit.AuthLog(20000), "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const now = "2026-11-26T00:00:00Z"
	ref, _ := time.Parse(time.RFC3339, now)
	for _, filter := range []string{"sshd", "sshd[mode=aggressive]"} {
		t.Run(filter, func(t *testing.T) {
			streamed, err := exec.Command(binary, "test", filter, log, "--json", "--now", now).Output()
			if err != nil {
				t.Fatalf("logjail test: %v", err)
			}
			f, err := os.Open(log)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			build := func() (match.Matcher, error) { m, _, err := pipelines.ResolveFilter(filter, "."); return m, err }
			rep, err := match.Test(build, f, ref, match.TestOptions{KeepFailures: true}, 2)
			if err != nil {
				t.Fatal(err)
			}
			var whole bytes.Buffer
			if err := printJSON(&whole, rep); err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(streamed, []byte("{\n  \"failures\": [\n")) {
				t.Errorf("the document does not open with the failures:\n%.200s", streamed)
			}
			var want, got map[string]json.RawMessage
			if err := json.Unmarshal(whole.Bytes(), &want); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(streamed, &got); err != nil {
				t.Fatalf("%v\n%.300s", err, streamed)
			}
			if len(rep.Failures) < 1000 || len(got) != len(want) {
				t.Fatalf("%d failures; fields %d, want %d", len(rep.Failures), len(got), len(want))
			}
			for k, w := range want {
				if g := got[k]; k != "lines_per_sec" && !bytes.Equal(g, w) {
					t.Errorf("field %q differs:\n got %.300s\nwant %.300s", k, g, w)
				}
			}
		})
	}
}
