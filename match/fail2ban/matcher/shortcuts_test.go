package matcher

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/internal/f2bsample"
	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/match"
)

// withoutShortcuts turns off what the matcher skips work with (the
// failregexes' prefilter, the regexes' prefixes, programs split into
// paths), so that it runs every
// regex as fail2ban does.
func (f *Matcher) withoutShortcuts() {
	f.need = nil
	for _, r := range slices.Concat([]*f2bRegex{f.pref}, f.fail, f.ignore) {
		if r != nil {
			r.prefixes, r.need = nil, nil
			r.re = r.re.Whole()
		}
	}
}

// TestShortcutsChangeNothing runs every fail2ban filter (each variant its
// sample log is checked in) with and without the shortcuts over all of
// fail2ban's sample logs and a generated auth.log, and sshd also over the
// shared workload of issue 13 when it is there (LOGJAIL_BENCH_LOG, else
// /tmp/auth1m.log; not with -short or -race): outcome and failure must be
// the same line by line, and so must the counters.
func TestShortcutsChangeNothing(t *testing.T) {
	eachFilterVariant(t, sameWithoutShortcuts)
}

// eachFilterVariant runs check, as a subtest, on every fail2ban filter
// (each variant its sample log is checked in) with all of fail2ban's
// sample logs and a generated auth.log as lines, and for sshd the shared
// workload too (see benchWorkload).
func eachFilterVariant(t *testing.T, check func(t *testing.T, name string, opts map[string]string, lines []string)) {
	testkit.NeedFile(t, corpusFilterDir, "fail2ban")
	all := allSampleLines(t)
	if raceEnabled {
		// Every filter over every line is minutes under the race
		// detector: there each filter gets its own sample lines and a
		// 32nd of the others.
		all = everyNth(all, 32)
	}
	names, _ := filepath.Glob(filepath.Join(corpusFilterDir, "*.conf"))
	for _, path := range names {
		name := strings.TrimSuffix(filepath.Base(path), ".conf")
		if strings.HasSuffix(name, "common") {
			continue
		}
		lines := slices.Clip(all) // a filter's own lines are appended to a copy
		variants := map[string]map[string]string{"": nil}
		if sample, err := f2bsample.Read(corpusLogDir, name); err == nil {
			for _, l := range sample {
				for _, v := range l.Variants {
					variants[v.Key] = v.FilterOpts()
				}
				if raceEnabled {
					lines = append(lines, l.Text)
				}
			}
		}
		for key, opts := range variants {
			in := lines
			if name == "sshd" && key == "" {
				in = append(slices.Clone(lines), benchWorkload(t)...)
			}
			t.Run(name+key, func(t *testing.T) { check(t, name, opts, in) })
		}
	}
}

func sameWithoutShortcuts(t *testing.T, name string, opts map[string]string, lines []string) {
	fast, rules := compileVariant(t, name, opts)
	slow, _ := Compile(name, rules)
	slow.withoutShortcuts()
	for i, l := range lines {
		e := ingest.Entry{Message: l, ReadAt: variantNow}
		fs, outS := slow.Match(&e, variantNow)
		ff, outF := fast.Match(&e, variantNow)
		if outF != outS || !reflect.DeepEqual(ff, fs) {
			t.Fatalf("line %d %q: with the shortcuts %v %+v, without %v %+v", i, l, outF, ff, outS, fs)
		}
	}
	if !slices.Equal(fast.Hits(), slow.Hits()) || !reflect.DeepEqual(fast.DateHits(), slow.DateHits()) {
		t.Errorf("hits %v dates %v, without the shortcuts %v %v", fast.Hits(), fast.DateHits(), slow.Hits(), slow.DateHits())
	}
}

// variantNow is when the variants' lines are read: the workload's dates
// are in November.
var variantNow = time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)

// compileVariant compiles filter name with opts, and returns its rules
// (skips a filter logjail refuses: the corpus test's business).
func compileVariant(t *testing.T, name string, opts map[string]string) (*Matcher, match.Rules) {
	cf, err := loadCorpusFilter(corpusFilterDir, name, opts)
	if err != nil {
		t.Skip(err)
	}
	rules := match.Rules{Dialect: match.DialectFail2ban, Prefregex: cf.Prefregex, Failregex: cf.Failregex,
		Ignoreregex: cf.Ignoreregex, Datepattern: cf.Datepattern, MaxLines: cf.MaxLines, Location: time.UTC,
		Timeout: time.Minute} // a busy machine must not time a match out in one run only
	m, err := Compile(name, rules)
	if err != nil {
		t.Skip(err)
	}
	return m, rules
}

// allSampleLines are fail2ban's sample logs of every filter and a
// generated auth.log.
func allSampleLines(t *testing.T) []string {
	lines, err := f2bsample.AllLogLines()
	if len(lines) == 0 {
		testkit.Missing(t, "no fail2ban sample logs in %s (apt-get install fail2ban): %v", corpusLogDir, err)
	}
	return append(lines, testkit.AuthLog(1_000)...)
}

// benchWorkload is the shared workload's lines, when it is there and the
// tests are not short (nor under the race detector, which is too slow).
func benchWorkload(t *testing.T) []string {
	if testing.Short() || raceEnabled {
		return nil
	}
	lines, err := testkit.WorkloadLines()
	if err != nil {
		t.Logf("no workload: %v", err)
	}
	return lines
}

func everyNth(lines []string, n int) []string {
	var out []string
	for i := 0; i < len(lines); i += n {
		out = append(out, lines[i])
	}
	return out
}
