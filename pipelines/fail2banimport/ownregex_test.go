package fail2banimport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/match/filter"
	"github.com/logjail/logjail/pipelines"
)

// TestImportJailWithoutFilter: a jail with "filter =" and its own
// failregex (fail2ban runs those alone) is imported with them inline when
// logjail's dialect reads them, and counts what they say; one in Python's
// syntax only is imported disabled, with the reason, and still loads.
func TestImportJailWithoutFilter(t *testing.T) {
	dir := fail2banDir(t)
	jails := `[myapp]
enabled = true
filter =
failregex = ^\s*\S+ myapp\[\d+\]: login failed for <F-USER>\S+</F-USER> from <HOST>$
            ^\s*\S+ myapp\[\d+\]: blocked <HOST>$
ignoreregex = for admin from
logpath = /var/log/myapp/*.log

[pyonly]
enabled = true
filter =
failregex = ^(?<=x)bad <HOST>$
logpath = /var/log/pyonly.log

[withpref]
enabled = true
filter =
prefregex = ^\S+ myapp: <F-CONTENT>.+</F-CONTENT>$
failregex = ^bad login from <HOST>$
logpath = /var/log/withpref.log

[pyrange]
enabled = true
filter =
failregex = ^\S+ myapp: x{,3} bad <HOST>$
logpath = /var/log/pyrange.log
`
	if err := os.WriteFile(filepath.Join(dir, "jail.local"), []byte(jails), 0o644); err != nil {
		t.Fatal(err)
	}
	text, _, err := Import(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"      # fail2ban's jail has no filter (filter =): its own regexes are the filter.\n      failregex:\n",
		`        - "^\\s*\\S+ myapp\\[\\d+\\]: blocked <HOST>$"`,
		"      ignoreregex:\n        - \"for admin from\"\n",
		"  pyonly:\n    # Disabled: its regexes are not logjail's dialect",
		"    enabled: false\n",
		"      # fail2ban's failregex: ^(?<=x)bad <HOST>$\n",
		"  pyrange:\n    # Disabled: its regexes use Python's {,n}, which RE2 reads as text",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("want %q in:\n%s", want, text)
		}
	}
	if strings.Contains(text, "filter.d/myapp.conf") {
		t.Errorf("a filter file that does not exist is named:\n%s", text)
	}
	pipes := loadImported(t, text)
	checkOwnRegexes(t, pipes["withpref"], map[string]match.Outcome{
		"Dec  7 11:00:00 web myapp: bad login from 192.0.2.7": match.Matched,
		"Dec  7 11:00:00 web other: bad login from 192.0.2.7": match.Miss,
	})
	p := pipes["myapp"]
	checkOwnRegexes(t, p, map[string]match.Outcome{
		"Dec  7 11:00:00 web myapp[12]: login failed for bob from 192.0.2.7":   match.Matched,
		"Dec  7 11:00:00 web myapp[12]: login failed for admin from 192.0.2.7": match.Ignored,
		"Dec  7 11:00:00 web myapp[12]: blocked 192.0.2.8":                     match.Matched,
		"Dec  7 11:00:00 web myapp[12]: started":                               match.Miss,
	})
}

// checkOwnRegexes matches each line with p's filter and wants its outcome.
func checkOwnRegexes(t *testing.T, p *pipelines.Pipeline, want map[string]match.Outcome) {
	t.Helper()
	if p == nil {
		t.Fatal("pipeline not imported enabled")
	}
	m, err := filter.Compile(p.Name, p.Plan.Rules)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for line, w := range want {
		e := ingest.Entry{Message: line, ReadAt: now}
		if _, out := m.Match(&e, now); out != w {
			t.Errorf("%s: %q: %v, want %v", p.Name, line, out, w)
		}
	}
}
