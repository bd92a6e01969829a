package matcher

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/match"
)

// f2bNow is the "now" of the fail2ban dialect tests: 2005-08-14 10:00 UTC.
var f2bNow = time.Unix(1124013600, 0).UTC()

func compileF2BTest(t testing.TB, r match.Rules) *Matcher {
	t.Helper()
	r.Dialect = match.DialectFail2ban
	if r.Location == nil {
		r.Location = time.UTC
	}
	m, err := Compile("p", r)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestFail2banTags(t *testing.T) {
	for _, tc := range []struct {
		name      string
		failregex string
		line      string
		want      match.Outcome
		id, addr  string
		fields    map[string]string
	}{
		{"host v4", `^fail from <HOST>$`, "fail from 192.0.2.1", match.Matched, "192.0.2.1", "192.0.2.1", nil},
		{"host mapped v4", `^fail from <HOST>$`, "fail from ::ffff:192.0.2.1", match.Matched, "192.0.2.1", "192.0.2.1", nil},
		{"host v6", `^fail from <HOST> port \d+$`, "fail from 2001:db8::1 port 22", match.Matched, "2001:db8::1", "2001:db8::1", nil},
		{"host bracketed v6", `^fail from <HOST>:\d+$`, "fail from [2001:db8::1]:22", match.Matched, "2001:db8::1", "2001:db8::1", nil},
		{"host name", `^fail from <HOST>$`, "fail from bad.example.org", match.NoAddress, "bad.example.org", "", map[string]string{"dns": "bad.example.org"}},
		{"addr has no names", `^fail from <ADDR>$`, "fail from bad.example.org", match.Miss, "", "", nil},
		{"invalid v4", `^fail from <ADDR>$`, "fail from 999.1.1.1", match.BadAddress, "999.1.1.1", "", nil},
		{"f-id alone", `^session <F-ID/> failed$`, "session abc123 failed", match.NoAddress, "abc123", "", map[string]string{"fid": "abc123"}},
		{"f-id wins over the address", `^session <F-ID>\w+</F-ID> from <ADDR>$`, "session abc from 192.0.2.1", match.Matched, "abc", "192.0.2.1", nil},
		{"ip4 tag", `^x <IP4>$`, "x 192.0.2.1", match.Matched, "192.0.2.1", "192.0.2.1", nil},
		{"ip6 tag", `^x <IP6>$`, "x 2001:db8::2", match.Matched, "2001:db8::2", "2001:db8::2", nil},
		{"subnet", `^x <SUBNET>$`, "x 192.0.2.0/24", match.Matched, "192.0.2.0", "192.0.2.0", map[string]string{"cidr": "24"}},
		{"user and alt user", `^x (?:user=<F-USER>\S*</F-USER> )?ruser=<F-ALT_USER>\S*</F-ALT_USER> <HOST>$`, "x ruser=bob 192.0.2.1", match.Matched, "192.0.2.1", "192.0.2.1", map[string]string{"user": "bob"}},
		{"user wins over alt user", `^x user=<F-USER>\S*</F-USER> ruser=<F-ALT_USER>\S*</F-ALT_USER> <HOST>$`, "x user=ann ruser=bob 192.0.2.1", match.Matched, "192.0.2.1", "192.0.2.1", map[string]string{"user": "ann"}},
		{"custom field", `^<F-ERROR>\w+</F-ERROR> from <HOST>$`, "timeout from 192.0.2.1", match.Matched, "192.0.2.1", "192.0.2.1", map[string]string{"error": "timeout"}},
		{"unopened closing tag is text", `^a</F-X> <HOST>$`, "a</F-X> 192.0.2.1", match.Matched, "192.0.2.1", "192.0.2.1", nil},
		{"python {,n}", `^x\d{,3} <HOST>$`, "x12 192.0.2.1", match.Matched, "192.0.2.1", "192.0.2.1", nil},
		{"dollar before the final newline", `^x <HOST>\s*$`, "x 192.0.2.1", match.Matched, "192.0.2.1", "192.0.2.1", nil},
		{"look-ahead (regexp2)", `^x (?!bad)\w+ <HOST>$`, "x good 192.0.2.1", match.Matched, "192.0.2.1", "192.0.2.1", nil},
		{"look-ahead refuses", `^x (?!bad)\w+ <HOST>$`, "x bad 192.0.2.1", match.Miss, "", "", nil},
		{"back-reference", `^(?P<q>['"])<F-USER>\w+</F-USER>(?P=q) <HOST>$`, `"bob" 192.0.2.1`, match.Matched, "192.0.2.1", "192.0.2.1", map[string]string{"user": "bob"}},
		{"nofail", `^<F-NOFAIL>ok</F-NOFAIL> <HOST>$`, "ok 192.0.2.1", match.NoFail, "", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := compileF2BTest(t, match.Rules{Failregex: []string{tc.failregex}})
			e := ingest.Entry{Message: tc.line, ReadAt: f2bNow}
			f, out := m.Match(&e, f2bNow)
			if out != tc.want {
				t.Fatalf("outcome %v, want %v (%+v)", out, tc.want, f)
			}
			if out == match.Miss || out == match.NoFail {
				return
			}
			if f.ID != tc.id {
				t.Errorf("id %q, want %q", f.ID, tc.id)
			}
			if tc.addr != "" && f.Addr != netip.MustParseAddr(tc.addr) {
				t.Errorf("addr %v, want %s", f.Addr, tc.addr)
			}
			if tc.addr == "" && f.Addr.IsValid() {
				t.Errorf("addr %v, want none", f.Addr)
			}
			for k, v := range tc.fields {
				if got, ok := f.Fields[k]; !ok || got != v {
					t.Errorf("field %s = %q (%v), want %q", k, got, ok, v)
				}
			}
			if f.User != f.Fields["user"] || f.Attempts != 1 || f.Line != tc.line {
				t.Errorf("failure %+v", f)
			}
		})
	}
}

