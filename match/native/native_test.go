package native

import (
	"errors"
	"maps"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/match"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// readAt is when matchCases' lines are read.
var readAt = now.Add(-time.Minute)

// matchCase is a line, the rules it is matched with and what they find.
type matchCase struct {
	name     string
	rules    match.Rules
	line     string
	entryAt  time.Time // Entry.Time set by a source
	want     match.Outcome
	wantAddr string
	wantUser string
	wantTime time.Time
}

// matchCases is one row a rule feature, so it is long: the line, the rules
// and what Match finds in it at now, read at readAt.
var matchCases = []matchCase{
	{
		name:     "host v4 with syslog date",
		rules:    match.Rules{Failregex: []string{`^auth failed for <F-USER>\S+</F-USER> from <HOST>$`}},
		line:     "Nov 25 07:13:18 auth failed for bob from 192.0.2.7",
		want:     match.Matched,
		wantAddr: "192.0.2.7", wantUser: "bob",
		wantTime: time.Date(2026, 11, 25, 7, 13, 18, 0, time.UTC),
	},
	{
		name:     "addr v6",
		rules:    match.Rules{Failregex: []string{`denied <ADDR>`}},
		line:     "2026-11-25T07:13:18Z denied 2001:db8::7",
		want:     match.Matched,
		wantAddr: "2001:db8::7",
		wantTime: time.Date(2026, 11, 25, 7, 13, 18, 0, time.UTC),
	},
	{
		name:     "bracketed v6",
		rules:    match.Rules{Failregex: []string{`^denied <HOST>:\d+$`}},
		line:     "denied [2001:db8::7]:443",
		want:     match.Matched,
		wantAddr: "2001:db8::7",
		wantTime: readAt, // no date: the read time
	},
	{
		name:     "mapped v4 is v4",
		rules:    match.Rules{Failregex: []string{`^denied <HOST>$`}},
		line:     "denied ::ffff:192.0.2.9",
		want:     match.Matched,
		wantAddr: "192.0.2.9",
		wantTime: readAt,
	},
	{
		name:  "invalid address is not a failure",
		rules: match.Rules{Failregex: []string{`^denied <HOST>$`}},
		line:  "denied 999.1.1.1",
		want:  match.BadAddress,
	},
	{
		name:  "ignoreregex wins",
		rules: match.Rules{Failregex: []string{`^denied <HOST>`}, Ignoreregex: []string{`monitoring`}},
		line:  "denied 192.0.2.1 (monitoring probe)",
		want:  match.Ignored,
	},
	{
		name:  "prefregex must match",
		rules: match.Rules{Prefregex: `^app\[\d+\]: <F-CONTENT>.+</F-CONTENT>$`, Failregex: []string{`^denied <HOST>$`}},
		line:  "other[1]: denied 192.0.2.1",
		want:  match.Miss,
	},
	{
		name:     "failregex runs on the prefregex content",
		rules:    match.Rules{Prefregex: `^app\[\d+\]: <F-CONTENT>.+</F-CONTENT>$`, Failregex: []string{`^denied <HOST>$`}},
		line:     "app[1]: denied 192.0.2.1",
		want:     match.Matched,
		wantAddr: "192.0.2.1",
		wantTime: readAt,
	},
	{
		name:     "source time wins over text",
		rules:    match.Rules{Failregex: []string{`denied <HOST>`}},
		line:     "Jan  1 00:00:00 denied 192.0.2.1",
		entryAt:  now.Add(-time.Hour),
		want:     match.Matched,
		wantAddr: "192.0.2.1",
		wantTime: now.Add(-time.Hour),
	},
	{
		name:     "clf date in the middle is cut out",
		rules:    match.Rules{Failregex: []string{`^<HOST> - - "GET /login" 401$`}},
		line:     `192.0.2.1 - - [25/Nov/2026:07:13:18 +0000] "GET /login" 401`,
		want:     match.Matched,
		wantAddr: "192.0.2.1",
		wantTime: time.Date(2026, 11, 25, 7, 13, 18, 0, time.UTC),
	},
	{
		name:     "datepattern override",
		rules:    match.Rules{Failregex: []string{`denied <HOST>`}, Datepattern: `^%d.%m.%Y %H:%M:%S`},
		line:     "25.11.2026 07:13:18 denied 192.0.2.1",
		want:     match.Matched,
		wantAddr: "192.0.2.1",
		wantTime: time.Date(2026, 11, 25, 7, 13, 18, 0, time.UTC),
	},
	{
		name:     "datepattern alternatives: the date starting first is cut out",
		rules:    match.Rules{Failregex: []string{`^<HOST> - \S+ "GET /login" 401$`}, Datepattern: "^%Y/%m/%d %H:%M:%S\n%d/%b/%Y:%H:%M:%S %z"},
		line:     `192.0.2.1 - 01/Jan/2001 [25/Nov/2026:07:13:18 +0000] "GET /login" 401`,
		want:     match.Matched,
		wantAddr: "192.0.2.1",
		wantTime: time.Date(2026, 11, 25, 7, 13, 18, 0, time.UTC),
	},
	{
		name:     "datepattern alternatives: a date at the start wins over a later one",
		rules:    match.Rules{Failregex: []string{`^\[error\] open\(\) "[^"]*" failed, client: <HOST>$`}, Datepattern: "^%Y/%m/%d %H:%M:%S\n%d/%b/%Y:%H:%M:%S %z"},
		line:     `2026/11/25 07:13:18 [error] open() "/x/01/Jan/2001:00:00:00 +0000" failed, client: 192.0.2.1`,
		want:     match.Matched,
		wantAddr: "192.0.2.1",
		wantTime: time.Date(2026, 11, 25, 7, 13, 18, 0, time.UTC),
	},
	{
		name:  "first matching failregex decides",
		rules: match.Rules{Failregex: []string{`^x <HOST>$`, `^denied <HOST>$`}},
		line:  "denied 192.0.2.1",
		want:  match.Matched, wantAddr: "192.0.2.1", wantTime: readAt,
	},
}

func TestMatch(t *testing.T) {
	for _, tc := range matchCases {
		t.Run(tc.name, func(t *testing.T) {
			tc.rules.Location = time.UTC
			m, err := Compile("p", tc.rules)
			if err != nil {
				t.Fatal(err)
			}
			e := ingest.Entry{Message: tc.line, ReadAt: readAt, Time: tc.entryAt}
			f, out := m.Match(&e, now)
			if out != tc.want {
				t.Fatalf("outcome %v, want %v", out, tc.want)
			}
			if out != match.Matched {
				return
			}
			if f.Addr != netip.MustParseAddr(tc.wantAddr) || f.User != tc.wantUser || !f.Time.Equal(tc.wantTime) {
				t.Errorf("got addr %s user %q time %v; want %s %q %v", f.Addr, f.User, f.Time, tc.wantAddr, tc.wantUser, tc.wantTime)
			}
			if f.Pipeline != "p" || f.Line != tc.line {
				t.Errorf("pipeline %q line %q", f.Pipeline, f.Line)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules match.Rules
		list  string
		index int
		is    error
	}{
		{"no failregex", match.Rules{}, "failregex", 0, nil},
		{"no address tag", match.Rules{Failregex: []string{`^x$`}}, "failregex", 0, match.ErrNoAddress},
		{"two hosts", match.Rules{Failregex: []string{`<HOST> <HOST>`}}, "failregex", 0, nil},
		{"bad regex", match.Rules{Failregex: []string{`<HOST>`, `(<HOST>`}}, "failregex", 1, nil},
		{"unclosed field", match.Rules{Failregex: []string{`<F-USER>x <HOST>`}}, "failregex", 0, nil},
		{"bad ignoreregex", match.Rules{Failregex: []string{`<HOST>`}, Ignoreregex: []string{`[`}}, "ignoreregex", 0, nil},
		{"bad prefregex", match.Rules{Prefregex: `(`, Failregex: []string{`<HOST>`}}, "prefregex", 0, nil},
		{"bad datepattern", match.Rules{Failregex: []string{`<HOST>`}, Datepattern: `%Q`}, "datepattern", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile("p", tc.rules)
			var re *match.RegexError
			if !errors.As(err, &re) {
				t.Fatalf("want a *RegexError, got %v", err)
			}
			if re.List != tc.list || re.Index != tc.index {
				t.Errorf("error at %s[%d], want %s[%d]: %v", re.List, re.Index, tc.list, tc.index, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("want %v, got %v", tc.is, err)
			}
		})
	}
}

// The miss path allocates nothing: most lines of a log are misses.
func TestMissDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector (sync.Pool drops items)")
	}
	m, err := Compile("p", match.Rules{
		Prefregex: `^(?:\S+ )?sshd\[\d+\]: <F-CONTENT>.+</F-CONTENT>$`,
		Failregex: []string{`^Failed password for .* from <HOST> port \d+`},
		Location:  time.UTC,
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := []string{
		"Nov 25 07:13:18 host CRON[1]: session opened for user root",
		"2026-11-25T07:13:18.5+01:00 host kernel: something " + strings.Repeat("x", 200),
		"no date at all",
		"Nov 25 07:13:18 host sshd[7]: Failed password for bob from 192.0.2.1 port twenty", // runs the regexes
	}
	for _, l := range lines {
		e := ingest.Entry{Message: l, ReadAt: now}
		if n := testing.AllocsPerRun(100, func() { m.Match(&e, now) }); n != 0 {
			t.Errorf("%q: %.1f allocs per miss", l, n)
		}
	}
}

func TestReport(t *testing.T) {
	m, err := Compile("p", match.Rules{Failregex: []string{`^denied <HOST>( user <F-USER>\S+</F-USER>)?$`}, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	log := "Nov 25 07:00:00 denied 192.0.2.1 user bob\nNov 25 07:00:01 hello\n\xff\xfe denied 192.0.2.2\ndenied 2001:db8::1\n"
	rep, err := match.Test(func() (match.Matcher, error) { return m, nil }, strings.NewReader(log), now, match.TestOptions{KeepFailures: true, KeepMissed: true}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lines != 4 || rep.Matched != 2 || rep.Missed != 2 || len(rep.MissedLines) != 2 {
		t.Fatalf("report %+v", rep)
	}
	if f := rep.Failures[0]; f.Line != 1 || f.Addr != "192.0.2.1" || f.User == nil || *f.User != "bob" || !f.Time.Equal(time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)) {
		t.Errorf("failure %+v", f)
	}
	if f := rep.Failures[1]; f.Line != 4 || f.Addr != "2001:db8::1" || !f.Time.Equal(now) {
		t.Errorf("failure %+v", f)
	}
	if rep.Regexes[0].Hits != 2 || rep.Regexes[0].Engine != "re2" || rep.Dates["syslog"] != 2 {
		t.Errorf("regexes %+v dates %v", rep.Regexes, rep.Dates)
	}
}

func TestFields(t *testing.T) {
	m, err := Compile("p", match.Rules{Failregex: []string{`^<F-ERROR>\w+</F-ERROR> from <HOST>( port <F-PORT>\d+</F-PORT>)?$`}, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	e := ingest.Entry{Message: "timeout from 192.0.2.1", ReadAt: now}
	f, out := m.Match(&e, now)
	if out != match.Matched || len(f.Fields) != 1 || f.Fields["error"] != "timeout" || f.ID != "192.0.2.1" || f.Attempts != 1 {
		t.Fatalf("%v %+v", out, f)
	}
	if got := m.Engines(); len(got) != 1 || got[0] != "re2" || m.Dialect() != match.DialectLogjail {
		t.Errorf("engines %v dialect %v", got, m.Dialect())
	}
}

// DateHits counts every dated line by format, however the formats
// alternate and whenever it is read.
func TestDateHits(t *testing.T) {
	m, err := Compile("p", match.Rules{Failregex: []string{`^denied <HOST>$`}, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{}
	for i, l := range []string{"Nov 25 07:00:00 a", "2026-11-25T07:00:00Z b", "Nov 25 07:00:01 c", "Nov 25 07:00:02 d", "no date", "2026-11-25T07:00:03Z e"} {
		e := ingest.Entry{Message: l, ReadAt: now}
		m.Match(&e, now)
		switch {
		case strings.HasPrefix(l, "Nov"):
			want["syslog"]++
		case strings.HasPrefix(l, "2026"):
			want["rfc3339"]++
		}
		if i%3 != 2 {
			continue // read now and then: counts pend between reads
		}
		if got := m.DateHits(); !maps.Equal(got, want) {
			t.Errorf("after line %d: %v, want %v", i, got, want)
		}
	}
	if got := m.DateHits(); !maps.Equal(got, want) {
		t.Errorf("%v, want %v", got, want)
	}
}
