package pipelines

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/match"
)

// TestShippedFilters runs the annotated sample log of every shipped filter
// (testdata/filters/NAME.log) through the filter, in every mode the sample
// declares, as TestShippedSSHDFilter does for sshd. A shipped filter
// without a sample log, or with modes its sample never exercises, fails.
func TestShippedFilters(t *testing.T) {
	names := ShippedFilters()
	if len(names) < 2 {
		t.Fatalf("shipped filters: %v", names)
	}
	for _, name := range names {
		if name == "sshd" {
			continue // TestShippedSSHDFilter
		}
		t.Run(name, func(t *testing.T) {
			path := "testdata/filters/" + name + ".log"
			if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("shipped filter %s has no annotated sample log %s", name, path)
			}
			cases := readFilterCases(t, path)
			checkFilterCases(t, name, cases)
		})
	}
	// A sample log without its filter is a filter removed or misnamed.
	samples, err := filepath.Glob("testdata/filters/*.log")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range samples {
		if name := strings.TrimSuffix(filepath.Base(s), ".log"); !slices.Contains(names, name) {
			t.Errorf("sample log %s has no shipped filter %s", s, name)
		}
	}
}

// TestBotsearchDateIsTheLines: the date of a line is the one the program
// wrote, never one in text the client chose, which, found first, would
// make a probe look years old and never ban: an access log's basic-auth
// user name before the CLF date; the requested path in nginx's error log,
// also behind a syslog header (whose date is then the line's).
func TestBotsearchDateIsTheLines(t *testing.T) {
	m, _, err := ResolveFilter("nginx-botsearch", ".")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	want := time.Date(2026, 11, 25, 7, 14, 0, 0, time.UTC)
	var lines []string
	for _, user := range []string{"-", "[1234567890]", "1234567890", "Nov 25 2001", "2001-01-01", "[01/Jan/2001]"} {
		lines = append(lines, "203.0.113.61 - "+user+` [25/Nov/2026:08:14:00 +0100] "GET /wp-login.php HTTP/1.1" 404 153 "-" "-"`)
	}
	path := "/cgi-bin/25/Nov/2001:00:00:00 +0000/Nov 25 00:00:00/2001/01/01 00:00:00"
	lines = append(lines,
		`2026/11/25 07:14:00 [error] 812#812: *1 open() "/srv/www`+path+`" failed (2: No such file or directory), client: 203.0.113.61, server: example.com, request: "GET /cgi-bin/x HTTP/1.1", host: "example.com"`,
		`Nov 25 07:14:00 web1 nginx: 2026/11/25 07:13:00 [error] 812#812: *1 open() "/srv/www`+path+`" failed (2: No such file or directory), client: 203.0.113.61, server: example.com, request: "GET /cgi-bin/x HTTP/1.1", host: "example.com"`,
		`Nov 25 07:14:00 web1 nginx: 203.0.113.61 - [01/Jan/2001:00:00:00 +0000] [25/Nov/2026:07:13:00 +0000] "GET /wp-login.php HTTP/1.1" 404 153 "-" "-"`,
		`2026-11-25T07:14:00Z web1 nginx: 203.0.113.61 - Nov 25 00:00:00 [25/Nov/2026:07:13:00 +0000] "GET /wp-login.php HTTP/1.1" 404 153 "-" "-"`,
	)
	for _, line := range lines {
		e := ingest.Entry{Message: line, ReadAt: now}
		f, out := m.Match(&e, now)
		if out != match.Matched || f.Addr.String() != "203.0.113.61" {
			t.Errorf("%q: outcome %v addr %s, want failure of 203.0.113.61", line, out, f.Addr)
			continue
		}
		if !f.Time.Equal(want) {
			t.Errorf("%q: time %v, want %v", line, f.Time, want)
		}
	}
}

// sampleModes returns the modes the cases are checked in; a case before
// any "# modes:" line is checked in the normal mode.
func sampleModes(cases []filterCase) []string {
	var modes []string
	for i := range cases {
		if len(cases[i].modes) == 0 {
			cases[i].modes = []string{"normal"}
		}
		for _, m := range cases[i].modes {
			if !slices.Contains(modes, m) {
				modes = append(modes, m)
			}
		}
	}
	return modes
}

// checkFilterCases checks the annotated cases of the shipped filter name in
// each mode they declare. It needs a failure, a non-failure and an
// injection attempt or two: at least 12 cases, with both outcomes present.
func checkFilterCases(t *testing.T, name string, cases []filterCase) {
	t.Helper()
	if len(cases) < 12 {
		t.Fatalf("only %d cases", len(cases))
	}
	var fails, nones int
	for _, c := range cases {
		switch {
		case c.addr != "" && !c.nofail:
			fails++
		case c.addr == "":
			nones++
		}
	}
	if fails == 0 || nones == 0 {
		t.Fatalf("%d failures and %d non-failures: a sample needs both", fails, nones)
	}
	checkDecoys(t, name, cases)
	modes := sampleModes(cases)
	f, err := (&decoder{}).loadFilter(".", name)
	if err != nil {
		t.Fatal(err)
	}
	if f.Description == "" || len(f.Services) == 0 {
		t.Errorf("filter %s needs a description and its services", name)
	}
	for mode := range f.Modes {
		if !slices.Contains(modes, mode) {
			t.Errorf("mode %q of filter %s is not exercised by its sample log", mode, name)
		}
	}
	matchFilterCases(t, name, modes, cases)
}

// decoys are the addresses a sample writes into text the client controls
// (a user name, a URL, a header): " from 198.51.100.1 ", "client:
// 203.0.113.9". No case may want one as the failure's address.
var decoys = []string{"198.51.100.1", "203.0.113.9"}

// checkDecoys requires a filter's sample to try the decoys: at least one
// case whose line holds a decoy address in the client's text (its want is
// the real address, or none); unless the sample says, in a line
// "# no attacker text: REASON", that the program logs no text a client
// chooses on the lines the filter counts.
func checkDecoys(t *testing.T, name string, cases []filterCase) {
	t.Helper()
	tried := 0
	for _, c := range cases {
		if slices.Contains(decoys, c.addr) {
			t.Errorf("testdata/filters/%s.log:%d: wants the decoy address %s", name, c.line, c.addr)
		}
		if slices.ContainsFunc(decoys, func(d string) bool { return containsAddr(c.text, d) }) {
			tried++
		}
	}
	if tried > 0 {
		return
	}
	b, err := os.ReadFile("testdata/filters/" + name + ".log")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\n# no attacker text: ") {
		t.Errorf("testdata/filters/%s.log: no line puts a decoy (%s) in the client's text (a user name, URL: \" from 203.0.113.9 \", \"client: 203.0.113.9\") to show the real address is banned; or say \"# no attacker text: REASON\"", name, strings.Join(decoys, ", "))
	}
}

// containsAddr tells whether text holds addr as a whole address (not as
// the start of 198.51.100.10).
func containsAddr(text, addr string) bool {
	for i := strings.Index(text, addr); i >= 0; {
		end := i + len(addr)
		if end == len(text) || !strings.ContainsRune("0123456789", rune(text[end])) {
			return true
		}
		j := strings.Index(text[end:], addr)
		if j < 0 {
			return false
		}
		i = end + j
	}
	return false
}