func TestFail2banCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules match.Rules
		list  string
		is    error
	}{
		{"no failure id", match.Rules{Failregex: []string{`^x \S+$`}}, "failregex", match.ErrNoAddress},
		{"python error", match.Rules{Failregex: []string{`<HOST> a{3,1}`}}, "failregex", nil},
		{"misplaced global flags", match.Rules{Failregex: []string{`^x(?i) <HOST>`}}, "failregex", nil},
		{"bad ignoreregex", match.Rules{Failregex: []string{`<HOST>`}, Ignoreregex: []string{`[`}}, "ignoreregex", nil},
		{"bad datepattern", match.Rules{Failregex: []string{`<HOST>`}, Datepattern: `%Q`}, "datepattern", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.rules.Dialect = match.DialectFail2ban
			_, err := Compile("p", tc.rules)
			var re *match.RegexError
			if !errors.As(err, &re) || re.List != tc.list {
				t.Fatalf("want a %s error, got %v", tc.list, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("want %v, got %v", tc.is, err)
			}
		})
	}
	// An id from the prefregex's <F-MLFID> is enough.
	if _, err := Compile("p", match.Rules{Dialect: match.DialectFail2ban, Prefregex: `^<F-MLFID>\S+</F-MLFID> <F-CONTENT>.+</F-CONTENT>$`, Failregex: []string{`^closed$`}}); err != nil {
		t.Error(err)
	}
	// fail2ban's own fix for ((?i)…): the flags become local.
	if _, err := Compile("p", match.Rules{Dialect: match.DialectFail2ban, Failregex: []string{`^x ((?i)abc) <HOST>`}}); err != nil {
		t.Error(err)
	}
}

