package datedetector

import (
	"math"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
)

// Expected results from fail2ban 1.0.2's DateDetector (a fresh detector per
// line), with now = 2005-08-14 10:00 UTC in Europe/Zurich, as fail2ban's
// tests run. Spans are of the date text; ok tells whether it is a date.
var detectorCases = []struct {
	pattern, line string
	start, end    int
	unix          float64
	ok            bool
}{
	{``, `Jan 23 21:59:59 host sshd[1]: x`, 0, 15, 1106513999.0, true},
	{``, `2005-01-23T21:59:59.981746+01:00 x`, 0, 32, 1106513999, true},
	{``, `2005/01/23 21:59:59 x`, 0, 19, 1106513999.0, true},
	{``, `[31/Oct/2006:09:22:55 -0000] x`, 1, 27, 1162286575, true},
	{``, `1.2.3.4 - - [31/Oct/2006:09:22:55 +0200] "GET /"`, 13, 39, 1162279375, true},
	{``, `[1124013500.123] x`, 1, 15, 1124013500.123, true},
	{``, `type=USER_AUTH msg=audit(1124013500.123:42): x`, 25, 39, 1124013500.123, true},
	{``, `@4000000042f8d2a91d0b1234 x`, 0, 25, 1123603113, true},
	{``, `<09/16/08@05:03:30> x`, 0, 19, 1221534210.0, true},
	{``, `130322 11:46:11 x`, 0, 15, 1363949171.0, true},
	{``, `Jan 23, 2005 9:59:59 PM x`, 0, 23, 1106513999.0, true},
	{``, `Apr-27-13 02:33:06 x`, 0, 18, 1367022786.0, true},
	{``, `20050123T215959 x`, 0, 15, 1106513999.0, true},
	{``, `PDT Apr 16 21:05:29 x`, 0, 19, 1113710729, true},
	{``, `CEST Apr 16 21:05:29 x`, 0, 20, 1113678329, true},
	{``, `Aug 15 11:00:00 x`, 0, 15, 1124096400.0, true},
	{``, `Aug 16 11:00:00 x`, 0, 15, 1092646800.0, true},
	{``, `Feb 29 12:00:00 x`, 0, 15, 0, false},
	{``, `09:59:59 x`, 0, 8, 1124006399.0, true},
	{``, `11:00:00 x`, 0, 8, 1124010000.0, true},
	{``, `no date here`, -1, -1, 0, false},
	{``, `2005-02-30 10:00:00 x`, 0, 19, 0, false},
	{`{^LN-BEG}`, `x Jan 23 21:59:59 x`, -1, -1, 0, false},
	{`{^LN-BEG}`, `[Jan 23 21:59:59] x`, 1, 16, 1106513999.0, true},
	{`{^LN-BEG}`, `Jan 23 21:59:59 x`, 0, 15, 1106513999.0, true},
	{`^%m/%d/%Y %H:%M:%S`, `01/23/2005 21:59:59 x`, 0, 19, 1106513999.0, true},
	{`^\[%d/%b/%Y %H:%M:%S\]`, `[23/Jan/2005 21:59:59] x`, 0, 22, 1106513999.0, true},
	{"^[^\\[]*\\[({DATE})\n{^LN-BEG}", `host x [23/Jan/2005:21:59:59 +0100] y`, 8, 34, 1106513999, true},
	{`{NONE}`, `Jan 23 21:59:59 x`, 0, 0, 1123970400.0, true},
	{"{^LN-BEG}Epoch\n{^LN-BEG}", `1124013500.5 x`, 0, 10, 1124013500.0, true},
	{`TAI64N`, `@4000000042f8d2a91d0b1234 x`, 0, 25, 1123603113, true},
	{`^<co ts="{DATE}"\s+`, `<co ts="2005-01-23T21:59:59.981+01:00" x`, 0, 39, 1106513999, true},
	{`%Y-%m-%d %H:%M:%S %Z`, `x 2005-01-23 21:59:59 CET y`, 2, 25, 1106513999, true},
	{`%Y%j %H:%M`, `2005023 21:59 x`, 0, 13, 1106513940.0, true},
	{`%d.%m.%y %l:%M:%S %p`, `23.01.05 9:59:59 PM x`, 0, 19, 1106513999.0, true},
}

func TestDetector(t *testing.T) {
	zone, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		testkit.Missing(t, "%v", err)
	}
	now := time.Unix(1124013600, 0)
	for _, c := range detectorCases {
		t.Run(c.pattern+"|"+c.line, func(t *testing.T) {
			d, err := New(c.pattern, zone, now)
			if err != nil {
				t.Fatal(err)
			}
			r := d.Find(c.line, now)
			if c.start < 0 {
				if r.Found {
					t.Fatalf("found %+v, want nothing", r)
				}
				return
			}
			if !r.Found || r.Start != c.start || r.End != c.end {
				t.Fatalf("got %+v, want span %d-%d", r, c.start, c.end)
			}
			if c.start == c.end {
				return // {NONE}: no date text, the caller dates the line
			}
			if r.OK != c.ok {
				t.Fatalf("ok %v, want %v (%v)", r.OK, c.ok, r.Time)
			}
			if got := float64(r.Time.Unix()) + float64(r.Time.Nanosecond())/1e9; c.ok && math.Abs(got-c.unix) > 1e-6 {
				t.Errorf("time %v (%f), want %f", r.Time, got, c.unix)
			}
		})
	}
}

// The last template that matched is tried first, and a template that
// matches at the same place wins over an earlier date in the line.
func TestDetectorKeepsItsTemplate(t *testing.T) {
	now := time.Unix(1124013600, 0)
	d, err := New("", time.UTC, now)
	if err != nil {
		t.Fatal(err)
	}
	r := d.Find("host [23/Jan/2005:21:59:59 +0000] x", now)
	if !r.Found || r.Start != 6 {
		t.Fatalf("%+v", r)
	}
	for _, line := range []string{
		"host [24/Jan/2005:21:59:59 +0000] x",
		"hist [24/Jan/2005:22:00:00 +0000] 2005-01-01 00:00:00",
	} {
		r := d.Find(line, now)
		if !r.Found || r.Start != 6 || r.End != 32 {
			t.Errorf("%q: %+v", line, r)
		}
	}
}

func TestBadDatepatterns(t *testing.T) {
	for _, p := range []string{"%Q", "%Y-%m-%d %", "(%Y"} {
		if _, err := New(p, time.UTC, time.Time{}); err == nil {
			t.Errorf("%q accepted", p)
		}
	}
}

func TestYearPrefixes(t *testing.T) {
	for _, c := range []struct {
		year int
		want string
	}{{2026, "20[0-2]"}, {2005, "200"}, {2027, "20[0-3]"}} {
		if got := yearPrefixes(time.Date(c.year, 1, 1, 0, 0, 0, 0, time.UTC)); got != c.want {
			t.Errorf("%d: %q, want %q", c.year, got, c.want)
		}
	}
}
