package pipelines

import (
	"bufio"
	"maps"
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
	checkFilterCases(t, "sshd", cases)
}

// matchFilterCases runs annotated sample cases through a shipped filter in
// each mode, as fail2ban's samples test does for its filters.
func matchFilterCases(t *testing.T, name string, modes []string, cases []filterCase) {
	t.Helper()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, mode := range modes {
		// A mode may carry arguments: "# modes: normal[honeypot=trap@example.org]".
		ref := name + "[mode=" + mode + "]"
		if base, args, ok := strings.Cut(mode, "["); ok {
			ref = name + "[mode=" + base + "," + args
		}
		m, _, err := ResolveFilter(ref, ".")
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
// sshdAttemptCases are TestSSHDCountsAttemptsOnce's: the lines of one
// connection (after sshd's header) and the failures they count.
var sshdAttemptCases = []struct {
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
	}, 3},
	{"mistyped user name", []string{
		"Invalid user alcie from 192.0.2.8 port 50000",
		"pam_unix(sshd:auth): check pass; user unknown",
		"Failed password for invalid user alcie from 192.0.2.8 port 50000 ssh2",
		"Connection closed by invalid user alcie 192.0.2.8 port 50000 [preauth]",
	}, 2},
	// A key-only client (BatchMode) with a wrong key: sshd logs the
	// refused keys at VERBOSE only, so this is the connection's only line.
	{"key-only client with a wrong key", []string{
		"Connection closed by authenticating user alice 192.0.2.8 port 50000 [preauth]",
	}, 0},
	{"keyboard-interactive typo of a valid user", []string{
		"error: PAM: Authentication failure for alice from 192.0.2.8",
		"Connection closed by authenticating user alice 192.0.2.8 port 50000 [preauth]",
	}, 1},
	// fail2ban counts sshd's PAM line and the "Failed
	// keyboard-interactive/pam" line after it both (its sample log
	// says so): its count is the contract.
	{"keyboard-interactive of an unknown user", []string{
		"Invalid user alcie from 192.0.2.8 port 50000",
		"error: PAM: User not known to the underlying authentication module for illegal user alcie from 192.0.2.8",
		"Failed keyboard-interactive/pam for invalid user alcie from 192.0.2.8 port 50000 ssh2",
		"Connection closed by invalid user alcie 192.0.2.8 port 50000 [preauth]",
	}, 3},
	// A line without an address counts with its connection's.
	{"too many failures before sshd 6.8", []string{
		"Connection from 192.0.2.8 port 50000 on 192.0.2.1 port 22",
		"Failed publickey for alice from 192.0.2.8 port 50000 ssh2: RSA SHA256:x",
		"Disconnecting: Too many authentication failures for alice [preauth]",
		"Connection closed by 192.0.2.8 port 50000 [preauth]",
	}, 1},
	// Access gained forgets the failures that wait for an address,
	// unless the connection tried other users first.
	{"locked account, then a login", []string{
		"User alice not allowed because account is locked",
		"Accepted password for alice from 192.0.2.8 port 50000 ssh2",
	}, 0},
	{"other users, then a login", []string{
		"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser=root rhost=192.0.2.8",
		"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser=admin rhost=192.0.2.8",
		"Accepted password for alice from 192.0.2.8 port 50000 ssh2",
	}, 2},
	{"too many keys offered", []string{
		"error: maximum authentication attempts exceeded for alice from 192.0.2.8 port 50000 ssh2 [preauth]",
		"Disconnecting authenticating user alice 192.0.2.8 port 50000: Too many authentication failures [preauth]",
	}, 1},
}

func TestSSHDCountsAttemptsOnce(t *testing.T) {
	const h = "Nov 25 07:13:18 web1 sshd[1201]: "
	for _, tc := range sshdAttemptCases {
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

// A log written by a real sshd (OpenSSH 9.2, Debian 12) with -E FILE: no
// syslog header, CRLF line endings (the file source drops the CR). Made in
// a network namespace with sshd -D -E FILE (UsePAM yes, password and
// keyboard-interactive on) and one client address per case:
//
//	.11 a wrong password for root          .12 a wrong password, unknown user
//	.13 keyboard-interactive, wrong, root  .14 keyboard-interactive, unknown user
//	.15 a key-only client (BatchMode) with a key root does not accept
//
// Each mode counts what fail2ban's same mode counts: the key-only client
// is no failure in normal mode; an unknown user's keyboard-interactive
// attempt counts twice (sshd's PAM line and "Failed
// keyboard-interactive/pam"), as in fail2ban.
func TestSSHDRealLog(t *testing.T) {
	data, err := os.ReadFile("testdata/sshd-E.log")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.SplitAfter(string(data), "\n") {
		if l == "" {
			continue
		}
		if !strings.HasSuffix(l, "\r\n") {
			t.Fatalf("line %q does not end in CRLF, as sshd -E writes it", l)
		}
		lines = append(lines, strings.TrimSuffix(l, "\r\n"))
	}
	for _, tc := range []struct {
		mode string
		want map[string]int
	}{
		{"normal", map[string]int{"127.0.0.11": 1, "127.0.0.12": 2, "127.0.0.13": 1, "127.0.0.14": 3}},
		{"ddos", map[string]int{"127.0.0.11": 2, "127.0.0.12": 3, "127.0.0.13": 2, "127.0.0.14": 4, "127.0.0.15": 1}},
		{"extra", map[string]int{"127.0.0.11": 1, "127.0.0.12": 2, "127.0.0.13": 1, "127.0.0.14": 3}},
		{"aggressive", map[string]int{"127.0.0.11": 2, "127.0.0.12": 3, "127.0.0.13": 2, "127.0.0.14": 4, "127.0.0.15": 1}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			m, _, err := ResolveFilter("sshd[mode="+tc.mode+"]", ".")
			if err != nil {
				t.Fatal(err)
			}
			now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
			got := map[string]int{}
			for _, l := range lines {
				e := ingest.Entry{Message: l, ReadAt: now}
				if f, out := m.Match(&e, now); out == match.Matched {
					got[f.Addr.String()]++
				}
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("failures per address %v, want %v", got, tc.want)
			}
		})
	}
}

// fail2ban's postfix filter does one job per mode; logjail's postfix filter
// offers them all, its auth mode also by its first name, postfix-sasl.
func TestPostfixFilterNames(t *testing.T) {
	const line = "Nov 25 07:13:18 mail postfix/submission/smtpd[2121]: warning: unknown[203.0.113.7]: SASL LOGIN authentication failed: UGFzc3dvcmQ6"
	for _, tc := range []struct {
		ref     string
		wantErr string
	}{
		{ref: "postfix[mode=auth]"},
		{ref: "postfix-sasl"},
		{ref: "postfix-sasl[mode=auth]"},
		{ref: "postfix[mode=aggressive]"},
		{ref: "postfix[mode=smtp]", wantErr: `filter "postfix" has no mode "smtp" (known: more, aggressive, auth, ddos, errors, extra, normal, rbl)`},
		{ref: "postfix-sasl[mode=ddos]", wantErr: `filter "postfix-sasl" is postfix[mode=auth]; it has no mode "ddos"`},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			m, _, err := ResolveFilter(tc.ref, ".")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
			e := ingest.Entry{Message: line, ReadAt: now}
			if f, out := m.Match(&e, now); out != match.Matched || f.Addr.String() != "203.0.113.7" {
				t.Errorf("outcome %v addr %s, want failure of 203.0.113.7", out, f.Addr)
			}
		})
	}
}