func TestFail2banDates(t *testing.T) {
	zone := time.FixedZone("CET", 3600)
	t.Run("date cut out of the line", func(t *testing.T) {
		m := compileF2BTest(t, match.Rules{Failregex: []string{`^<HOST> - - \[\] "GET /x" 401$`}, Location: zone})
		e := ingest.Entry{Message: `192.0.2.1 - - [14/Aug/2005:09:00:00 +0000] "GET /x" 401`}
		f, out := m.Match(&e, f2bNow)
		if out != match.Matched || !f.Time.Equal(time.Date(2005, 8, 14, 9, 0, 0, 0, time.UTC)) {
			t.Fatalf("%v %v", out, f.Time)
		}
	})
	t.Run("datepattern, year-less date of last year", func(t *testing.T) {
		m := compileF2BTest(t, match.Rules{Failregex: []string{`^ x <HOST>$`}, Datepattern: `{^LN-BEG}`, Location: zone})
		e := ingest.Entry{Message: `Aug 16 11:00:00 x 192.0.2.1`}
		f, out := m.Match(&e, f2bNow)
		if out != match.Matched || !f.Time.Equal(time.Date(2004, 8, 16, 11, 0, 0, 0, zone)) {
			t.Fatalf("%v %v", out, f.Time)
		}
	})
	t.Run("a source time skips date parsing", func(t *testing.T) {
		m := compileF2BTest(t, match.Rules{Failregex: []string{`^Aug 14 09:00:00 x <HOST>$`}, Location: zone})
		at := f2bNow.Add(-time.Hour)
		e := ingest.Entry{Message: `Aug 14 09:00:00 x 192.0.2.1`, Time: at}
		f, out := m.Match(&e, f2bNow)
		if out != match.Matched || !f.Time.Equal(at) {
			t.Fatalf("%v %v", out, f.Time)
		}
	})
	t.Run("a line without a date", func(t *testing.T) {
		m := compileF2BTest(t, match.Rules{Failregex: []string{`x <HOST>$`}, Location: time.UTC})
		readAt := f2bNow.Add(-time.Minute)
		// The last date is recent (less than 60 s before now): it is reused.
		e := ingest.Entry{Message: `2005-08-14 09:59:30 y`, ReadAt: readAt}
		m.Match(&e, f2bNow)
		e = ingest.Entry{Message: `x 192.0.2.1`, ReadAt: readAt}
		if f, out := m.Match(&e, f2bNow); out != match.Matched || !f.Time.Equal(f2bNow.Add(-30*time.Second)) {
			t.Fatalf("%v %v", out, f.Time)
		}
		// An old last date is not: the read time is.
		e = ingest.Entry{Message: `2005-08-14 09:58:00 y`, ReadAt: readAt}
		m.Match(&e, f2bNow)
		e = ingest.Entry{Message: `x 192.0.2.1`, ReadAt: readAt}
		if f, out := m.Match(&e, f2bNow); out != match.Matched || !f.Time.Equal(readAt) {
			t.Fatalf("%v %v", out, f.Time)
		}
	})
	t.Run("{NONE}", func(t *testing.T) {
		m := compileF2BTest(t, match.Rules{Failregex: []string{`^Aug 14 09:00:00 x <HOST>$`}, Datepattern: "{NONE}"})
		e := ingest.Entry{Message: `Aug 14 09:00:00 x 192.0.2.1`, ReadAt: f2bNow}
		if f, out := m.Match(&e, f2bNow); out != match.Matched || !f.Time.Equal(f2bNow) {
			t.Fatalf("%v %v", out, f.Time)
		}
	})
}

func TestFail2banPrefregexAndIgnore(t *testing.T) {
	pref := `^\S+ app\[\d+\]: <F-CONTENT>.+</F-CONTENT>$`
	for _, tc := range []struct {
		name  string
		rules match.Rules
		line  string
		want  match.Outcome
	}{
		{"content", match.Rules{Prefregex: pref, Failregex: []string{`^denied <HOST>$`}}, "h app[1]: denied 192.0.2.1", match.Matched},
		{"prefregex misses", match.Rules{Prefregex: pref, Failregex: []string{`denied <HOST>$`}}, "h other[1]: denied 192.0.2.1", match.Miss},
		{"ignoreregex after the failregex", match.Rules{Prefregex: pref, Failregex: []string{`^denied <HOST>$`}, Ignoreregex: []string{`^denied 192\.0\.2\.1`}}, "h app[1]: denied 192.0.2.1", match.Ignored},
		{"ignoreregex first, on the whole line", match.Rules{Prefregex: pref, Failregex: []string{`^a`, `^b`, `^c`, `^denied <HOST>$`}, Ignoreregex: []string{`^h app`}}, "h app[1]: denied 192.0.2.1", match.Ignored},
		{"first failregex decides", match.Rules{Failregex: []string{`^denied <HOST>$`, `^<F-NOFAIL>denied</F-NOFAIL> <HOST>$`}}, "denied 192.0.2.1", match.Matched},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range tc.rules.Failregex {
				if !strings.Contains(tc.rules.Failregex[i], "<HOST>") {
					tc.rules.Failregex[i] += ` <HOST>`
				}
			}
			m := compileF2BTest(t, tc.rules)
			e := ingest.Entry{Message: tc.line, ReadAt: f2bNow}
			if _, out := m.Match(&e, f2bNow); out != tc.want {
				t.Fatalf("outcome %v, want %v", out, tc.want)
			}
		})
	}
}

