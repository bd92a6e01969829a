package fail2ban

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/logjail/logjail/internal/f2boracle"
)

// The oracle: fail2ban's own readers, run through python3 when fail2ban is
// installed, compute the same filters and jails; the tests compare.

// oraclePath makes Debian's fail2ban package importable by any python3.
const oraclePath = "import sys; sys.path.append('/usr/lib/python3/dist-packages'); "

// python finds a python3 that can import fail2ban, or skips.
func python(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	if err := exec.Command(py, "-c", oraclePath+"import fail2ban.client.jailreader").Run(); err != nil {
		t.Skipf("python3 cannot import fail2ban: %v", err)
	}
	return py
}

func runOracle(t *testing.T, script, basedir string, req, resp any) {
	t.Helper()
	py := python(t)
	f2boracle.Run(t, exec.Command(py, "-c", script, basedir), req, resp)
}

type oracleVariant struct {
	Name string
	Args map[string]string
}

// filterSettings is what fail2ban's server gets from a filter, in the
// oracle's JSON shape.
func filterSettings(f *Filter) map[string]any {
	if f == nil {
		f = &Filter{MaxLines: 1}
	}
	got := map[string]any{
		"prefregex": f.Prefregex, "failregex": f.Failregex, "ignoreregex": f.Ignoreregex,
		"datepattern": f.Datepattern, "maxlines": f.MaxLines, "journalmatch": f.JournalMatch,
	}
	js, _ := json.Marshal(got)
	var norm map[string]any
	_ = json.Unmarshal(js, &norm)
	for _, k := range []string{"failregex", "ignoreregex", "journalmatch"} {
		if norm[k] == nil {
			norm[k] = []any{}
		}
	}
	return norm
}

