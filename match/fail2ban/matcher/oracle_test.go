package matcher

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/internal/f2boracle"
	"github.com/logjail/logjail/internal/f2bsample"
	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/match"
)

// The oracle: fail2ban's own Filter, run through python3 when fail2ban is
// installed, processes the same lines with the same filters in fail2ban's
// production mode (the first matching failregex decides); every result is
// compared: outcome, failregex, id, time, user, ip4/ip6/dns, users and
// attempts. The script only drives fail2ban's classes.
//
// By default every filter's default variant runs over fail2ban's sample
// logs; LOGJAIL_F2B_ORACLE=full adds the modes (aggressive, ddos, extra),
// the journal logtypes and copies of the logs with non-ASCII characters
// (Python's \w \d \s \b are Unicode). LOGJAIL_F2B_ORACLE=off skips.

const oracleFilterScript = `
import json, sys, os, time
sys.path.append('/usr/lib/python3/dist-packages')
time.tzset()
from fail2ban.server.mytime import MyTime
from fail2ban.server.filter import Filter
from fail2ban.client.filterreader import FilterReader
MyTime.setTime(int(sys.argv[1]))
req = json.load(sys.stdin)

def load(name, opts):
    flt = Filter(None)
    flt.returnRawHost = True
    flt.checkAllRegex = False
    flt.checkFindTime = False
    flt.active = True
    fc = FilterReader(name, "jail", dict(opts), basedir=req["basedir"])
    fc.read(); fc.getOptions({})
    for opt in fc.convert():
        for v in (opt[3] if opt[0] == 'multi-set' else [opt[3]]):
            k = opt[2]
            if k == "prefregex": flt.prefRegex = v
            elif k == "addfailregex": flt.addFailRegex(v)
            elif k == "addignoreregex": flt.addIgnoreRegex(v)
            elif k == "maxlines": flt.setMaxLines(v)
            elif k == "datepattern": flt.setDatePattern(v)
    return flt

out = []
for v in req["variants"]:
    try:
        flt = load(v["name"], v["opts"])
    except Exception as e:
        out.append({"error": repr(e)}); continue
    res = []
    for line in req["lines"]:
        try:
            ret = flt.processLine(line)
        except Exception as e:
            res.append("error"); continue
        if not ret:
            res.append(None); continue
        idx, fid, t, fail = ret[0]
        res.append([idx, None if fid is None else str(fid), t, fail.get('user'), fail.get('ip4'), fail.get('ip6'),
                    fail.get('dns'), sorted(fail['users']) if fail.get('users') else None,
                    len(fail.get('matches', [])), bool(fail.get('nofail'))])
    out.append({"results": res})
json.dump(out, sys.stdout)
`

// sampleLines returns the log lines of fail2ban's sample files (not the
// annotations), in file order.
func sampleLines(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(corpusLogDir)
	if err != nil {
		testkit.Missing(t, "%v", err)
	}
	var lines []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		ls, err := f2bsample.ReadLines(corpusLogDir + "/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			if strings.HasPrefix(l, "#") || strings.TrimSpace(l) == "" {
				continue
			}
			lines = append(lines, strings.TrimRight(l, "\r"))
		}
	}
	return lines
}

// unicodeVariants returns copies of lines with non-ASCII characters put in
// at random places: letters, digits and spaces of other scripts, combining
// marks, C0 separators, NEL.
func unicodeVariants(lines []string) []string {
	r := rand.New(rand.NewPCG(3, 4))
	subs := []string{"é", "ü", "ß", "\u00a0", "\x0b", "\x1c", "٣", "²", "\u2003", "ж", "漢", "\u0301", "‿", "Ⅻ", "\U0001F600", "\u0085"}
	var out []string
	for _, l := range lines {
		rs := []rune(l)
		for k := 0; k < 1+r.IntN(3); k++ {
			i := r.IntN(len(rs) + 1)
			s := []rune(subs[r.IntN(len(subs))])
			if r.IntN(2) == 0 && i < len(rs) {
				rs = slices.Replace(rs, i, i+1, s...)
			} else {
				rs = slices.Insert(rs, i, s...)
			}
		}
		if l := string(rs); utf8.ValidString(l) {
			out = append(out, l)
		}
	}
	return out
}

type oracleReq struct {
	Basedir  string `json:"basedir"`
	Variants []struct {
		Name string            `json:"name"`
		Opts map[string]string `json:"opts"`
	} `json:"variants"`
	Lines []string `json:"lines"`
}