func TestFail2banMultiLine(t *testing.T) {
	m := compileF2BTest(t, match.Rules{
		MaxLines:  3,
		Failregex: []string{`^conn (?P<c>\d+) from <HOST><SKIPLINES>^conn (?P=c) auth failed$`},
	})
	run := func(line string) (match.Failure, match.Outcome) {
		e := ingest.Entry{Message: line, ReadAt: f2bNow}
		return m.Match(&e, f2bNow)
	}
	for _, l := range []string{"conn 7 from 192.0.2.7", "conn 8 from 192.0.2.8"} {
		if _, out := run(l); out != match.Miss {
			t.Fatalf("%q: %v", l, out)
		}
	}
	f, out := run("conn 7 auth failed")
	if out != match.Matched || f.Addr != netip.MustParseAddr("192.0.2.7") || f.Attempts != 2 {
		t.Fatalf("%v %+v", out, f)
	}
	// The skipped line stays in the buffer, the matched ones left it.
	f, out = run("conn 8 auth failed")
	if out != match.Matched || f.Addr != netip.MustParseAddr("192.0.2.8") {
		t.Fatalf("%v %+v", out, f)
	}
	if _, out := run("conn 7 auth failed"); out != match.Miss {
		t.Fatalf("a used line matched again: %v", out)
	}
	if got := m.Engines(); !slices.Equal(got, []string{"regexp2"}) {
		t.Errorf("engines %v", got)
	}
}

// Connection tracking: an earlier line of the connection gives the address
// to a failure that has none; a success forgets the connection.
func TestFail2banMLFID(t *testing.T) {
	m := compileF2BTest(t, match.Rules{
		Prefregex: `^<F-MLFID>srv sshd\[\d+\]:</F-MLFID> <F-CONTENT>.+</F-CONTENT>$`,
		Failregex: []string{
			`^<F-NOFAIL>Connection from</F-NOFAIL> <HOST>`,
			`^Failed password for <F-USER>\S+</F-USER>$`,
			`^<F-MLFFORGET><F-MLFGAINED>Accepted password</F-MLFGAINED></F-MLFFORGET> for <F-USER>\S+</F-USER>$`,
			`^<F-MLFFORGET>Connection closed</F-MLFFORGET>$`,
		},
	})
	run := func(line string) (match.Failure, match.Outcome) {
		e := ingest.Entry{Message: line, ReadAt: f2bNow}
		return m.Match(&e, f2bNow)
	}
	steps := []struct {
		line  string
		want  match.Outcome
		addr  string
		user  string
		users []string
		n     int
	}{
		{"srv sshd[1]: Failed password for root", match.NoFail, "", "", nil, 0}, // no address yet: pending
		{"srv sshd[1]: Connection from 192.0.2.1 port 22", match.Matched, "192.0.2.1", "root", []string{"root"}, 2},
		{"srv sshd[1]: Failed password for admin", match.Matched, "192.0.2.1", "admin", []string{"admin", "root"}, 1},
		{"srv sshd[1]: Connection closed", match.Matched, "192.0.2.1", "admin", []string{"admin", "root"}, 1},
		{"srv sshd[2]: Connection from 192.0.2.2 port 22", match.NoFail, "", "", nil, 0},
		{"srv sshd[2]: Accepted password for bob", match.NoFail, "", "", nil, 0},
		{"srv sshd[2]: Failed password for bob", match.Miss, "", "", nil, 0}, // forgotten: no address
	}
	for i, s := range steps {
		f, out := run(s.line)
		if s.want == match.Miss && out == match.NoFail {
			out = match.Miss // a pending line of an unknown connection
		}
		if out != s.want {
			t.Fatalf("step %d %q: %v, want %v (%+v)", i, s.line, out, s.want, f)
		}
		if out != match.Matched {
			continue
		}
		if f.Addr != netip.MustParseAddr(s.addr) || f.User != s.user || !slices.Equal(f.Users, s.users) || f.Attempts != s.n {
			t.Errorf("step %d %q: %+v", i, s.line, f)
		}
	}
}

