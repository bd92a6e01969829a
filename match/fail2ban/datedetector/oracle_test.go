package datedetector

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/f2boracle"
	"github.com/logjail/logjail/internal/testkit"
)

// The oracle: fail2ban's own DateDetector, run through python3 when
// fail2ban is installed, reads the same lines in the same order (the
// detector keeps state between lines); span and time must agree.
// LOGJAIL_F2B_ORACLE=off skips.

const oracleDateScript = `
import json, sys, time
sys.path.append('/usr/lib/python3/dist-packages')
time.tzset()
from fail2ban.server.mytime import MyTime
from fail2ban.server.datedetector import DateDetector
MyTime.setTime(int(sys.argv[1]))
out = []
for r in json.load(sys.stdin):
    dd = DateDetector()
    for p in [x.strip() for x in r['pattern'].split('\n') if x.strip()]:
        dd.appendTemplate(p)
    res = []
    for line in r['lines']:
        m, tpl = dd.matchTime(line)
        if not m:
            res.append(None); continue
        t = None
        try:
            d = dd.getTime(line, (m, tpl))
            if d is not None: t = d[0]
        except Exception:
            pass
        res.append([m.start(1), m.end(1), t])
    out.append(res)
json.dump(out, sys.stdout)
`

const oracleNow = 1124013600 // fail2ban's test "now": 2005-08-14 10:00 UTC

// synthDates makes lines with dates in many formats and places, some with
// non-ASCII characters, from a fixed seed.
func synthDates() []string {
	r := rand.New(rand.NewPCG(7, 8))
	formats := []string{
		"2005-01-23T21:59:59.981746", "2005-01-23 21:59:59", "2005-01-23  8:59:59", "2005/01/23 21:59:59", "2006.12.21 06:43:20",
		"2005-01-23T21:59:59+0100", "2005-01-23T21:59:59 +01:00", "2005-01-23T21:59:59Z", "2005-01-23 21:59:59,123 UTC",
		"Sun Jan 23 21:59:59.011 2005", "Jan 23 21:59:59", "Jan  3 21:59:59", "Jan 3 1:02:03", "Sun Jan 23 2005 21:59:59.011",
		"23/01/2005 21:59:59", "23/01/05 21:59:59", "17-07-2008 17:23:25", "[31/Oct/2006:09:22:55 -0000]", "26-Jul-2007 15:20:52",
		"26-Jul-2007 15:20:52.252", "26-Jul-2007 15:20:52 +0200", "05/20/2008:01:57:39", "01-27-2012 16:22:44.252",
		"1124013500", "[1124013500.123]", "1124013500.1234567", "21:59:59", "<09/16/08@05:03:30>", "130322 11:46:11",
		"Jan 23, 2005 9:59:59 PM", "Jan 23, 2005 12:01:02 AM", "Apr-27-13 02:33:06", "20050123T215959", "20050123 215959",
		"PDT Apr 16 21:05:29", "CEST Apr 16 21:05:29", "+00:00 Jan 23 21:59:59.011 2005", "@4000000042f8d2a91d0b1234",
		"Feb 29 12:00:00", "Feb 30 12:00:00", "2005-02-30 10:00:00", "Aug 14 11:59:59", "Aug 15 11:59:59", "Aug 16 11:59:59",
		"Dec 31 23:59:59", "jan 23 21:59:59", "JAN 23 21:59:59", "2005-08-14 12:00:00", "2005-13-01 00:00:00",
		"Mon Aug 15 12:00:00 2005", "11:00:01", "09:59:59", "2005-01-23T21:59:59.981746-0700", "1999-01-01 00:00:00",
		"2031-01-01 00:00:00", "2005-01-23 21:59:59 GMT", "audit(1124013500.123:42):", "type=x audit(1124013500.123:42): msg",
		"Jan 23 21:59:59 2005",
	}
	pre := []string{"", "host ", "[", "<13>1 ", "x: ", "foo bar ", "12 ", "ab", "  ", "- - "}
	post := []string{"", " host sshd[1]: Failed", " 1.2.3.4", "] x", "x", " 2005-01-24 22:00:00 second", ".5 y"}
	odd := []string{"é", "\u00a0", "\x0b", "٣", "²", "\u2003", "漢", "\u0301", "\U0001F600"}
	var lines []string
	for i := 0; i < 2500; i++ {
		l := pre[r.IntN(len(pre))] + formats[r.IntN(len(formats))] + post[r.IntN(len(post))]
		if r.IntN(10) == 0 {
			l += " " + formats[r.IntN(len(formats))]
		}
		if r.IntN(4) == 0 {
			rs := []rune(l)
			k := r.IntN(len(rs) + 1)
			l = string(rs[:k]) + odd[r.IntN(len(odd))] + string(rs[k:])
		}
		lines = append(lines, l)
	}
	for _, f := range formats {
		for _, p := range pre[:4] {
			lines = append(lines, p+f+" msg", p+f+" msg 2")
		}
	}
	return lines
}

