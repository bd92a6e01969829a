package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/daemon"
)

// TestF2bPipelineLayout covers what the comparison with the real fail2ban
// (TestFail2banFormatMatchesFail2ban) does not reach: journal sources,
// several files, sources fail2ban has no word for, the order of the
// banned list.
func TestF2bPipelineLayout(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	tree := func(watch string, banned string) string {
		return "Status for the jail: sshd\n|- Filter\n|  |- Currently failed:\t2\n|  |- Total failed:\t9\n" + watch +
			"`- Actions\n   |- Currently banned:\t2\n   |- Total banned:\t4\n   `- Banned IP list:\t" + banned + "\n"
	}
	for _, tc := range []struct {
		name    string
		sources []string
		want    string
	}{
		{"one file", []string{"file /var/log/auth.log"}, tree("|  `- File list:\t/var/log/auth.log\n", "192.0.2.9 192.0.2.7")},
		{"files", []string{"file /var/log/auth.log, /var/log/secure", "file /x.log"},
			tree("|  `- File list:\t/var/log/auth.log /var/log/secure /x.log\n", "192.0.2.9 192.0.2.7")},
		{"journal", []string{"journald _SYSTEMD_UNIT=ssh.service + _SYSTEMD_UNIT=sshd.service"},
			tree("|  `- Journal matches:\t_SYSTEMD_UNIT=ssh.service + _SYSTEMD_UNIT=sshd.service\n", "192.0.2.9 192.0.2.7")},
		{"journal namespace", []string{"journald namespace=web _COMM=nginx"}, tree("|  `- Journal matches:\t_COMM=nginx\n", "192.0.2.9 192.0.2.7")},
		{"file and journal", []string{"file /a.log", "journald _COMM=sshd"},
			tree("|  |- File list:\t/a.log\n|  `- Journal matches:\t_COMM=sshd\n", "192.0.2.9 192.0.2.7")},
		{"syslog only", []string{"syslog udp://0.0.0.0:514"}, tree("|  `- File list:\t\n", "192.0.2.9 192.0.2.7")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := daemon.PipelineStatus{Pipeline: "sshd"}
			st.Filter.CurrentlyFailed, st.Filter.TotalFailed = 2, 9
			st.Actions.CurrentlyBanned, st.Actions.TotalBanned = 2, 4
			// Listed by address by the daemon; fail2ban lists them as banned.
			st.Actions.Bans = []daemon.Ban{{Addr: "192.0.2.7", Time: t0.Add(time.Minute)}, {Addr: "192.0.2.9", Time: t0}}
			for _, w := range tc.sources {
				st.Sources = append(st.Sources, daemon.SourceStatus{Watching: w})
			}
			var b bytes.Buffer
			writeF2bPipeline(&b, st)
			if b.String() != tc.want {
				t.Errorf("got\n%q\nwant\n%q", b.String(), tc.want)
			}
		})
	}
}

func TestF2bBannedLayout(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	until := func(d time.Duration) *time.Time { u := t0.Add(d); return &u }
	bans := []daemon.Ban{
		{Pipeline: "sshd", Addr: "192.0.2.1", Time: t0},                          // permanent: last
		{Pipeline: "sshd", Addr: "192.0.2.2", Time: t0, Until: until(time.Hour)}, // ends second
		{Pipeline: "sshd", Addr: "2001:db8::/64", Time: t0, Until: until(time.Minute)},
		{Pipeline: "web", Addr: "192.0.2.2", Time: t0, Until: until(time.Hour)},
	}
	for _, tc := range []struct {
		name string
		run  func(*bytes.Buffer)
		want string
	}{
		{"all", func(b *bytes.Buffer) { writeF2bBanned(b, []string{"web", "sshd", "idle"}, bans) },
			"[{'idle': []}, {'sshd': ['2001:db8::/64', '192.0.2.2', '192.0.2.1']}, {'web': ['192.0.2.2']}]\n"},
		{"no pipeline", func(b *bytes.Buffer) { writeF2bBanned(b, nil, nil) }, "[]\n"},
		{"addresses", func(b *bytes.Buffer) {
			writeF2bBannedAddrs(b, []daemon.AddrBans{
				{Addr: "192.0.2.2", Bans: []daemon.Ban{bans[3], bans[1]}},
				{Addr: "192.0.2.3", Bans: []daemon.Ban{}},
				{Addr: "2001:db8::5", Bans: []daemon.Ban{bans[2]}},
			})
		}, "[['sshd', 'web'], [], ['sshd']]\n"},
		{"quoting", func(b *bytes.Buffer) { writeF2bBanned(b, []string{`it's`, `a"b'c\`}, nil) },
			`[{'a"b\'c\\': []}, {"it's": []}]` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			tc.run(&b)
			if b.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tc.want)
			}
		})
	}
}

func TestF2bOverviewLayout(t *testing.T) {
	var b bytes.Buffer
	writeF2bOverview(&b, daemon.Status{Pipelines: []string{"sshd", "nginx"}, Failed: map[string]string{"x": "broken"}})
	if want := "Status\n|- Number of jail:\t2\n`- Jail list:\tnginx, sshd\n"; b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}

// TestFormatFlag checks --format with the real binary, before any daemon
// answers: a bad value and --json beside it are usage errors; --format
// json is --json (its error is JSON).
func TestFormatFlag(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "none.sock")
	for _, tc := range []struct {
		args    []string
		code    int
		wantErr string
	}{
		{[]string{"status", "--format", "xml"}, 1, `logjail: --format: "xml" is not one of text, json, fail2ban`},
		{[]string{"banned", "--json", "--format", "json"}, 1, `"error": "--json and --format are one choice: give one of them"`},
		{[]string{"status", "--format", "json"}, 1, `"error": "no logjail is listening on the control socket: ` + sock},
		{[]string{"status", "--format", "fail2ban"}, 1, "logjail: no logjail is listening on the control socket: " + sock},
		{[]string{"banned", "192.0.2.1", "--format", "fail2ban"}, 2, "logjail: no logjail is listening on the control socket: " + sock},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			cmd := exec.Command(binary, append(tc.args, "--socket", sock)...)
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != tc.code || len(out) != 0 || !strings.Contains(stderr.String(), tc.wantErr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, no stdout, stderr with %q", code, out, stderr.String(), tc.code, tc.wantErr)
			}
		})
	}
}

// TestBanLineDurations: a ban's time left is written as logjail writes
// durations everywhere (status, simulate, the YAML), not Go's "1h0m0s".
func TestBanLineDurations(t *testing.T) {
	until := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		left time.Duration
		want string
	}{
		{time.Hour, "(1h left)"},
		{26*time.Hour + 30*time.Second, "(1d2h30s left)"},
		{59 * time.Second, "(59s left)"},
	} {
		line := banLine(daemon.Ban{Pipeline: "sshd", Addr: "192.0.2.1", Until: &until, RemainingS: int64(c.left / time.Second), Reason: "failures"})
		if !strings.Contains(line, c.want) {
			t.Errorf("%v: %q, want %s", c.left, line, c.want)
		}
	}
}
