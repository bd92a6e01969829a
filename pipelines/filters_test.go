package pipelines

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/match"
)

type filterCase struct {
	line      int
	text      string
	addr      string // "" = no failure
	user      string
	checkUser bool
	nofail    bool // recognised, not a failure
	modes     []string
}

// readFilterCases parses an annotated sample log (see testdata/filters/sshd.log).
func readFilterCases(t *testing.T, path string) []filterCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []filterCase
	var modes []string
	var pending *filterCase
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# modes:"):
			modes = strings.Fields(strings.TrimPrefix(line, "# modes:"))
		case strings.HasPrefix(line, "# want: "):
			want := strings.TrimPrefix(line, "# want: ")
			c := filterCase{modes: modes}
			if a, ok := strings.CutPrefix(want, "nofail "); ok {
				c.nofail, c.addr = true, a
			} else if want != "none" {
				addr, user, hasUser := strings.Cut(want, " user=")
				c.addr, c.user, c.checkUser = addr, user, hasUser
			}
			pending = &c
		case strings.HasPrefix(line, "#") || line == "":
		default:
			if pending == nil {
				t.Fatalf("%s:%d: line without a # want annotation", path, n)
			}
			pending.line, pending.text = n, line
			cases = append(cases, *pending)
			pending = nil
		}
	}
	return cases
}

func TestShippedSSHDFilter(t *testing.T) {
	cases := readFilterCases(t, "testdata/filters/sshd.log")
	if len(cases) < 30 {
		t.Fatalf("only %d cases", len(cases))
	}
	matchFilterCases(t, "sshd", []string{"normal", "aggressive"}, cases)
}

// matchFilterCases runs annotated sample cases through a shipped filter in
// each mode, as fail2ban's samples test does for its filters.
func matchFilterCases(t *testing.T, name string, modes []string, cases []filterCase) {
	t.Helper()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, mode := range modes {
		m, _, err := ResolveFilter(name+"[mode="+mode+"]", ".")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			if !contains(c.modes, mode) {
				continue
			}
			e := ingest.Entry{Message: c.text, ReadAt: now}
			f, out := m.Match(&e, now)
			switch {
			case c.nofail:
				if out != match.NoFail || f.Addr.String() != c.addr {
					t.Errorf("%s line %d: outcome %v addr %s, want NoFail of %s\n  %s", mode, c.line, out, f.Addr, c.addr, c.text)
				}
			case c.addr == "" && out == match.Matched:
				t.Errorf("%s line %d: matched %s, want no failure\n  %s", mode, c.line, f.Addr, c.text)
			case c.addr != "" && out != match.Matched:
				t.Errorf("%s line %d: outcome %v, want failure of %s\n  %s", mode, c.line, out, c.addr, c.text)
			case c.addr != "" && f.Addr.String() != c.addr:
				t.Errorf("%s line %d: address %s, want %s\n  %s", mode, c.line, f.Addr, c.addr, c.text)
			case c.checkUser && f.User != c.user:
				t.Errorf("%s line %d: user %q, want %q\n  %s", mode, c.line, f.User, c.user, c.text)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// One count per attempt: the lines sshd writes for one event must not add
// up to a ban of a user who merely mistyped.
func TestSSHDCountsAttemptsOnce(t *testing.T) {
	const h = "Nov 25 07:13:18 web1 sshd[1201]: "
	for _, tc := range []struct {
		name  string
		lines []string
		want  int
	}{
		{"typo then login", []string{
			"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.8  user=alice",
			"Failed password for alice from 192.0.2.8 port 50000 ssh2",
			"Accepted password for alice from 192.0.2.8 port 50000 ssh2",
		}, 1},
		{"three typos then give up", []string{
			"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.8  user=alice",
			"Failed password for alice from 192.0.2.8 port 50000 ssh2",
			"Failed password for alice from 192.0.2.8 port 50000 ssh2",
			"Failed password for alice from 192.0.2.8 port 50000 ssh2",
			"Connection closed by authenticating user alice 192.0.2.8 port 50000 [preauth]",
		}, 4},
		{"mistyped user name", []string{
			"Invalid user alcie from 192.0.2.8 port 50000",
			"pam_unix(sshd:auth): check pass; user unknown",
			"Failed password for invalid user alcie from 192.0.2.8 port 50000 ssh2",
			"Connection closed by invalid user alcie 192.0.2.8 port 50000 [preauth]",
		}, 2},
		{"agent offers wrong keys", []string{
			"Connection closed by authenticating user alice 192.0.2.8 port 50000 [preauth]",
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _, err := ResolveFilter("sshd", ".")
			if err != nil {
				t.Fatal(err)
			}
			now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
			n := 0
			for _, l := range tc.lines {
				e := ingest.Entry{Message: h + l, ReadAt: now}
				if _, out := m.Match(&e, now); out == match.Matched {
					n++
				}
			}
			if n != tc.want {
				t.Errorf("%d failures counted, want %d", n, tc.want)
			}
		})
	}
}