// compareFilterOracle loads each variant from basedir/filter.d with
// LoadFilter and with fail2ban, and reports differences; it returns how
// many were identical (errors on both sides count as identical).
func compareFilterOracle(t *testing.T, basedir string, vs []oracleVariant) int {
	t.Helper()
	var res []map[string]any
	runOracle(t, filterOracleScript, basedir, vs, &res)
	same := 0
	for i, v := range vs {
		want := res[i]
		label := v.Name + fmtArgs(v.Args)
		f, err := LoadFilter(filepath.Join(basedir, "filter.d", v.Name+".conf"), v.Args)
		if e, ok := want["error"]; ok {
			if err == nil {
				t.Errorf("%s: fail2ban fails (%v), we do not", label, e)
			} else {
				same++
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", label, err)
			continue
		}
		got := filterSettings(f)
		ok := true
		for k, w := range want {
			if !reflect.DeepEqual(got[k], w) {
				t.Errorf("%s: %s:\n got  %v\n want %v", label, k, got[k], w)
				ok = false
			}
		}
		if ok {
			same++
		}
	}
	return same
}

// compareJailOracle compares every jail under basedir (options and filter)
// with fail2ban's JailReader.
func compareJailOracle(t *testing.T, basedir string) (same, total int) {
	t.Helper()
	j, err := LoadJails(basedir)
	if err != nil {
		t.Fatal(err)
	}
	var res []struct {
		Error  string
		Opts   map[string]any
		Filter map[string]any
	}
	runOracle(t, jailOracleScript, basedir, j.Names(), &res)
	for i, n := range j.Names() {
		want := res[i]
		if want.Error != "" {
			t.Errorf("[%s]: fail2ban: %s", n, want.Error)
			continue
		}
		ok := true
		for k, w := range want.Opts {
			got, err := j.Value(n, k)
			if err != nil {
				if d, isDef := defaultOf(k); isDef && fmtPy(w) == d {
					continue
				}
				t.Errorf("[%s] %s: %v (fail2ban: %v)", n, k, err, w)
				ok = false
				continue
			}
			if fmtPy(w) != normalizeOpt(k, got) {
				t.Errorf("[%s] %s = %q, fail2ban %q", n, k, got, fmtPy(w))
				ok = false
			}
		}
		f, err := j.Filter(n)
		if err != nil {
			t.Errorf("[%s] filter: %v", n, err)
			continue
		}
		got := filterSettings(f)
		for k, w := range want.Filter {
			if !reflect.DeepEqual(got[k], w) {
				t.Errorf("[%s] filter %s:\n got  %v\n want %v", n, k, got[k], w)
				ok = false
			}
		}
		if ok {
			same++
		}
	}
	return same, len(j.Names())
}

func defaultOf(name string) (string, bool) {
	for _, o := range jailOptsAll {
		if o.name == name && o.def != nil {
			return *o.def, true
		}
	}
	return "", false
}

// fmtPy prints a JSON-decoded Python value as Python's str() would.
func fmtPy(v any) string {
	switch v := v.(type) {
	case bool:
		return map[bool]string{false: "False", true: "True"}[v]
	case float64:
		return strconv.Itoa(int(v))
	case string:
		return v
	}
	return ""
}

func normalizeOpt(name, v string) string {
	for _, o := range jailOptsAll {
		if o.name != name {
			continue
		}
		switch o.typ {
		case optBool:
			return map[bool]string{false: "False", true: "True"}[ParseBool(v)]
		case optInt:
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return strconv.Itoa(n)
		}
	}
	return v
}

// oracleCollect turns fail2ban's command stream for one jail into the
// settings the server ends up with.
const oracleCollect = `
def collect(stream, name):
    out = {'failregex': [], 'ignoreregex': [], 'prefregex': '', 'datepattern': '', 'maxlines': 1, 'journalmatch': []}
    for c in stream:
        if len(c) < 4 or c[1] != name:
            continue
        if c[0] == 'multi-set' and c[2] in ('addfailregex', 'addignoreregex'):
            out[c[2][3:]] += c[3]
        elif c[0] != 'set':
            continue
        elif c[2] in ('addfailregex', 'addignoreregex'):
            out[c[2][3:]].append(c[3])
        elif c[2] == 'addjournalmatch':
            if out['journalmatch']:
                out['journalmatch'].append('+')
            out['journalmatch'] += c[3:]
        elif c[2] in ('prefregex', 'datepattern', 'maxlines'):
            out[c[2]] = c[3]
    return out
`

// filterOracleScript reads each requested filter with fail2ban's
// FilterReader as a jail does (all options, backend auto).
const filterOracleScript = oraclePath + `
import json, logging
logging.disable(logging.CRITICAL)
from fail2ban.client.filterreader import FilterReader
` + oracleCollect + `
def load(v):
    try:
        r = FilterReader(v['Name'], 'jail', dict(v['Args'] or {}), share_config={}, basedir=sys.argv[1])
        if not r.read():
            return {'error': 'read failed'}
        r.applyAutoOptions('auto')
        r.getOptions({}, all=True)
        return collect(r.convert(), 'jail')
    except Exception as e:
        return {'error': repr(e)}

json.dump([load(v) for v in json.load(sys.stdin)], sys.stdout)
`

// jailOracleScript reads each jail with fail2ban's JailReader (forced
// enabled, so that its filter is read) and prints its options and the
// filter settings it would send to the server.
const jailOracleScript = oraclePath + `
import json, logging
logging.disable(logging.CRITICAL)
from fail2ban.client.jailreader import JailReader
` + oracleCollect + `
share = {}
def load(name):
    r = JailReader(name, force_enable=True, share_config=share, basedir=sys.argv[1])
    try:
        r.read()
        if not r.getOptions():
            return {'Error': str(r.options.get('config-error'))}
        stream = r.convert(allow_no_files=True)
    except Exception as e:
        return {'Error': repr(e)}
    opts = {k: v for k, v in r.options.items() if k != 'config-error' and v is not None}
    return {'Opts': opts, 'Filter': collect(stream, name)}

json.dump([load(n) for n in json.load(sys.stdin)], sys.stdout)
`

func fmtArgs(a map[string]string) string {
	if len(a) == 0 {
		return ""
	}
	var parts []string
	for k, v := range a {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return "[" + strings.Join(parts, ",") + "]"
}