func TestFail2banAgainstPython(t *testing.T) {
	testkit.NeedFile(t, corpusFilterDir, "fail2ban")
	py := f2boracle.Python(t, "fail2ban.server.filter")
	zone, err := time.LoadLocation(corpusZone)
	if err != nil {
		testkit.Missing(t, "%v", err)
	}
	full := os.Getenv("LOGJAIL_F2B_ORACLE") == "full"
	lines := sampleLines(t)
	if full {
		lines = append(lines, unicodeVariants(lines)...)
	}
	entries, _ := os.ReadDir(corpusFilterDir)
	req := oracleReq{Basedir: "/etc/fail2ban", Lines: lines}
	optSets := []map[string]string{{}}
	if full {
		optSets = append(optSets, map[string]string{"mode": "aggressive"}, map[string]string{"mode": "ddos"},
			map[string]string{"mode": "extra"}, map[string]string{"logtype": "journal"}, map[string]string{"logtype": "short"})
	}
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".conf") || strings.HasSuffix(n, "common.conf") {
			continue
		}
		for _, o := range optSets {
			req.Variants = append(req.Variants, struct {
				Name string            `json:"name"`
				Opts map[string]string `json:"opts"`
			}{strings.TrimSuffix(n, ".conf"), o})
		}
	}
	var resp []struct {
		Error   string            `json:"error"`
		Results []json.RawMessage `json:"results"`
	}
	cmd := exec.Command(py, "-c", oracleFilterScript, fmt.Sprint(corpusNow))
	cmd.Env = append(os.Environ(), "TZ="+corpusZone)
	f2boracle.Run(t, cmd, req, &resp)
	now := time.Unix(corpusNow, 0)
	total, bad := 0, 0
	for vi, v := range req.Variants {
		if resp[vi].Error != "" {
			continue // fail2ban cannot read this variant either
		}
		cf, err := loadCorpusFilter(corpusFilterDir, v.Name, v.Opts)
		if err != nil {
			t.Errorf("%s%v: %v", v.Name, v.Opts, err)
			continue
		}
		m, err := Compile(v.Name, match.Rules{Dialect: match.DialectFail2ban, Prefregex: cf.Prefregex, Failregex: cf.Failregex,
			Ignoreregex: cf.Ignoreregex, Datepattern: cf.Datepattern, MaxLines: cf.MaxLines, Location: zone})
		if err != nil {
			t.Errorf("%s%v: %v", v.Name, v.Opts, err)
			continue
		}
		for i, line := range lines {
			total++
			e := ingest.Entry{Message: line, ReadAt: now}
			f, out := m.Match(&e, now)
			got, want := describeResult(f, out), describeOracle(resp[vi].Results[i])
			if got != want {
				bad++
				if bad <= 50 {
					t.Errorf("%s%v: %q\n    got  %s\n    want %s", v.Name, v.Opts, line, got, want)
				}
			}
		}
	}
	t.Logf("%d results compared with fail2ban, %d differ", total, bad)
}

func describeResult(f match.Failure, out match.Outcome) string {
	switch out {
	case match.Matched, match.NoAddress, match.BadAddress:
	default:
		return "none"
	}
	field := func(k string) string {
		if v, ok := f.Fields[k]; ok {
			return v
		}
		return "-"
	}
	users := "-"
	if len(f.Users) > 0 {
		users = strings.Join(f.Users, ",")
	}
	id := f.ID
	if f.Addr.IsValid() && (id == f.Fields["ip4"] || id == f.Fields["ip6"]) {
		id = f.Addr.String() // as fail2ban prints an address
	}
	tm := math.Round(float64(f.Time.UnixNano())/1e3) / 1e6
	return fmt.Sprintf("#%d id=%s t=%.6f user=%s ip4=%s ip6=%s dns=%s users=%s n=%d",
		f.Regex, id, tm, field("user"), field("ip4"), field("ip6"), field("dns"), users, f.Attempts)
}

func describeOracle(raw json.RawMessage) string {
	var r []any
	if string(raw) == "null" {
		return "none"
	}
	if json.Unmarshal(raw, &r) != nil || len(r) < 10 {
		return "oracle: " + string(raw)
	}
	str := func(v any) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprint(v)
	}
	users := "-"
	if us, ok := r[7].([]any); ok {
		var s []string
		for _, u := range us {
			s = append(s, fmt.Sprint(u))
		}
		sort.Strings(s)
		users = strings.Join(s, ",")
	}
	// A line without a date: fail2ban's test mode leaves the time unset,
	// logjail dates it now.
	tm := float64(corpusNow)
	if v, ok := r[2].(float64); ok {
		tm = v
	}
	if r[9] == true {
		return "nofail"
	}
	return fmt.Sprintf("#%v id=%s t=%.6f user=%s ip4=%s ip6=%s dns=%s users=%s n=%v",
		r[0], str(r[1]), tm, str(r[3]), str(r[4]), str(r[5]), str(r[6]), users, r[8])
}