// A regex that backtracks without end (a look-ahead, which needs the
// backtracking engine, and nested quantifiers) is cut at its limit: the
// line's outcome is Timeout, not Miss, and the timeout is counted and
// named. The durations are not asserted (BenchmarkTimeout reports them).
func TestFail2banTimeout(t *testing.T) {
	const slow = `^(?=x)(x+x+)+y <HOST>$`
	crafted := strings.Repeat("x", 60) + " 192.0.2.1"
	cases := []struct {
		name     string
		rules    match.Rules
		line     string
		want     match.Outcome
		timeouts uint64
		perRegex []uint64
		site     string
		wantAddr string
	}{
		{"failregex", match.Rules{Failregex: []string{slow}}, crafted, match.Timeout, 1, []uint64{1}, "failregex[0]", ""},
		{"a later failregex still matches", match.Rules{Failregex: []string{slow, `(?P<x>x+) <HOST>$`}}, crafted, match.Matched, 1, []uint64{1, 0}, "failregex[0]", "192.0.2.1"},
		{"prefregex", match.Rules{Prefregex: `^(?=x)(x+x+)+y <F-CONTENT>.+</F-CONTENT>$`, Failregex: []string{`<HOST>`}}, crafted, match.Timeout, 1, []uint64{0}, "prefregex", ""},
		{"ignoreregex: the failure counts", match.Rules{Failregex: []string{`x <HOST>$`}, Ignoreregex: []string{slow}}, crafted, match.Matched, 1, []uint64{0}, "ignoreregex[0]", "192.0.2.1"},
		{"a line that ends the search at once", match.Rules{Failregex: []string{slow}}, "y 192.0.2.1", match.Miss, 0, []uint64{0}, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.rules.Timeout = 20 * time.Millisecond
			m := compileF2BTest(t, tc.rules)
			e := ingest.Entry{Message: tc.line, ReadAt: f2bNow}
			f, out := m.Match(&e, f2bNow)
			if out != tc.want {
				t.Fatalf("outcome %v, want %v", out, tc.want)
			}
			if tc.wantAddr != "" && f.Addr.String() != tc.wantAddr {
				t.Errorf("address %v, want %s", f.Addr, tc.wantAddr)
			}
			if m.Timeouts() != tc.timeouts {
				t.Errorf("timeouts %d, want %d", m.Timeouts(), tc.timeouts)
			}
			if got := m.RegexTimeouts(); !slices.Equal(got, tc.perRegex) {
				t.Errorf("per failregex %v, want %v", got, tc.perRegex)
			}
			if tc.site != "" && m.LastTimeout().String() != tc.site {
				t.Errorf("last timeout %q, want %q", m.LastTimeout(), tc.site)
			}
		})
	}
}

