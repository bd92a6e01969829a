package pipelines

import (
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/internal/f2bsample"
	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/match/fail2ban"
	"github.com/logjail/logjail/match/filter"
)

// TestShippedFiltersAgreeWithFail2banInEveryMode runs every line of
// fail2ban's sample log of each counterpart (annotated or not, with the
// files it adds) through fail2ban's own filter, compiled by logjail's
// fail2ban dialect, and through the shipped filter, in every mode
// fail2ban's filter has, and requires both to agree: counted or not, and
// which address. TestShippedFiltersAgreeWithFail2ban checks only the
// modes fail2ban's sample annotates; this one sees a mode that silently
// counts less (postfix's extra once counted SASL failures only).
//
// A difference must be listed in the filter file under
// fail2ban_mode_differences (or already under fail2ban_differences, with
// the same line, mode and kind); a listed one that does not occur fails.
// A line where fail2ban's filter yields a host name is none when the
// shipped filter does not count it: logjail resolves no names.
func TestShippedFiltersAgreeWithFail2banInEveryMode(t *testing.T) {
	testkit.NeedFile(t, f2bsample.LogDir, "fail2ban")
	zone := fail2banTestZone(t)
	var rows []modeRow
	for _, name := range ShippedFilters() {
		if _, ok := notCompared[name]; ok {
			continue
		}
		t.Run(name, func(t *testing.T) {
			lines, f := readSampleAndFilter(t, name)
			var diffs []difference
			for _, mode := range fail2banModes(t, name) {
				r := compareMode(t, name, mode, f, lines, zone)
				markClientAddresses(name, f.Fail2banDifferences, r.diffs)
				markClientAddresses(name, f.Fail2banModeDifferences, r.diffs)
				rows = append(rows, r)
				diffs = append(diffs, r.diffs...)
			}
			diffs = slices.DeleteFunc(diffs, func(d difference) bool { return listedIn(name, f.Fail2banDifferences, d) })
			checkListed(t, "fail2ban_mode_differences", name, f.Fail2banModeDifferences, diffs)
		})
	}
	t.Log("\n" + modeTable(rows))
}

// modeRow is one filter × mode of fail2ban's filter on its sample log.
type modeRow struct {
	filter, mode string
	// checks are line × variant checks; f2b and lj count the lines each
	// counted; hosts the lines fail2ban counts by a host name.
	checks, f2b, lj, hosts int
	diffs                  []difference
}

// modeRefRE finds a value naming a key by the mode, as <mdre-<mode>>.
var modeRefRE = regexp.MustCompile(`<([\w.-]+)-<mode>>`)

