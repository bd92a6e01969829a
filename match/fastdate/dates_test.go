package fastdate

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"
)

var (
	now   = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	plus1 = time.FixedZone("", 3600)
	cet   = time.FixedZone("CET", 3600)
)

// span marks the expected date text in a line with « and ».
func span(marked string) (line string, start, end int) {
	start = strings.Index(marked, "«")
	end = strings.Index(marked, "»") - len("«")
	line = strings.Replace(strings.Replace(marked, "«", "", 1), "»", "", 1)
	return line, start, end
}

type findCase struct {
	marked string    // line with the date between « and »
	want   time.Time // the instant; also compared for the offset
	name   string
}

func d(y, mo, dd, h, mi, s, ns int, loc *time.Location) time.Time {
	return time.Date(y, time.Month(mo), dd, h, mi, s, ns, loc)
}

// findCases is one row a date layout Find knows, so it is long: «» marks
// the date in the line.
var findCases = []findCase{
	// BSD syslog.
	{"«Nov 25 07:13:18» host sshd[123]: Failed password", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "syslog"},
	{"«Nov  5 07:13:18» host sshd[123]: x", d(2026, 11, 5, 7, 13, 18, 0, time.UTC), "syslog"},
	{"«Nov 5 07:13:18» host", d(2026, 11, 5, 7, 13, 18, 0, time.UTC), "syslog"},
	{"«Nov 05 07:13:18»", d(2026, 11, 5, 7, 13, 18, 0, time.UTC), "syslog"},
	{"«nov 25 07:13:18» host", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "syslog"},
	{"«November 25 07:13:18» host", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "syslog"},
	{"«Sept 1 07:13:18» host", d(2026, 9, 1, 7, 13, 18, 0, time.UTC), "syslog"},
	{"«Nov 25 07:13:18.123456» host", d(2026, 11, 25, 7, 13, 18, 123456000, time.UTC), "syslog"},
	{"«Nov 25 07:13:18 2024» host", d(2024, 11, 25, 7, 13, 18, 0, time.UTC), "syslog"},
	{"«Nov 25 2024 07:13:18» host", d(2024, 11, 25, 7, 13, 18, 0, time.UTC), "syslog"},
	{"«Nov 25 07:13:18» 2024host", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "syslog"},
	{"«Feb 29 07:13:18 2024»", d(2024, 2, 29, 7, 13, 18, 0, time.UTC), "syslog"},
	{"<34>«Nov 25 07:13:18» host su: x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "syslog"},
	{"«Nov 25 07:13:18»", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "syslog"},
	// RFC 3339.
	{"«2026-11-25T07:13:18Z» host sshd", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "rfc3339"},
	{"«2026-11-25T07:13:18.123456+01:00» host", d(2026, 11, 25, 7, 13, 18, 123456000, plus1), "rfc3339"},
	{"«2026-11-25T07:13:18.123456789123-05:30»", d(2026, 11, 25, 7, 13, 18, 123456789, time.FixedZone("", -5*3600-1800)), "rfc3339"},
	{"«2026-11-25T07:13:18+0100» host", d(2026, 11, 25, 7, 13, 18, 0, plus1), "rfc3339"},
	{"«2026-11-25T07:13:18+01» host", d(2026, 11, 25, 7, 13, 18, 0, plus1), "rfc3339"},
	{"«2026-11-25T07:13:18+00:00» host", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "rfc3339"},
	{"«2026-11-25T07:13:18» host", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "rfc3339"},
	{"«2026-11-25t07:13:18z»", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "rfc3339"},
	{"<34>1 «2026-11-25T07:13:18.003Z» host app - - - msg", d(2026, 11, 25, 7, 13, 18, 3000000, time.UTC), "rfc3339"},
	{"host1 «2026-11-25T07:13:18Z» sshd[1]: x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "rfc3339"},
	// ISO with a space.
	{"«2026-11-25 07:13:18» x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "iso-space"},
	{"«2026-11-25 07:13:18,123» INFO x", d(2026, 11, 25, 7, 13, 18, 123000000, time.UTC), "iso-space"},
	{"«2026-11-25 07:13:18.5» x", d(2026, 11, 25, 7, 13, 18, 500000000, time.UTC), "iso-space"},
	{"«2026-11-25 07:13:18 +0100» x", d(2026, 11, 25, 7, 13, 18, 0, plus1), "iso-space"},
	{"«2026-11-25 07:13:18.25 -01:00» x", d(2026, 11, 25, 7, 13, 18, 250000000, time.FixedZone("", -3600)), "iso-space"},
	{"«2026-11-25 07:13:18 UTC» x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "iso-space"},
	{"«2026-11-25 07:13:18Z» x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "iso-space"},
	{"«2026-11-25 07:13:18» - x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "iso-space"},
	{"«2026-11-25 07:13:18» +01abc", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "iso-space"},
	{"«2026-11-25 07:13:18» UTCX", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "iso-space"},
	{"«2026-11-25 07:13:18». x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "iso-space"},
	{"[«2026-11-25 07:13:18»] x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "iso-space"},
	// Year-month-day with slashes (nginx, Go log).
	{"«2026/11/25 07:13:18» [error] 12#12: x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "ymd-slash"},
	{"«2026/11/25 07:13:18.123456» x", d(2026, 11, 25, 7, 13, 18, 123456000, time.UTC), "ymd-slash"},
	// Common log format.
	{`1.2.3.4 - - [«25/Nov/2026:07:13:18 +0000»] "GET / HTTP/1.1" 200`, d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "clf"},
	{`1.2.3.4 - - [«25/Nov/2026:07:13:18 +0100»] "GET /"`, d(2026, 11, 25, 7, 13, 18, 0, plus1), "clf"},
	{`«25/Nov/2026:07:13:18» x`, d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "clf"},
	{`[«5/Nov/2026:07:13:18 -0000»]`, d(2026, 11, 5, 7, 13, 18, 0, time.UTC), "clf"},
	// Epoch.
	{"«1732519998» x", time.Unix(1732519998, 0), "epoch"},
	{"«1732519998.123» x", time.Unix(1732519998, 123000000), "epoch"},
	{"  «1732519998.123456»", time.Unix(1732519998, 123456000), "epoch"},
	{"[«1732519998.123»] x", time.Unix(1732519998, 123000000), "epoch"},
	{"[«1732519998»] z", time.Unix(1732519998, 0), "epoch"},
	{" [«1732519998.5»] z", time.Unix(1732519998, 5e8), "epoch"},
	{"type=AVC msg=audit(«1732519998.123»:456): avc: denied", time.Unix(1732519998, 123000000), "epoch"},
	// TAI64N.
	{"«@4000000069255fa81d0b1234» x", time.Unix(0x69255fa8-10, 0x1d0b1234), "tai64n"},
	// ctime / asctime and date(1).
	{"«Wed Nov 25 07:13:18 2026» x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "ctime"},
	{"[«Wed Nov 25 07:13:18.123456 2026»] [core:error]", d(2026, 11, 25, 7, 13, 18, 123456000, time.UTC), "ctime"},
	{"«Wed Nov  5 07:13:18 UTC 2026» x", d(2026, 11, 5, 7, 13, 18, 0, time.UTC), "ctime"},
	{"«Wed Nov 25 07:13:18 CET 2026» x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "ctime"},
	{"«Wednesday Nov 25 07:13:18» x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "ctime"},
	// RFC 2822 / 1123.
	{"«Wed, 25 Nov 2026 07:13:18 GMT» x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "rfc2822"},
	{"Date: «Wed, 25 Nov 2026 07:13:18 +0100»", d(2026, 11, 25, 7, 13, 18, 0, plus1), "rfc2822"},
	{"«25 Nov 2026 07:13:18» x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "rfc2822"},
	{"«Wed, 25 Nov 26 07:13:18 UT» x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "rfc2822"},
	{"«Thu, 1 Jan 70 00:00:00 -0000» x", d(1970, 1, 1, 0, 0, 0, 0, time.UTC), "rfc2822"},
	{"Woo «Nov 25 07:13:18 2026» x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "syslog"},
	{"«2026-11-25T07:13:18».", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "rfc3339"},
	// Day-month-year with a month name (BIND, Tomcat, PHP).
	{"«25-Nov-2026 07:13:18.123» client @0x1 1.2.3.4#53", d(2026, 11, 25, 7, 13, 18, 123000000, time.UTC), "dmy-mon"},
	{"[«25-Nov-2026 07:13:18 UTC»] PHP Warning", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "dmy-mon"},
	// A zone abbreviation before a syslog date (Monit's "[PDT Apr 16
	// 21:05:29]"), with the offset fail2ban gives it; one it does not
	// know, or not at a word boundary, is not the date's.
	{"[«PDT Apr 16 21:05:29»] error    : x", d(2026, 4, 16, 21, 5, 29, 0, time.FixedZone("", -7*3600)), "syslog"},
	{"[«CEST Aug  6 10:14:52»] error    : x", d(2026, 8, 6, 10, 14, 52, 0, time.FixedZone("", 2*3600)), "syslog"},
	{"«CET Nov 25 07:13:18» x", d(2026, 11, 25, 7, 13, 18, 0, plus1), "syslog"},
	{"«UTC Nov 25 07:13:18» x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "syslog"},
	{"«NPT Nov 25 07:13:18» x", d(2026, 11, 25, 7, 13, 18, 0, time.FixedZone("", 5*3600+45*60)), "syslog"},
	{"«EST Wed Nov 25 07:13:18 2026» x", d(2026, 11, 25, 7, 13, 18, 0, time.FixedZone("", -5*3600)), "ctime"},
	{"[«+03 Nov 25 07:13:26»] error", d(2026, 11, 25, 7, 13, 26, 0, time.FixedZone("", 3*3600)), "syslog"},
	{"[«-0530 Nov 25 07:13:26»] error", d(2026, 11, 25, 7, 13, 26, 0, time.FixedZone("", -5*3600-1800)), "syslog"},
	{"«+01:00 Nov 25 07:13:26» x", d(2026, 11, 25, 7, 13, 26, 0, plus1), "syslog"},
	{"«+00 Nov 25 07:13:26» x", d(2026, 11, 25, 7, 13, 26, 0, time.UTC), "syslog"},
	{"x+03 «Nov 25 07:13:26» x", d(2026, 11, 25, 7, 13, 26, 0, time.UTC), "syslog"},
	{"1.2.3-03 «Nov 25 07:13:26» x", d(2026, 11, 25, 7, 13, 26, 0, time.UTC), "syslog"},
	{"+3 «Nov 25 07:13:26» x", d(2026, 11, 25, 7, 13, 26, 0, time.UTC), "syslog"},
	{"+033 «Nov 25 07:13:26» x", d(2026, 11, 25, 7, 13, 26, 0, time.UTC), "syslog"},
	{"+24 «Nov 25 07:13:26» x", d(2026, 11, 25, 7, 13, 26, 0, time.UTC), "syslog"},
	{"[FOO «Nov 25 07:13:18»] x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "syslog"},
	{"[XPDT «Nov 25 07:13:18»] x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "syslog"},
	{"xPDT «Nov 25 07:13:18» x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "syslog"},
	{"A «Nov 25 07:13:18» x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "syslog"},
	{"PDT  «Nov 25 07:13:18» x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "syslog"},
	{"PDT «2026-11-25 07:13:18» x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "iso-space"},
	// A month abbreviation with a dot, as a French Java runtime writes
	// them in a request log ("02/sept./2015").
	{`1.2.3.4 -  -  [«02/sept./2015:00:11:31 +0200»] "GET /"`, d(2015, 9, 2, 0, 11, 31, 0, time.FixedZone("", 2*3600)), "clf"},
	{`1.2.3.4 -  -  [«17/oct./2015:00:35:12 +0200»] "GET /"`, d(2015, 10, 17, 0, 35, 12, 0, time.FixedZone("", 2*3600)), "clf"},
	{"«25-Nov.-2026 07:13:18» x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "dmy-mon"},
	// Leading numbers that are not dates are skipped.
	{"12345 «2026-11-25 07:13:18» x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "iso-space"},
	{"1.2.3.4 port 22 «Nov 25 07:13:18»", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "syslog"},
	{"Mon May 12 Nov foo «Nov 25 07:13:18»", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "syslog"},
	// Invalid dates are skipped for later valid ones.
	{"2026-13-25 07:13:18 «2026-11-25 07:13:18»", d(2026, 11, 25, 7, 13, 18, 0, time.UTC), "iso-space"},
}

func TestFind(t *testing.T) {
	for _, c := range findCases {
		line, ws, we := span(c.marked)
		f := NewFinder(time.UTC)
		got, s, e, ok := f.Find(line, now)
		if !ok {
			t.Errorf("%q: no date", line)
			continue
		}
		if !got.Equal(c.want) || s != ws || e != we || f.Name() != c.name {
			t.Errorf("%q: got %v [%d,%d) %s, want %v [%d,%d) %s", line, got, s, e, f.Name(), c.want, ws, we, c.name)
			continue
		}
		_, go1 := got.Zone()
		_, wo := c.want.Zone()
		if c.name != "epoch" && c.name != "tai64n" && go1 != wo {
			t.Errorf("%q: offset %d, want %d", line, go1, wo)
		}
	}
}

func TestFindLocation(t *testing.T) {
	f := NewFinder(cet)
	for _, c := range []struct {
		line string
		want time.Time
	}{
		{"Nov 25 07:13:18 host", d(2026, 11, 25, 7, 13, 18, 0, cet)},
		{"2026-11-25T07:13:18 host", d(2026, 11, 25, 7, 13, 18, 0, cet)},
		{"2026-11-25T07:13:18Z host", d(2026, 11, 25, 7, 13, 18, 0, time.UTC)},
		{"2026-11-25 07:13:18 host", d(2026, 11, 25, 7, 13, 18, 0, cet)},
		{"25/Nov/2026:07:13:18 x", d(2026, 11, 25, 7, 13, 18, 0, cet)},
		{"1732519998 x", time.Unix(1732519998, 0)},
	} {
		got, _, _, ok := f.Find(c.line, now)
		if !ok || !got.Equal(c.want) {
			t.Errorf("%q: got %v %v, want %v", c.line, got, ok, c.want)
		}
		if got.Location() != c.want.Location() && c.want.Location() != time.Local {
			t.Errorf("%q: location %v, want %v", c.line, got.Location(), c.want.Location())
		}
	}
	if NewFinder(nil).loc != time.Local {
		t.Error("nil location is not time.Local")
	}
}

func TestYearInference(t *testing.T) {
	for _, c := range []struct {
		now  time.Time
		line string
		want time.Time
	}{
		{d(2026, 1, 1, 0, 30, 0, 0, time.UTC), "Dec 31 23:59:59 host", d(2025, 12, 31, 23, 59, 59, 0, time.UTC)},
		{d(2026, 1, 1, 0, 30, 0, 0, time.UTC), "Jan  1 00:29:59 host", d(2026, 1, 1, 0, 29, 59, 0, time.UTC)},
		{d(2026, 1, 1, 0, 30, 0, 0, time.UTC), "Jan  2 10:00:00 host", d(2026, 1, 2, 10, 0, 0, 0, time.UTC)},
		{d(2026, 11, 25, 0, 0, 0, 0, time.UTC), "Nov 26 07:00:00 host", d(2026, 11, 26, 7, 0, 0, 0, time.UTC)},
		{d(2026, 11, 25, 23, 0, 0, 0, time.UTC), "Nov 26 07:00:00 host", d(2026, 11, 26, 7, 0, 0, 0, time.UTC)},
		{d(2026, 11, 25, 0, 0, 0, 0, time.UTC), "Nov 27 07:00:00 host", d(2025, 11, 27, 7, 0, 0, 0, time.UTC)},
		{d(2026, 11, 25, 0, 0, 0, 0, time.UTC), "Jan  1 00:00:00 host", d(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{d(2026, 12, 31, 23, 0, 0, 0, time.UTC), "Jan  1 00:10:00 host", d(2026, 1, 1, 0, 10, 0, 0, time.UTC)},
		// Leap days go back to the last leap year.
		{d(2028, 3, 1, 0, 0, 0, 0, time.UTC), "Feb 29 10:00:00 host", d(2028, 2, 29, 10, 0, 0, 0, time.UTC)},
		{d(2027, 3, 1, 0, 0, 0, 0, time.UTC), "Feb 29 10:00:00 host", d(2024, 2, 29, 10, 0, 0, 0, time.UTC)},
		{d(2028, 2, 1, 0, 0, 0, 0, time.UTC), "Feb 29 10:00:00 host", d(2024, 2, 29, 10, 0, 0, 0, time.UTC)},
		{d(2026, 11, 25, 0, 0, 0, 0, time.UTC), "Wed Nov 25 07:13:18 x", d(2026, 11, 25, 7, 13, 18, 0, time.UTC)},
	} {
		f := NewFinder(time.UTC)
		got, _, _, ok := f.Find(c.line, c.now)
		if !ok || !got.Equal(c.want) {
			t.Errorf("now %v, %q: got %v %v, want %v", c.now, c.line, got, ok, c.want)
		}
	}
	// The reference date is taken in the Finder's zone.
	f := NewFinder(time.FixedZone("", 10*3600))
	got, _, _, _ := f.Find("Jan  1 08:00:00 host", d(2025, 12, 31, 20, 0, 0, 0, time.UTC)) // 06:00 on Jan 1 there
	if got.Year() != 2026 {
		t.Errorf("zone-relative inference: got %v", got)
	}
}

func TestNoDate(t *testing.T) {
	for _, line := range []string{
		"",
		"x",
		"Nov",
		"Nov 25",
		"Nov 25 07:13",
		"Failed password for root from 192.168.1.10 port 22 ssh2",
		"sshd[12345]: Accepted publickey for admin",
		"version 2.4.58 build 20261125 1732519998 ok",
		"user id 1732519998 logged in",
		"x1732519998 y",
		"17325199981 x",
		"173251999 x",
		"[1732519998 x",
		"x y [1732519998] z", // a bracketed epoch after client text (a user name) is not the date
		"1732519998abc",
		"10.0.0.1 - - \"GET /\"",
		"Novice 25 07:13:18",
		"Nov 25 07:13:18x",
		"Nov 25 07:13:181",
		"Nov 25 7:13:18",
		"Nov 32 07:13:18",
		"Nov 0 07:13:18",
		"Nov 25 24:13:18",
		"Nov 25 07:60:18",
		"Nov 25 07:13:61",
		"Nov 123 07:13:18",
		"Nov   5 07:13:18",
		"Feb 30 10:00:00",
		"2026-11-31T07:13:18Z",
		"2026-13-25T07:13:18Z",
		"2026-00-25T07:13:18Z",
		"2026-11-25T25:13:18Z",
		"2026-11-25T07:13:18Zulu",
		"2026-11-25 07:13",
		"2026-11-25",
		"2026-11-25T071318",
		"2026-11-25X07:13:18",
		"2025-02-29 10:00:00",
		"12026-11-25 07:13:18",
		"a2026-11-25 07:13:18",
		"32/Nov/2026:07:13:18 +0000",
		"25/Foo/2026:07:13:18 +0000",
		"25/Nov/2026 07:13:18",
		"11/25/2026 07:13:18",
		"@4000000069255fa8",
		"x @4000000069255fa81d0b1234",
		"@4000000069255fa8ffffffff",
		"Wed, 25 Nov 126 07:13:18 GMT",
		"22 Nov 25 07:13",
		"2026/11/25",
		"Jan 1.2.3",
		"02/sept../2015:00:11:31 +0200",
		"02/sept.2015:00:11:31 +0200",
		"02/septembre./2015:00:11:31 +0200",
	} {
		f := NewFinder(time.UTC)
		if got, s, e, ok := f.Find(line, now); ok {
			t.Errorf("%q: unexpected date %v [%d,%d) %s", line, got, s, e, f.Name())
		}
	}
}

// TestFinderReuse checks that state kept between lines does not leak.
func TestFinderReuse(t *testing.T) {
	f := NewFinder(time.UTC)
	lines := []string{
		"2026-11-25T07:13:18+01:00 a", "2026-11-25T07:13:18+02:00 a", "Nov 25 07:13:18 x", "no date",
		"[25/Nov/2026:07:13:18 +0100]", "2026-11-25T07:13:18.5 a",
	}
	for i := 0; i < 3; i++ {
		for j := 0; j < 12; j++ { // more zones than the cache holds
			line := "2026-11-25T07:13:18+" + string(rune('0'+j/10)) + string(rune('0'+j%10)) + ":00"
			got, _, _, ok := f.Find(line, now)
			if _, off := got.Zone(); !ok || off != j*3600 {
				t.Fatalf("%q: %v %v", line, got, ok)
			}
		}
		for _, line := range lines {
			g1, s1, e1, ok1 := f.Find(line, now)
			g2, s2, e2, ok2 := NewFinder(time.UTC).Find(line, now)
			if !g1.Equal(g2) || s1 != s2 || e1 != e2 || ok1 != ok2 || g1.String() != g2.String() {
				t.Errorf("%q: reused %v %d %d %v, fresh %v %d %d %v", line, g1, s1, e1, ok1, g2, s2, e2, ok2)
			}
		}
	}
}

// TestFinderRepeats: a Finder answers a line with the date of the line
// before it (build's last answer kept) as a fresh one does, under another
// now too (the year of a date without one is now's, or the one before).
func TestFinderRepeats(t *testing.T) {
	pm, err := NewPatternFinder("%b %d %I:%M:%S %p", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	lines := []string{"Jan  2 10:00:00 x", "Jan  2 10:00:00 y", "Feb 29 10:00:00 x", "Feb 30 10:00:00 Nov 25 07:13:18",
		"Nov 25 07:13:18 PM", "Nov 25 07:13:18 AM", "Nov 25 12:13:18 AM", "no date"}
	nows := []time.Time{now, now, time.Date(2027, 1, 5, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 31, 12, 0, 0, 0, plus1), now}
	for _, fresh := range []func() *Finder{func() *Finder { return NewFinder(time.UTC) }, func() *Finder {
		f, _ := NewPatternFinder("%b %d %I:%M:%S %p", time.UTC)
		return f
	}} {
		f := fresh()
		if fresh().pat != nil {
			f = pm
		}
		for _, line := range append(lines, lines...) {
			for _, n := range nows {
				g1, s1, e1, ok1 := f.Find(line, n)
				g2, s2, e2, ok2 := fresh().Find(line, n)
				if !g1.Equal(g2) || s1 != s2 || e1 != e2 || ok1 != ok2 || g1.String() != g2.String() {
					t.Errorf("%q at %v: after others %v %d %d %v, fresh %v %d %d %v", line, n, g1, s1, e1, ok1, g2, s2, e2, ok2)
				}
			}
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	f := NewFinder(time.UTC)
	for _, line := range []string{
		"Nov 25 07:13:18 host sshd[123]: Failed password for root from 1.2.3.4 port 22 ssh2",
		"2026-11-25T07:13:18.123456Z host sshd[123]: x",
		"2026-11-25T07:13:18+01:00 host sshd[123]: x",
		"2026-11-25 07:13:18,123 INFO x",
		`1.2.3.4 - - [25/Nov/2026:07:13:18 +0000] "GET / HTTP/1.1" 200 123`,
		"1732519998.123 x",
		"Failed password for root from 1.2.3.4 port 22 ssh2 no date here at all",
		"[PDT Apr 16 21:05:29] error    : x",
	} {
		f.Find(line, now)
		if n := testing.AllocsPerRun(100, func() { f.Find(line, now) }); n != 0 {
			t.Errorf("%q: %v allocs", line, n)
		}
	}
	alts, err := NewPatternFinder("^%Y/%m/%d %H:%M:%S\n^%b %d %H:%M:%S\n%d/%b/%Y:%H:%M:%S %z", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		`1.2.3.4 - - [25/Nov/2026:07:13:18 +0100] "GET / HTTP/1.1" 404 1`,
		"2026/11/25 07:13:18 [error] 1#1: x",
		"no date",
	} {
		alts.Find(line, now)
		if n := testing.AllocsPerRun(100, func() { alts.Find(line, now) }); n != 0 {
			t.Errorf("alternatives, %q: %v allocs", line, n)
		}
	}
}

// FuzzFind checks that no line crashes a finder, that a date found lies in
// the line, and that a finder's caches (the zones it keeps, the day of now)
// never change an answer: the same line gives the same date after another
// line was read.
func FuzzFind(f *testing.F) {
	for _, s := range []string{
		"Nov 25 07:13:18 host", "Nov 25 07:13:59 web01 sshd", "Nov 25 07:13:60 web01 sshd", "Nov 25 07:13:61 web01 sshd", "Nov 25 07:13:18 2026 web01 sshd", "Nov  5 07:13:18.123456 2026 web01 sshd", "2026-11-25T07:13:18.123+01:00", "[25/Nov/2026:07:13:18 +0000]",
		"1732519998.5 x", "@4000000069255fa81d0b1234", "Wed, 25 Nov 2026 07:13:18 GMT",
		"Wed Nov 25 07:13:18 CET 2026", "25-Nov-2026 07:13:18", "2026/11/25 07:13:18",
		"audit(1732519998.123:4)", "Nov 25 2026 07:13:18", "2026-11-25 07:13:18 +01",
		"Dec 31 23:59:60 h", "2026-02-29T25:61:61Z", "9999-12-31T23:59:59.999999999-23:59", "[26/Nov/2026:07:13:18 -2400]",
		"1e308", "@ffffffffffffffffffffffff", "Feb 30 00:00:00 x", "0000-01-01 00:00:00", "2026-11-25T07:13:18+14:00 2026-11-25T07:13:18-12:00",
	} {
		f.Add(s)
	}
	pats := []*Finder{NewFinder(time.UTC), NewFinder(time.FixedZone("UTC+3", 3*3600))}
	for _, p := range []string{"%Y-%m-%d %H:%M:%S", "^%b %d %H:%M:%S", "{^LN-BEG}%d/%b/%Y:%T %z", "%s", "%j %I:%M %p %Z", "Epoch", "\\[%y%m%d %H%M%S.%f", "TAI64N", "%ExY-%Exm-%Exd %ExH:%ExM:%ExS"} {
		pf, err := NewPatternFinder(p, time.UTC)
		if err != nil {
			f.Fatal(err)
		}
		pats = append(pats, pf)
	}
	const other = "2026-11-25T07:13:18.123+05:30 [25/Nov/2026:07:13:18 -0800]"
	fresh := func() []*Finder {
		ln, err := NewPatternFinder("{^LN-BEG}", time.UTC)
		if err != nil {
			f.Fatal(err)
		}
		return []*Finder{NewFinder(time.UTC), NewFinder(time.FixedZone("UTC+3", 3*3600)), ln}
	}
	f.Fuzz(func(t *testing.T, line string) {
		checkRecallStart(t, fresh, line)
		for _, finder := range pats {
			tm, s, e, ok := finder.Find(line, now)
			if ok && (s < 0 || s >= e || e > len(line)) {
				t.Fatalf("%q: %v span [%d,%d)", line, tm, s, e)
			}
			if !ok && (s != 0 || e != 0) {
				t.Fatalf("%q: span without date", line)
			}
			finder.Find(other, now.Add(400*24*time.Hour))
			tm2, s2, e2, ok2 := finder.Find(line, now)
			if !tm2.Equal(tm) || s2 != s || e2 != e || ok2 != ok {
				t.Fatalf("%q: %v [%d,%d) %v, then %v [%d,%d) %v", line, tm, s, e, ok, tm2, s2, e2, ok2)
			}
		}
	})
}

// checkRecallStart: a finder that read a line beginning as line does, up
// to any byte, then ending otherwise, finds in line what a new finder
// finds (recallStart must not answer for a line it did not read enough
// of).
func checkRecallStart(t *testing.T, fresh func() []*Finder, line string) {
	want := fresh()
	var befores []string
	for k := 0; k <= len(line); k++ {
		for _, tail := range []string{"", " ", "x", " 2026 x", ".5 z", "0", " 12:00:00 ", "\n"} {
			befores = append(befores, line[:k]+tail)
		}
		if k < len(line) { // one byte otherwise: another second, minute, ...
			for _, c := range "069:" {
				befores = append(befores, line[:k]+string(c)+line[k+1:])
			}
		}
	}
	for _, before := range befores {
		for i, finder := range fresh() {
			finder.Find(before, now)
			tm, s, e, ok := finder.Find(line, now)
			wt, ws, we, wok := want[i].Find(line, now)
			if !tm.Equal(wt) || s != ws || e != we || ok != wok || ok && finder.Name() != want[i].Name() {
				t.Fatalf("finder %d: %q after %q: %v [%d,%d) %v %s, a new finder: %v [%d,%d) %v %s",
					i, line, before, tm, s, e, ok, finder.Name(), wt, ws, we, wok, want[i].Name())
			}
		}
	}
}

var sink time.Time

func benchFind(b *testing.B, line string) {
	f := NewFinder(time.UTC)
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		sink, _, _, _ = f.Find(line, now)
	}
}

func BenchmarkFindSyslog(b *testing.B) {
	benchFind(b, "Nov 25 07:13:18 host sshd[12345]: Failed password for invalid user admin from 192.168.1.10 port 22 ssh2")
}

func BenchmarkFindISO(b *testing.B) {
	benchFind(b, "2026-11-25T07:13:18.123456+01:00 host sshd[12345]: Failed password for invalid user admin from 192.168.1.10 port 22 ssh2")
}

func BenchmarkFindCLF(b *testing.B) {
	benchFind(b, `192.168.1.10 - - [25/Nov/2026:07:13:18 +0000] "GET /wp-login.php HTTP/1.1" 404 196 "-" "Mozilla/5.0"`)
}

func BenchmarkFindMiss(b *testing.B) {
	benchFind(b, "sshd[12345]: Failed password for invalid user admin from 192.168.1.10 port 22 ssh2 (version 8.9p1)")
}

func BenchmarkFindPattern(b *testing.B) {
	f, err := NewPatternFinder("^%b %d %H:%M:%S", time.UTC)
	if err != nil {
		b.Fatal(err)
	}
	line := "Nov 25 07:13:18 host sshd[12345]: Failed password for invalid user admin from 192.168.1.10 port 22 ssh2"
	b.ReportAllocs()
	for b.Loop() {
		sink, _, _, _ = f.Find(line, now)
	}
}

// fields.same compares every field: one it left out would let build give
// a cached time for other fields.
func TestFieldsSame(t *testing.T) {
	var a fields
	n := reflect.TypeOf(a).NumField()
	for i := range n {
		b := a
		f := reflect.ValueOf(&b).Elem().Field(i)
		switch f.Kind() {
		case reflect.Bool:
			reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().SetBool(true)
		case reflect.Int, reflect.Int64:
			reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().SetInt(1)
		case reflect.Uint8:
			reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().SetUint(1)
		default:
			t.Fatalf("field %s: kind %s not covered by this test", reflect.TypeOf(a).Field(i).Name, f.Kind())
		}
		if a.same(&b) || b.same(&a) {
			t.Errorf("fields differing in %s are the same", reflect.TypeOf(a).Field(i).Name)
		}
		if !b.same(&b) {
			t.Errorf("fields with %s set differ from themselves", reflect.TypeOf(a).Field(i).Name)
		}
	}
}
