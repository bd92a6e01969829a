package fastdate

import (
	"strings"
	"testing"
	"time"
)

// patternCases are TestPattern's: a datepattern, a line with the date
// marked «…» ("" when no date must be found), and its time.
var patternCases = []struct {
	pattern string
	marked  string
	want    time.Time
}{
	{"%Y-%m-%d %H:%M:%S", "x «2026-11-25 07:13:18» y", d(2026, 11, 25, 7, 13, 18, 0, time.UTC)},
	{"%Y-%m-%d %H:%M:%S", "«2026-11-25 07:13:18»", d(2026, 11, 25, 7, 13, 18, 0, time.UTC)},
	{"%Y-%m-%d %H:%M:%S", "12026-11-25 07:13:18", time.Time{}},
	{"%Y-%m-%d %H:%M:%S", "2026-11-25 07:13:189", time.Time{}},
	{"%Y-%m-%d %H:%M:%S", "2026-11-31 07:13:18", time.Time{}},
	{"%Y-%m-%d %H:%M:%S", "2026-13-01 07:13:18 «2026-12-01 07:13:18»", d(2026, 12, 1, 7, 13, 18, 0, time.UTC)},
	{"%Y-%m-%d %H:%M:%S,%f", "«2026-11-25 07:13:18,123» INFO", d(2026, 11, 25, 7, 13, 18, 123000000, time.UTC)},
	{"%Y-%m-%dT%H:%M:%S.%f%z", "«2026-11-25T07:13:18.5+01:00»", d(2026, 11, 25, 7, 13, 18, 500000000, plus1)},
	{"%Y-%m-%dT%H:%M:%S%z", "«2026-11-25T07:13:18Z»", d(2026, 11, 25, 7, 13, 18, 0, time.UTC)},
	{"%Y-%m-%d %H:%M:%S %Z", "«2026-11-25 07:13:18 GMT»", d(2026, 11, 25, 7, 13, 18, 0, time.UTC)},
	{"^%b %d %H:%M:%S", "«Nov  5 07:13:18» host", d(2026, 11, 5, 7, 13, 18, 0, time.UTC)},
	{"^%b %d %H:%M:%S", "«Nov 27 07:13:18» host", d(2025, 11, 27, 7, 13, 18, 0, time.UTC)},
	{"^%b %d %H:%M:%S", "x Nov 25 07:13:18 host", time.Time{}},
	{"%b %d %H:%M:%S", "x «Nov 25 07:13:18» host", d(2026, 11, 25, 7, 13, 18, 0, time.UTC)},
	{"%B %e, %Y %I:%M:%S %p", "«November 25, 2026 7:13:18 PM» x", d(2026, 11, 25, 19, 13, 18, 0, time.UTC)},
	{"%B %e, %Y %I:%M:%S %p", "«November 25, 2026 12:13:18 am» x", d(2026, 11, 25, 0, 13, 18, 0, time.UTC)},
	{"%a %b %d %T %Y", "«Wed Nov 25 07:13:18 2026»", d(2026, 11, 25, 7, 13, 18, 0, time.UTC)},
	{"{^LN-BEG}%d/%b/%Y:%H:%M:%S %z", "[«25/Nov/2026:07:13:18 +0100»] x", d(2026, 11, 25, 7, 13, 18, 0, plus1)},
	{"{^LN-BEG}%d/%b/%Y:%H:%M:%S %z", "  «25/Nov/2026:07:13:18 +0100»", d(2026, 11, 25, 7, 13, 18, 0, plus1)},
	{"{^LN-BEG}%d/%b/%Y:%H:%M:%S %z", "1.2.3.4 [25/Nov/2026:07:13:18 +0100]", time.Time{}},
	{`\[%d/%b/%Y:%H:%M:%S %z\]`, "1.2.3.4 «[25/Nov/2026:07:13:18 +0000]» x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC)},
	{"^%m/%d/%Y %H:%M:%S", "«11/25/2026 07:13:18» x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC)},
	{"^%d.%m.%y %H:%M", "«25.11.26 07:13» x", d(2026, 11, 25, 7, 13, 0, 0, time.UTC)},
	{"%y%m%d %H:%M:%S", "«261125  7:13:18» mysqld", d(2026, 11, 25, 7, 13, 18, 0, time.UTC)},
	{"%Y.%j %H:%M", "«2024.366 10:00»", d(2024, 12, 31, 10, 0, 0, 0, time.UTC)},
	{"%Y.%j %H:%M", "2025.366 10:00", time.Time{}},
	{"%j %H:%M", "«059 10:00»", d(2026, 2, 28, 10, 0, 0, 0, time.UTC)},
	{"%s", "«1732519998» x", time.Unix(1732519998, 0)},
	{"%s", "«1732519998.25» x", time.Unix(1732519998, 250000000)},
	{"%s.%f", "«1732519998.25» x", time.Unix(1732519998, 250000000)},
	{`audit\(%s`, "msg=«audit(1732519998.1»:2)", time.Unix(1732519998, 100000000)},
	{"%H:%M:%S", "at «07:13:18» x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC)},
	{"%H:%M:%S", "at «12:00:00» x", d(2026, 11, 25, 12, 0, 0, 0, time.UTC)},  // now: today's
	{"%H:%M:%S", "at «12:00:01» x", d(2026, 11, 24, 12, 0, 1, 0, time.UTC)},  // later: yesterday's
	{"%H:%M:%S", "at «23:59:00» x", d(2026, 11, 24, 23, 59, 0, 0, time.UTC)}, // as fail2ban
	{"%Y-%m", "«2026-11» x", d(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
	{"100%% %Y%m%d", "«100% 20261125» x", d(2026, 11, 25, 0, 0, 0, 0, time.UTC)},
	{"%ExY-%m-%d %ExH:%M", "«2026-11-25 07:13»", d(2026, 11, 25, 7, 13, 0, 0, time.UTC)},
	{"{UNB}%Y%m%d", "id«20261125»x", d(2026, 11, 25, 0, 0, 0, 0, time.UTC)},
	{"%Y%m%d", "id20261125x", time.Time{}},
	{"Epoch", "«1732519998.5» x", time.Unix(1732519998, 500000000)},
	{"Epoch", "2026-11-25T07:13:18Z", time.Time{}},
	{"ISO8601", "Nov 25 07:13:18 «2026-11-25T07:13:18Z»", d(2026, 11, 25, 7, 13, 18, 0, time.UTC)},
	{"^ISO8601", "x 2026-11-25T07:13:18Z", time.Time{}},
	{"TAI64N", "«@4000000069255fa81d0b1234» x", time.Unix(0x69255fa8-10, 0x1d0b1234)},
	// %Z: the abbreviations fail2ban knows set their offset.
	{"%Z %b %d %H:%M:%S", "[«PDT Apr 16 21:05:29»]", d(2026, 4, 16, 21, 5, 29, 0, time.FixedZone("", -7*3600))},
	{"%Y-%m-%d %H:%M:%S %Z", "«2026-11-25 07:13:18 CEST»", d(2026, 11, 25, 7, 13, 18, 0, time.FixedZone("", 2*3600))},
	{"%Y-%m-%d %H:%M:%S %Z", "«2026-11-25 07:13:18 UT»", d(2026, 11, 25, 7, 13, 18, 0, time.UTC)},
	{"%Y-%m-%d %H:%M:%S %Z", "«2026-11-25 07:13:18 FOO»", d(2026, 11, 25, 7, 13, 18, 0, time.UTC)},
	// A month abbreviation may end with a dot, unless the pattern has one.
	{"%d/%b/%Y:%H:%M:%S %z", "[«02/sept./2015:00:11:31 +0200»]", d(2015, 9, 2, 0, 11, 31, 0, time.FixedZone("", 2*3600))},
	{"%d/%b/%Y:%H:%M:%S %z", "[«17/oct./2015:00:35:12 +0200»]", d(2015, 10, 17, 0, 35, 12, 0, time.FixedZone("", 2*3600))},
	{"%d %b. %Y %H:%M", "«2 sept. 2015 00:11»", d(2015, 9, 2, 0, 11, 0, 0, time.UTC)},
	{"%d/%b/%Y:%H:%M:%S", "02/sept../2015:00:11:31", time.Time{}},
	// Several lines: alternatives; the date starting first wins, on a
	// tie the one listed first.
	{"^%Y/%m/%d %H:%M:%S\n^%b %d %H:%M:%S\n%d/%b/%Y:%H:%M:%S %z", `1.2.3.4 - Nov 25 2001 [«25/Nov/2026:07:13:18 +0100»] "GET /"`, d(2026, 11, 25, 7, 13, 18, 0, plus1)},
	{"^%Y/%m/%d %H:%M:%S\n^%b %d %H:%M:%S\n%d/%b/%Y:%H:%M:%S %z", `«2026/11/25 07:13:18» [error] open() "/25/Nov/2001:00:00:00 +0000"`, d(2026, 11, 25, 7, 13, 18, 0, time.UTC)},
	{"^%Y/%m/%d %H:%M:%S\n^%b %d %H:%M:%S\n%d/%b/%Y:%H:%M:%S %z", `«Nov 25 07:13:18» web nginx: 1.2.3.4 - - [25/Nov/2001:07:13:18 +0100] "GET /"`, d(2026, 11, 25, 7, 13, 18, 0, time.UTC)},
	{"%d/%b/%Y:%H:%M:%S %z\n%b %d %H:%M:%S", `«Nov 25 07:13:18» x [25/Nov/2001:07:13:18 +0100]`, d(2026, 11, 25, 7, 13, 18, 0, time.UTC)},
	{"%d-%m-%Y %H:%M:%S\nISO8601", "[1:2-3] «22-06-2014 09:56:12»   smtp: 01-01-2001 00:00:00 [1.2.3.4]", d(2014, 6, 22, 9, 56, 12, 0, time.UTC)},
	{"%d-%m-%Y %H:%M:%S\nISO8601", "«2016-11-07 22:21:20»   x 01-01-2001 00:00:00", d(2016, 11, 7, 22, 21, 20, 0, time.UTC)},
	{"%H:%M:%S\n%Y-%m-%d %H:%M:%S", "«2016-11-07 22:21:20» x", d(2016, 11, 7, 22, 21, 20, 0, time.UTC)},
	{"%Y-%m-%d %H:%M:%S\n%H:%M:%S", "«2016-11-07 22:21:20» x", d(2016, 11, 7, 22, 21, 20, 0, time.UTC)},
	{"\n^%Y-%m-%d\n\n", "«2016-11-07» x", d(2016, 11, 7, 0, 0, 0, 0, time.UTC)},
	{"^%Y-%m-%d\n^%b %d %H:%M:%S", "x 2016-11-07 Nov 25 07:13:18", time.Time{}},
}

func TestPattern(t *testing.T) {
	cases := patternCases
	for _, c := range cases {
		f, err := NewPatternFinder(c.pattern, time.UTC)
		if err != nil {
			t.Errorf("%q: %v", c.pattern, err)
			continue
		}
		line, ws, we := c.marked, 0, 0
		if strings.Contains(line, "«") {
			line, ws, we = span(c.marked)
		}
		got, s, e, ok := f.Find(line, now)
		if c.want.IsZero() {
			if ok {
				t.Errorf("%q on %q: unexpected %v [%d,%d)", c.pattern, line, got, s, e)
			}
			continue
		}
		if !ok || !got.Equal(c.want) || s != ws || e != we {
			t.Errorf("%q on %q: got %v [%d,%d) %v, want %v [%d,%d)", c.pattern, line, got, s, e, ok, c.want, ws, we)
		}
	}
}

func TestPatternTimeOnly(t *testing.T) {
	f, _ := NewPatternFinder("%H:%M:%S", time.UTC)
	got, _, _, _ := f.Find("23:59:59 x", d(2026, 11, 26, 0, 0, 30, 0, time.UTC))
	if want := d(2026, 11, 25, 23, 59, 59, 0, time.UTC); !got.Equal(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestPatternName(t *testing.T) {
	f, _ := NewPatternFinder("%Y", time.UTC)
	if f != nil {
		t.Fatal("year alone accepted")
	}
	f, _ = NewPatternFinder("%Y-%m-%d", time.UTC)
	f.Find("2026-11-25", now)
	if f.Name() != "pattern" {
		t.Errorf("name %q", f.Name())
	}
	f, _ = NewPatternFinder("Epoch", time.UTC)
	f.Find("1732519998", now)
	if f.Name() != "epoch" {
		t.Errorf("name %q", f.Name())
	}
	// Alternatives report the one that found the date.
	f, _ = NewPatternFinder("%Y-%m-%d\n^ISO8601", time.UTC)
	for line, want := range map[string]string{"2026-11-25T07:13:18Z x": "rfc3339", "x 2026-11-25": "pattern"} {
		if _, _, _, ok := f.Find(line, now); !ok || f.Name() != want {
			t.Errorf("%q: name %q, want %q", line, f.Name(), want)
		}
	}
}

func TestPatternErrors(t *testing.T) {
	for _, c := range []struct{ pattern, want string }{
		{"%Y-%m-%d %Q", "%Q"},
		{"%Y-%m-%d %", "incomplete"},
		{"%Y-%m-%d %Ex", "incomplete"},
		{"%H:%M\\", "backslash"},
		{"%Y-%m-%d\\d", `\d`},
		{"(%Y)", "regular expression"},
		{"%Y-%m-%d?", "regular expression"},
		{"%d %H", "day without a month"},
		{"%Y", "year without"},
		{"", "no date"},
		{"foo", "no date"},
		{"^", "no date"},
		{"LEpoch", "no date"},
		{"%Y-%m-%d\n%Q", "%Q"},
		{"\n \n", "no pattern"},
	} {
		_, err := NewPatternFinder(c.pattern, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want it to mention %q", c.pattern, err, c.want)
		}
	}
}

// "{^LN-BEG}" alone recognises the built-in formats at the line's start
// only: a date further in (in a client's user name) is not the line's.
func TestLineBeginningAlone(t *testing.T) {
	f, err := NewPatternFinder("{^LN-BEG}", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		line string
		want string // RFC 3339, or "" for no date
	}{
		{"Dec  7 02:00:00 vm sshd[1]: Failed password for root from 192.0.2.1 port 1 ssh2", "2026-12-07T02:00:00Z"},
		{"2026-11-25T07:13:18.5+01:00 vm sshd[1]: x", "2026-11-25T06:13:18.5Z"},
		{"Failed password for invalid user 2001-01-01T00:00:00Z from 192.0.2.1 port 22 ssh2", ""},
		{"Connection closed by invalid user a Nov 25 07:13:18 2001::ffff:c633:6401 port 22 [preauth]", ""},
		// A syslog priority, as rsyslog writes RFC 5424 to a file.
		{"<38>1 2019-07-08T17:40:16.954167-04:00 host sshd 57915 - - Failed unknown", "2019-07-08T21:40:16.954167Z"},
		{"<13>Dec  7 02:00:00 vm sshd[1]: x", "2026-12-07T02:00:00Z"},
		{"<38>1 host 2019-07-08T17:40:16Z x", ""},
		{"<1234>Dec  7 02:00:00 vm sshd[1]: x", ""},
	} {
		got, _, _, ok := f.Find(tc.line, now)
		if tc.want == "" {
			if ok {
				t.Errorf("%q: found %v, want no date", tc.line, got)
			}
			continue
		}
		if !ok || got.UTC().Format(time.RFC3339Nano) != tc.want {
			t.Errorf("%q: %v %v, want %s", tc.line, got, ok, tc.want)
		}
	}
}
