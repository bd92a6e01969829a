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
			if want != "none" {
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
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, mode := range []string{"normal", "aggressive"} {
		m, _, err := ResolveFilter("sshd[mode="+mode+"]", ".")
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