func TestDetectorAgainstPython(t *testing.T) {
	py := f2boracle.Python(t, "fail2ban.server.datedetector")
	zone, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		testkit.Missing(t, "%v", err)
	}
	type req struct {
		Pattern string   `json:"pattern"`
		Lines   []string `json:"lines"`
	}
	patterns := []string{"", "{^LN-BEG}", "{^LN-BEG}Epoch\n{^LN-BEG}", `^[^\[]*\[({DATE})` + "\n{^LN-BEG}",
		"^%m/%d/%Y %H:%M:%S", `^\[%d/%b/%Y %H:%M:%S\]`, "{NONE}", "^{DATE}", "TAI64N", "Epoch", "{^LN-BEG}TAI64N\n{^LN-BEG}",
		"%Y-%m-%d %H:%M:%S %Z", "%d.%m.%y %l:%M:%S %p", "LEpoch"}
	var reqs []req
	logs, _ := filepath.Glob("/usr/lib/python3/dist-packages/fail2ban/tests/files/logs/*")
	for _, f := range append(logs, "synthetic") {
		var lines []string
		if f == "synthetic" {
			lines = synthDates()
		} else {
			fh, err := os.Open(f)
			if err != nil {
				continue
			}
			sc := bufio.NewScanner(fh)
			for sc.Scan() {
				l := strings.ToValidUTF8(sc.Text(), "\uFFFD")
				if !strings.HasPrefix(l, "#") && strings.TrimSpace(l) != "" {
					lines = append(lines, l)
				}
			}
			fh.Close()
		}
		if len(lines) == 0 {
			continue
		}
		for _, p := range patterns {
			reqs = append(reqs, req{p, lines})
		}
	}
	var resp [][][]any
	cmd := exec.Command(py, "-c", oracleDateScript, fmt.Sprint(oracleNow))
	cmd.Env = append(os.Environ(), "TZ=Europe/Zurich")
	f2boracle.Run(t, cmd, reqs, &resp)
	now := time.Unix(oracleNow, 0)
	bad, total := 0, 0
	for i, r := range reqs {
		d, err := New(r.Pattern, zone, time.Time{})
		if err != nil {
			t.Fatalf("%q: %v", r.Pattern, err)
		}
		for j, line := range r.Lines {
			total++
			got := d.Find(line, now)
			if why := compareOracle(line, got, resp[i][j]); why != "" {
				bad++
				if bad <= 30 {
					t.Errorf("%q: %q: %s (got %+v, want %v)", r.Pattern, line, why, got, resp[i][j])
				}
			}
		}
	}
	t.Logf("%d lines compared with fail2ban, %d differ", total, bad)
}

func compareOracle(line string, got Result, want []any) string {
	if want == nil {
		if got.Found {
			return "found a date, want none"
		}
		return ""
	}
	// Python counts characters.
	cp := func(i int) int { return len([]rune(line[:i])) }
	if !got.Found || float64(cp(got.Start)) != want[0].(float64) || float64(cp(got.End)) != want[1].(float64) {
		return "span"
	}
	tv, ok := want[2].(float64)
	if !ok {
		if got.OK && got.Start != got.End {
			return "a time, want none"
		}
		return ""
	}
	if got.Start == got.End {
		return ""
	}
	g := float64(got.Time.Unix()) + float64(got.Time.Nanosecond())/1e9
	if !got.OK || math.Abs(g-tv) > 2e-6 {
		return "time"
	}
	return ""
}