// fail2banModes returns the modes fail2ban's filter name has: X for each
// key PREFIX-X where a value names <PREFIX-<mode>>, and its default mode;
// [""] (its only behaviour) for a filter without modes.
func fail2banModes(t *testing.T, name string) []string {
	t.Helper()
	f2b, err := fail2ban.LoadFilter(filepath.Join(f2bsample.FilterDir, name+".conf"), nil)
	if err != nil {
		t.Fatal(err)
	}
	prefixes := map[string]bool{} // from the files: Values are resolved
	for _, file := range f2b.Files {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range modeRefRE.FindAllStringSubmatch(string(text), -1) {
			prefixes[m[1]] = true
		}
	}
	set := map[string]bool{} // a mode has a key under every prefix
	for k := range f2b.Values {
		for p := range prefixes {
			x, ok := strings.CutPrefix(k, p+"-")
			if !ok || !regexp.MustCompile(`^\w+$`).MatchString(x) {
				continue
			}
			all := true
			for q := range prefixes {
				_, has := f2b.Values[q+"-"+x]
				all = all && has
			}
			set[x] = all
		}
	}
	maps.DeleteFunc(set, func(_ string, all bool) bool { return !all })
	if len(set) == 0 {
		return []string{""}
	}
	if m := strings.TrimSpace(f2b.Values["mode"]); m != "" {
		set[m] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// compareMode runs every sample line, in each variant its annotations
// give (mode aside), through fail2ban's filter and the shipped one in mode
// ("" for each one's default).
func compareMode(t *testing.T, name, mode string, f *FilterFile, lines []f2bsample.Line, zone *time.Location) modeRow {
	t.Helper()
	r := modeRow{filter: name, mode: mode}
	if mode == "" {
		r.mode = "-"
	}
	if _, ok := f.Modes[mode]; mode != "" && !ok && (mode != "normal" || len(f.Modes) > 0) {
		r.diffs = []difference{{file: name, mode: mode, kind: diffMode}}
		return r
	}
	now := time.Date(2005, 8, 14, 10, 0, 0, 0, time.UTC) // fail2ban's test "now"
	variants := map[string]*f2bsample.Variant{}
	oracles, shipped := map[*f2bsample.Variant]match.Matcher{}, map[*f2bsample.Variant]match.Matcher{}
	for _, l := range lines {
		for _, v := range withoutMode(l.Variants, variants) {
			if oracles[v] == nil {
				oracles[v] = fail2banModeOracle(t, name, v, mode, zone)
				args := sampleArgs(t, name, f, v)
				if mode != "" {
					args["mode"] = mode
				}
				shipped[v] = compileRefInZone(t, FilterRef{Name: name, Args: args}, zone)
			}
			e1, e2 := sampleEntry(l, v, now), sampleEntry(l, v, now)
			ofl, oout := oracles[v].Match(&e1, now)
			sfl, sout := shipped[v].Match(&e2, now)
			if oout == match.Timeout || sout == match.Timeout {
				t.Errorf("%s:%d %s: a regex ran out of time (fail2ban's %v, logjail's %v)", l.File, l.Num, mode, oout, sout)
			}
			// fail2ban counts a failure whose id is no address too (it
			// resolves a host name).
			f2b := oout == match.Matched || oout == match.NoAddress || oout == match.BadAddress
			r.judge(l, f2b, ofl.ID, sout == match.Matched, sfl.Addr)
		}
	}
	return r
}

// judge records one check: fail2ban's filter counted (id) or not, the
// shipped one counted (addr) or not.
func (r *modeRow) judge(l f2bsample.Line, f2bCounted bool, id string, ljCounted bool, addr netip.Addr) {
	r.checks++
	want, err := netip.ParseAddr(strings.Trim(id, "[]"))
	want = want.Unmap()
	host := f2bCounted && err != nil
	if f2bCounted {
		r.f2b++
	}
	if ljCounted {
		r.lj++
	}
	d := difference{file: l.File, line: l.Num, mode: r.mode, text: l.Text}
	switch {
	case host && !ljCounted:
		r.hosts++
		return
	case ljCounted && !f2bCounted:
		d.kind, d.why = diffCounts, fmt.Sprintf("logjail counts %s, fail2ban's filter does not", addr)
	case !ljCounted && f2bCounted:
		d.kind, d.why = diffMisses, fmt.Sprintf("fail2ban's filter counts %s, logjail does not", id)
	case ljCounted && (host || addr != want):
		d.kind, d.why = diffAddress, fmt.Sprintf("logjail counts %s, fail2ban's filter %s", addr, id)
		d.got, d.want = addr, want
	default:
		return
	}
	r.diffs = append(r.diffs, d)
}

// withoutMode returns the variants of a line with the mode option left
// out, one pointer per set of options (kept in seen); a line no variant
// checks is read in fail2ban's default one.
func withoutMode(vs []*f2bsample.Variant, seen map[string]*f2bsample.Variant) []*f2bsample.Variant {
	if len(vs) == 0 {
		vs = []*f2bsample.Variant{{Opts: map[string]any{}}}
	}
	var out []*f2bsample.Variant
	for _, v := range vs {
		opts := maps.Clone(v.Opts)
		delete(opts, "mode")
		var keys []string
		for k, x := range opts {
			keys = append(keys, fmt.Sprintf("%s=%v", k, x))
		}
		slices.Sort(keys)
		key := strings.Join(keys, ",")
		w := seen[key]
		if w == nil {
			w = &f2bsample.Variant{Key: "[" + key + "]", Opts: opts}
			seen[key] = w
		}
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

// sampleEntry is line l as fail2ban's test feeds it in variant v: from a
// file, or as fail2ban's journal backend does: the entry's time, and the
// "host tag[pid]: " prefix it builds, when the sample has one.
func sampleEntry(l f2bsample.Line, v *f2bsample.Variant, now time.Time) ingest.Entry {
	e := ingest.Entry{Message: l.Text, ReadAt: now}
	if v.Opts["logtype"] == "journal" {
		e.Time = now
		if p, ok := v.Opts["test.prefix-line"].(string); ok {
			e.Message = p + l.Text
		}
	}
	return e
}

// fail2banModeOracle compiles fail2ban's filter file NAME.conf with
// variant v's filter options in mode ("" for its default), dates without
// a zone in zone.
func fail2banModeOracle(t *testing.T, name string, v *f2bsample.Variant, mode string, zone *time.Location) match.Matcher {
	t.Helper()
	opts := v.FilterOpts()
	if mode != "" {
		opts["mode"] = mode
	}
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(opts)) {
		kv = append(kv, k+"="+opts[k])
	}
	p := &Pipeline{Name: "oracle", what: "fail2ban's " + name + " " + strings.Join(kv, ",")}
	p.Match.Fail2ban = Text{S: filepath.Join(f2bsample.FilterDir, name+".conf") + "[" + strings.Join(kv, ", ") + "]"}
	_, rules, err := resolvePipelineFilter(p, ".")
	if err != nil {
		t.Fatalf("%s: %v", p.what, err)
	}
	rules.Location = zone
	m, err := filter.Compile("oracle", rules)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// listedIn tells whether listed (fail2ban_differences) already holds
// difference d: the same line (and mode, when it names modes) and kind.
func listedIn(sample string, listed []Fail2banDifference, d difference) bool {
	for _, ld := range listed {
		if ld.Kind != d.kind || (len(ld.Modes) > 0 && !slices.Contains(ld.Modes, d.mode)) {
			continue
		}
		if d.kind == diffMode {
			return true
		}
		if (ld.Sample == d.file || ld.Sample == "" && d.file == sample) && slices.Contains(ld.Lines, d.line) {
			return true
		}
	}
	return false
}

func modeTable(rows []modeRow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-20s %-10s %6s %6s %6s %6s %6s %6s\n", "filter", "mode", "checks", "f2b", "logjail", "differ", "client", "hosts")
	var checks, differ, client int
	for _, r := range rows {
		c := 0
		for _, d := range r.diffs {
			if d.kind == diffClient {
				c++
			}
		}
		n := len(r.diffs) - c
		checks, differ, client = checks+r.checks, differ+n, client+c
		note := ""
		if len(r.diffs) == 1 && r.diffs[0].kind == diffMode {
			note = "  (mode not offered)"
		}
		fmt.Fprintf(&b, "%-20s %-10s %6d %6d %6d %6d %6d %6d%s\n", r.filter, r.mode, r.checks, r.f2b, r.lj, n, c, r.hosts, note)
	}
	fmt.Fprintf(&b, "%-20s %-10s %6d %6s %6s %6d %6d\n", "all", "", checks, "", "", differ, client)
	b.WriteString("f2b, logjail: lines each counts; differ: listed differences (fail2ban_mode_differences or fail2ban_differences); client: of those, client_address; hosts: fail2ban counts a host name, logjail nothing\n")
	return b.String()
}

// TestFail2banModes: the modes found are those fail2ban's filter files
// name, whatever the key that selects them (mdre-, mdpr-, usrre-,
// apache-pref-ign-), and not a helper key under one prefix only
// (postfix's mdre-auth2).
func TestFail2banModes(t *testing.T) {
	testkit.NeedFile(t, f2bsample.FilterDir, "fail2ban")
	for _, c := range []struct {
		name string
		want []string
	}{
		{"postfix", []string{"aggressive", "auth", "ddos", "errors", "extra", "more", "normal", "rbl"}},
		{"freeswitch", []string{"ddos", "extra", "normal"}},
		{"sshd", []string{"aggressive", "ddos", "extra", "normal"}},
		{"apache-auth", []string{"aggressive", "normal"}},
		{"traefik-auth", []string{"aggressive", "ddos", "normal"}},
		{"3proxy", []string{""}},
	} {
		if got := fail2banModes(t, c.name); !slices.Equal(got, c.want) {
			t.Errorf("%s: modes %q, want %q", c.name, got, c.want)
		}
	}
}

// TestModeRowJudge: counted or not and which address decide; a host name
// fail2ban counts is no difference when logjail counts nothing.
func TestModeRowJudge(t *testing.T) {
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for _, c := range []struct {
		name      string
		f2b       bool
		id        string
		lj        bool
		addr      netip.Addr
		kind      string
		hosts     int
		f2bN, ljN int
	}{
		{"both count the same address", true, "192.0.2.1", true, a, "", 0, 1, 1},
		{"fail2ban's id in brackets, IPv4-mapped", true, "[::ffff:192.0.2.1]", true, a, "", 0, 1, 1},
		{"neither counts", false, "", false, netip.Addr{}, "", 0, 0, 0},
		{"other addresses", true, "192.0.2.1", true, b, diffAddress, 0, 1, 1},
		{"logjail only", false, "", true, a, diffCounts, 0, 0, 1},
		{"fail2ban only", true, "192.0.2.1", false, netip.Addr{}, diffMisses, 0, 1, 0},
		{"a host name logjail does not count", true, "mail.example.com", false, netip.Addr{}, "", 1, 1, 0},
		{"a host name logjail counts an address for", true, "mail.example.com", true, a, diffAddress, 0, 1, 1},
	} {
		r := modeRow{mode: "normal"}
		r.judge(f2bsample.Line{File: "s", Num: 1}, c.f2b, c.id, c.lj, c.addr)
		kind := ""
		if len(r.diffs) == 1 {
			kind = r.diffs[0].kind
		}
		if kind != c.kind || len(r.diffs) > 1 || r.hosts != c.hosts || r.f2b != c.f2bN || r.lj != c.ljN || r.checks != 1 {
			t.Errorf("%s: kind %q, hosts %d, counted %d/%d, want %q, %d, %d/%d", c.name, kind, r.hosts, r.f2b, r.lj, c.kind, c.hosts, c.f2bN, c.ljN)
		}
	}
}

// TestListedIn: a difference fail2ban_differences already lists (same
// sample, line, kind, and mode when it names modes) needs no second entry.
func TestListedIn(t *testing.T) {
	listed := []Fail2banDifference{
		{Lines: []int{3}, Kind: diffMisses, Reason: "r"},
		{Sample: "x-journal", Lines: []int{4}, Modes: []string{"ddos"}, Kind: diffCounts, Reason: "r"},
		{Modes: []string{"fallback"}, Kind: diffMode, Reason: "r"},
	}
	for _, c := range []struct {
		name string
		d    difference
		want bool
	}{
		{"the same line, any mode", difference{file: "x", line: 3, mode: "extra", kind: diffMisses}, true},
		{"another kind", difference{file: "x", line: 3, mode: "extra", kind: diffCounts}, false},
		{"another line", difference{file: "x", line: 5, mode: "normal", kind: diffMisses}, false},
		{"another sample", difference{file: "x-journal", line: 3, mode: "normal", kind: diffMisses}, false},
		{"the sample and mode named", difference{file: "x-journal", line: 4, mode: "ddos", kind: diffCounts}, true},
		{"a mode not named", difference{file: "x-journal", line: 4, mode: "normal", kind: diffCounts}, false},
		{"a mode listed as not offered", difference{file: "x", mode: "fallback", kind: diffMode}, true},
		{"another mode not offered", difference{file: "x", mode: "auth", kind: diffMode}, false},
	} {
		if got := listedIn("x", listed, c.d); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
