package pipelines

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/internal/f2bsample"
	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/match/filter"
)

// TestSSHDPublickeyAgreesWithFail2ban compares the shipped sshd filter
// with fail2ban's under each value of the publickey argument, on fail2ban's
// sshd sample (with its journal file). The sample's failJSON annotates only
// the default value (nofail), so each variant of the sample is given
// publickey=VALUE and the line's expectation is what fail2ban's own
// sshd.conf finds with that value, run by logjail's reproduction of
// fail2ban (match/fail2ban). The differences must be exactly those the
// filter file lists, as in TestShippedFiltersAgreeWithFail2ban (whose
// nofail result this repeats, a check of the expectations themselves).
func TestSSHDPublickeyAgreesWithFail2ban(t *testing.T) {
	testkit.NeedFile(t, f2bsample.LogDir, "fail2ban")
	base, f := readSampleAndFilter(t, "sshd")
	zone := fail2banTestZone(t)
	for _, value := range []string{"nofail", "invalid", "any", "ignore"} {
		t.Run(value, func(t *testing.T) {
			lines := withFail2banArg(t, base, "publickey", value, zone)
			a := compareWithFail2ban(t, "sshd", nil, f, lines)
			checkDifferences(t, "sshd", f.Fail2banDifferences, a.diffs)
			t.Logf("publickey=%s: %d checks, %d client_address, %.1f%% agree apart from those", value, a.checks, a.count(diffClient), 100*a.share())
		})
	}
}

// withFail2banArg returns the sample lines once per variant, each variant
// given the filter option key=value, and each line's expectation what
// fail2ban's filter file of the sample's name finds in that variant.
func withFail2banArg(t *testing.T, lines []f2bsample.Line, key, value string, zone *time.Location) []f2bsample.Line {
	t.Helper()
	now := time.Date(2005, 8, 14, 10, 0, 0, 0, time.UTC) // fail2ban's test "now"
	given := map[*f2bsample.Variant]*f2bsample.Variant{}
	oracles := map[*f2bsample.Variant]match.Matcher{}
	var out []f2bsample.Line
	for _, l := range lines {
		for _, v := range l.Variants {
			w := given[v]
			if w == nil {
				opts := maps.Clone(v.Opts)
				opts[key] = value
				w = &f2bsample.Variant{Key: v.Key + "[" + key + "=" + value + "]", Opts: opts}
				given[v] = w
				oracles[w] = fail2banOracle(t, l.File, w, zone)
			}
			e := ingest.Entry{Message: l.Text, ReadAt: now}
			if w.Opts["logtype"] == "journal" {
				e.Time = now
				if p, ok := w.Opts["test.prefix-line"].(string); ok {
					e.Message = p + l.Text
				}
			}
			fl, outcome := oracles[w].Match(&e, now)
			want := map[string]any{"match": outcome == match.Matched}
			if outcome == match.Matched {
				want["host"] = fl.ID
				if tm, ok := l.Want["time"]; ok {
					want["time"] = tm
				}
			}
			out = append(out, f2bsample.Line{File: l.File, Num: l.Num, Text: l.Text, Want: want, Variants: []*f2bsample.Variant{w}})
		}
	}
	return out
}

// fail2banOracle compiles fail2ban's filter file sshd.conf with variant
// v's filter options, dates without a zone in zone.
func fail2banOracle(t *testing.T, sample string, v *f2bsample.Variant, zone *time.Location) match.Matcher {
	t.Helper()
	var opts []string
	for _, k := range slices.Sorted(maps.Keys(v.FilterOpts())) {
		opts = append(opts, k+"="+v.FilterOpts()[k])
	}
	p := &Pipeline{Name: "oracle", what: "fail2ban's sshd " + v.Key}
	p.Match.Fail2ban = Text{S: filepath.Join(f2bsample.FilterDir, "sshd.conf") + "[" + strings.Join(opts, ", ") + "]"}
	_, rules, err := resolvePipelineFilter(p, ".")
	if err != nil {
		t.Fatalf("%s %s: %v", sample, v.Key, err)
	}
	rules.Location = zone
	m, err := filter.Compile("oracle", rules)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