// logjail test's report counts timed-out lines apart from missed ones.
func TestFail2banReportTimeouts(t *testing.T) {
	build := func() (match.Matcher, error) {
		return Compile("p", match.Rules{Dialect: match.DialectFail2ban, Failregex: []string{`^(?=x)(x+x+)+y <HOST>$`}, Timeout: 20 * time.Millisecond, Location: time.UTC})
	}
	log := "nothing here\n" + strings.Repeat("x", 60) + " 192.0.2.1\nxxy 192.0.2.2\n"
	rep, err := match.Test(build, strings.NewReader(log), f2bNow, match.TestOptions{KeepFailures: true}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Missed != 1 || rep.TimedOut != 1 || rep.Matched != 1 || rep.Timeouts != 1 || rep.Regexes[0].Timeouts != 1 {
		t.Errorf("missed %d timed out %d matched %d timeouts %d (regex %d)", rep.Missed, rep.TimedOut, rep.Matched, rep.Timeouts, rep.Regexes[0].Timeouts)
	}
	if len(rep.TimeoutLines) != 1 || rep.TimeoutLines[0].Line != 2 {
		t.Errorf("timeout lines %+v", rep.TimeoutLines)
	}
}

func TestFail2banReport(t *testing.T) {
	// fail2ban cuts the date only: the blank after it stays.
	m := compileF2BTest(t, match.Rules{Failregex: []string{`^\s*fail <F-USER>\w+</F-USER> from <HOST>$`, `^\s*(?!ok)\w+ <HOST>$`}})
	log := "2005-08-14 09:00:00 fail bob from 192.0.2.1\n2005-08-14 09:00:01 fail ann from bad.example.org\n2005-08-14 09:00:02 nope 192.0.2.3\nok 192.0.2.4\n"
	rep, err := match.Test(func() (match.Matcher, error) { return m, nil }, strings.NewReader(log), f2bNow, match.TestOptions{KeepFailures: true}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lines != 4 || rep.Matched != 3 || rep.NoAddress != 1 || rep.Missed != 1 {
		t.Fatalf("report %+v", rep)
	}
	if f := rep.Failures[1]; f.Addr != "bad.example.org" || f.User == nil || *f.User != "ann" {
		t.Errorf("failure %+v", f)
	}
	if rep.Regexes[0].Engine != "re2" || rep.Regexes[1].Engine != "regexp2" || rep.Regexes[0].Hits != 2 {
		t.Errorf("regexes %+v", rep.Regexes)
	}
}

// The fail2ban dialect's miss path: a line that no prefregex accepts costs
// no allocation beyond its date (one for the date's match positions).
func TestFail2banMissAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	m := compileF2BTest(t, match.Rules{
		Prefregex:   `^(?:\S+ )?sshd\[\d+\]: <F-CONTENT>.+</F-CONTENT>$`,
		Failregex:   []string{`^Failed password for <F-USER>.*</F-USER> from <HOST> port \d+`},
		Datepattern: "{^LN-BEG}",
	})
	for _, c := range []struct {
		line string
		max  float64
	}{
		{"host CRON[1]: session opened for user root", 0},
		{"Aug 14 09:00:00 host CRON[1]: session opened for user root", 1},
	} {
		e := ingest.Entry{Message: c.line, ReadAt: f2bNow}
		if n := testing.AllocsPerRun(100, func() { m.Match(&e, f2bNow) }); n > c.max {
			t.Errorf("%q: %.1f allocs per miss, want at most %.0f", c.line, n, c.max)
		}
	}
}

// A failure's match positions are Scan's buffers, reused from line to
// line: a failure costs its groups (their map and its table, and one
// copy of the text their values share), nothing per search.
func TestFail2banFailureAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	m := compileF2BTest(t, match.Rules{
		Prefregex:   `^\s*(?:\S+ )?sshd\[\d+\]: <F-CONTENT>.+</F-CONTENT>$`,
		Failregex:   []string{`^Failed password for <F-USER>.*</F-USER> from <HOST> port \d+`},
		Datepattern: "{^LN-BEG}",
	})
	e := ingest.Entry{Message: "Aug 14 09:00:00 host sshd[1]: Failed password for root from 192.0.2.1 port 22", ReadAt: f2bNow}
	if _, out := m.Match(&e, f2bNow); out != match.Matched {
		t.Fatalf("outcome %v", out)
	}
	if n := testing.AllocsPerRun(100, func() { m.Match(&e, f2bNow) }); n > 3 {
		t.Errorf("%.1f allocs per failure, want at most 3", n)
	}
}
