package pipelines

import (
	"cmp"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/f2bsample"
	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/match/fail2ban"
	"github.com/logjail/logjail/match/filter"
)

// partialCounterparts are shipped filters compared with fail2ban's filter
// of the same name in some of its modes only, while the rest is written.
var partialCounterparts = map[string][]string{}

// belowAgreementBar are shipped filters that do not yet agree with fail2ban
// on agreementBar of the checks, with the reason; the test fails when one
// of them reaches the bar (remove it then).
var belowAgreementBar = map[string]string{}

// notCompared are shipped filters whose fail2ban namesake reads another
// program's log, with the reason.
var notCompared = map[string]string{
	"recidive": "logjail's recidive reads logjail's own ban lines (or its ban events); fail2ban's reads fail2ban's log",
}

// agreementBar is the share of line × mode checks of fail2ban's sample
// log on which a shipped filter must agree with fail2ban's expectation.
const agreementBar = 0.99

// Kinds of a difference (see Fail2banDifference).
const (
	diffCounts  = "counts"
	diffMisses  = "misses"
	diffAddress = "address"
	diffMode    = "mode"
	diffTime    = "time"
	// diffEpoch is a TAI64N-dated line that fail2ban dates exactly
	// tai64nEpoch later: fail2ban reads the label as seconds since
	// 1970-01-01 00:00:00 TAI, while daemontools' multilog writes the Unix
	// time plus 10 and its tai64nlocal subtracts them again, as logjail
	// does. Both name the same instant of the line; such a check agrees
	// (the table counts it apart), any other time difference does not.
	diffEpoch = "tai64n_epoch"
)

// diffClient is a line where fail2ban's expected address is one text a
// client controls put into the line and logjail counts the address the
// program wrote (both are in the line): the product's first rule (never
// ban an address an attacker names) before agreement. Listed like the
// others; the bar does not hold it against the filter, the table shows it
// apart.
const diffClient = "client_address"

// tai64nEpoch is the offset between fail2ban's reading of a TAI64N label
// and tai64nlocal's.
const tai64nEpoch = 10 * time.Second

// TestShippedFiltersAgreeWithFail2ban runs fail2ban's installed sample log
// of each counterpart through the shipped filter, mode by mode (fail2ban's
// variant [mode=X] against the shipped filter's mode X; other options, such
// as logtype, in the same mode), and requires both to agree line by line:
// counted or not, and which address. fail2ban's expected result is the
// sample's own failJSON annotation. Disagreements are allowed only where the
// filter file lists them (fail2ban_differences), and each listed one must
// occur.
//
// One rule is general: fail2ban bans a host name by resolving it; logjail
// never resolves names (an attacker controls its DNS), so where fail2ban
// expects a name (or a text that is no address), the shipped filter must
// not count the line.
func TestShippedFiltersAgreeWithFail2ban(t *testing.T) {
	testkit.NeedFile(t, f2bsample.LogDir, "fail2ban")
	var table []agreement
	for _, name := range ShippedFilters() {
		if why, ok := notCompared[name]; ok {
			t.Logf("%s not compared: %s", name, why)
			continue
		}
		if _, err := os.Stat(filepath.Join(f2bsample.LogDir, name)); err != nil {
			t.Errorf("shipped filter %s: fail2ban has no sample log of that name to compare with", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			lines, f := readSampleAndFilter(t, name)
			a := compareWithFail2ban(t, name, partialCounterparts[name], f, lines)
			checkDifferences(t, name, f.Fail2banDifferences, a.diffs)
			why, below := belowAgreementBar[name]
			switch share := a.share(); {
			case share < agreementBar && !below:
				t.Errorf("agrees with fail2ban on %.1f%% of %d checks; the bar is %.0f%%", 100*share, a.checks, 100*agreementBar)
			case share >= agreementBar && below:
				t.Errorf("agrees on %.1f%% now: remove it from belowAgreementBar", 100*share)
			case below:
				t.Logf("below the bar (%.1f%%): %s", 100*share, why)
			}
			table = append(table, a)
		})
	}
	t.Log("\n" + agreementTable(table))
}

// readSampleAndFilter reads fail2ban's installed sample log of name and
// the shipped filter of that name.
func readSampleAndFilter(t *testing.T, name string) ([]f2bsample.Line, *FilterFile) {
	t.Helper()
	lines, err := f2bsample.Read(f2bsample.LogDir, name)
	if err != nil {
		t.Fatal(err)
	}
	f, err := (&decoder{}).loadFilter(".", name)
	if err != nil {
		t.Fatal(err)
	}
	return lines, f
}

// fail2banTestZone is the zone fail2ban's tests date their samples in.
func fail2banTestZone(t *testing.T) *time.Location {
	t.Helper()
	zone, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		t.Fatal(err)
	}
	return zone
}

// agreement is one filter's result against fail2ban's sample log.
type agreement struct {
	filter        string
	checks, lines int
	diffs         []difference
}

// share is the part of the checks on which both agree.
func (a agreement) share() float64 {
	n := 0
	for _, d := range a.diffs {
		if d.kind != diffMode && d.kind != diffEpoch && d.kind != diffClient {
			n++
		}
	}
	if a.checks == 0 {
		return 0
	}
	return float64(a.checks-n) / float64(a.checks)
}

// count is the number of checks of that kind of difference.
func (a agreement) count(kind string) int {
	n := 0
	for _, d := range a.diffs {
		if d.kind == kind {
			n++
		}
	}
	return n
}

// markClientAddresses turns the address differences listed as
// client_address into that kind, where both addresses are in the line as
// the line's text; another stays an address difference (and fails as not
// listed with its kind).
func markClientAddresses(sample string, listed []Fail2banDifference, diffs []difference) {
	client := map[string]bool{}
	for _, ld := range listed {
		if ld.Kind != diffClient {
			continue
		}
		for _, n := range ld.Lines {
			client[fmt.Sprintf("%s:%d", cmp.Or(ld.Sample, sample), n)] = true
		}
	}
	for i := range diffs {
		d := &diffs[i]
		if d.kind == diffAddress && client[fmt.Sprintf("%s:%d", d.file, d.line)] && bothIn(d.text, d.got, d.want) {
			d.kind = diffClient
		}
	}
}

// bothIn tells whether line holds a and b, two different addresses, each
// written as such.
func bothIn(line string, a, b netip.Addr) bool {
	if a == b || !a.IsValid() || !b.IsValid() {
		return false
	}
	has := func(x netip.Addr) bool {
		for _, w := range strings.FieldsFunc(line, func(r rune) bool { return !strings.ContainsRune("0123456789abcdefABCDEF.:", r) }) {
			if y, err := netip.ParseAddr(w); err == nil && y.Unmap() == x {
				return true
			}
		}
		return false
	}
	return has(a) && has(b)
}

func agreementTable(rows []agreement) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-20s %6s %6s %6s %6s %8s %7s\n", "filter", "lines", "checks", "differ", "client", "agree", "tai64n")
	var checks, differ, client, epoch int
	for _, a := range rows {
		n := a.checks - int(math.Round(a.share()*float64(a.checks)))
		c, e := a.count(diffClient), a.count(diffEpoch)
		checks, differ, client, epoch = checks+a.checks, differ+n, client+c, epoch+e
		fmt.Fprintf(&b, "%-20s %6d %6d %6d %6d %7.1f%% %7d\n", a.filter, a.lines, a.checks, n, c, 100*float64(a.checks-n-c)/float64(a.checks), e)
	}
	if checks > 0 {
		fmt.Fprintf(&b, "%-20s %6s %6d %6d %6d %7.1f%% %7d\n", "all", "", checks, differ, client, 100*float64(checks-differ-client)/float64(checks), epoch)
	}
	b.WriteString("differ: held against the bar; client: fail2ban's address is one client text put into the line, logjail counts the program's (client_address, not held against the bar); agree: neither; tai64n: the same instant, fail2ban dating the TAI64N label 10 s later (tai64n_epoch)\n")
	return b.String()
}

// difference is one line × mode where the shipped filter and fail2ban
// disagree.
type difference struct {
	file string
	line int
	mode string
	kind string
	text string
	why  string
	// got and want are the addresses of a difference of kind address.
	got, want netip.Addr
}

func (d difference) key() string { return fmt.Sprintf("%s:%d %s", d.file, d.line, d.mode) }

// compareWithFail2ban runs the sample lines through the shipped filter in
// each mode and returns every disagreement (and, as kind "mode", every
// fail2ban mode the shipped filter does not offer).
func compareWithFail2ban(t *testing.T, name string, onlyModes []string, f *FilterFile, lines []f2bsample.Line) agreement {
	t.Helper()
	offers := func(mode string) bool {
		_, ok := f.Modes[mode]
		return ok || mode == "normal" && len(f.Modes) == 0
	}
	now := time.Date(2005, 8, 14, 10, 0, 0, 0, time.UTC) // fail2ban's test "now"
	zone := fail2banTestZone(t)
	matchers := map[*f2bsample.Variant]match.Matcher{}
	var diffs []difference
	noMode := map[string]bool{}
	compared := 0
	seen := map[string]bool{}
	for _, l := range lines {
		for _, v := range l.Variants {
			mode := v.Mode()
			if _, set := v.Opts["mode"]; !set && f.DefaultMode.S != "" {
				mode = f.DefaultMode.S // fail2ban's filter's own default
			}
			if onlyModes != nil && !slices.Contains(onlyModes, mode) {
				continue
			}
			if !offers(mode) {
				if !noMode[mode] {
					noMode[mode] = true
					diffs = append(diffs, difference{file: name, mode: mode, kind: diffMode})
				}
				continue
			}
			m := matchers[v]
			if m == nil {
				args := sampleArgs(t, name, f, v)
				args["mode"] = mode
				m = compileRefInZone(t, FilterRef{Name: name, Args: args}, zone)
				matchers[v] = m
			}
			compared++
			seen[fmt.Sprint(l.File, l.Num)] = true
			e := sampleEntry(l, v, now)
			fl, out := m.Match(&e, now)
			if d, ok := judge(l, v, mode, fl, out, zone); ok {
				diffs = append(diffs, d)
			}
		}
	}
	if compared == 0 {
		t.Errorf("no line of fail2ban's %s sample compared", name)
	}
	return agreement{filter: name, checks: compared, lines: len(seen), diffs: diffs}
}

// judge compares the shipped filter's result on sample line l (in
// variant v, mode) with fail2ban's expectation: the difference, if any.
func judge(l f2bsample.Line, v *f2bsample.Variant, mode string, fl match.Failure, out match.Outcome, zone *time.Location) (difference, bool) {
	counted := out == match.Matched
	wantAddr, isAddr := netip.Addr{}, false
	wantID := wantID(l)
	if wantID != "" {
		if a, err := netip.ParseAddr(strings.Trim(wantID, "[]")); err == nil {
			wantAddr, isAddr = a.Unmap(), true
		}
	}
	// A failure annotated without any id (only its attempts) is
	// counted with an address not compared.
	anyAddr := wantID == "" && l.WantMatch()
	wantCounted := l.WantMatch() && (isAddr || anyAddr)
	d := difference{file: l.File, line: l.Num, mode: mode, text: l.Text}
	switch {
	case counted && !wantCounted:
		d.kind, d.why = diffCounts, fmt.Sprintf("logjail counts %s, fail2ban does not (want %v)", fl.Addr, l.Want)
	case !counted && wantCounted:
		d.kind, d.why = diffMisses, fmt.Sprintf("fail2ban counts %s, logjail does not (%s)", wantAddr, out)
	case counted && !anyAddr && fl.Addr != wantAddr:
		d.kind, d.why = diffAddress, fmt.Sprintf("logjail counts %s, fail2ban %s", fl.Addr, wantAddr)
		d.got, d.want = fl.Addr, wantAddr
	case counted && v.Opts["logtype"] != "journal" && isTAI64N(l.Text) && sameSecond(fl.Time.Add(tai64nEpoch), l.Want["time"], zone):
		d.kind, d.why = diffEpoch, "fail2ban dates the TAI64N label 10 s later than tai64nlocal"
	case counted && v.Opts["logtype"] != "journal" && !sameSecond(fl.Time, l.Want["time"], zone):
		d.kind, d.why = diffTime, fmt.Sprintf("logjail dates it %s, fail2ban %v", fl.Time.In(zone).Format(time.DateTime), l.Want["time"])
	default:
		return d, false
	}
	return d, true
}

// wantID is the failure id fail2ban's annotation expects: "host", else
// "ip4", else "ip6" (fail2ban's test checks each given); "" for none.
func wantID(l f2bsample.Line) string {
	if h := l.WantHost(); h != "" {
		return h
	}
	for _, k := range []string{"ip4", "ip6"} {
		if v, ok := l.Want[k].(string); ok && v != "" {
			return v
		}
	}
	return ""
}

// notArguments are fail2ban filter options of the samples that the
// shipped filters take no argument for, with the reason.
var notArguments = map[string]string{
	"mode":    "a mode is the shipped filter's mode",
	"logtype": "the shipped filters read a program's lines from a file and from the journal alike",
	"logging": "apache-auth's and guacamole's shipped filters read both log layouts (syslog or file; catalina or webapp) without being told",
}

// sampleArgs are the arguments fail2ban's sample variant v gives the
// filter (its filterOptions but those in notArguments), and, for an
// argument of the shipped filter whose default leaves its regexes out
// (exim-spam's honeypot), fail2ban's own default for it ([Init]), with
// which fail2ban's sample was run.
func sampleArgs(t *testing.T, name string, f *FilterFile, v *f2bsample.Variant) map[string]string {
	t.Helper()
	args := map[string]string{}
	for k, val := range v.FilterOpts() {
		if _, ok := notArguments[k]; !ok {
			args[k] = val
		}
	}
	for k, a := range f.Arguments {
		if _, set := args[k]; set || a.Default.S != "" || a.Empty.S != "" {
			continue
		}
		f2b, err := fail2ban.LoadFilter(filepath.Join(f2bsample.FilterDir, name+".conf"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if def := f2b.Values[k]; def != "" {
			args[k] = def
		}
	}
	return args
}

// compileRefInZone compiles a shipped filter reference with the zone of
// dates written without one set to zone.
func compileRefInZone(t *testing.T, r FilterRef, zone *time.Location) match.Matcher {
	t.Helper()
	_, rules, err := resolveFilterRef(fmt.Sprint(r.Name, r.Args), r, ".")
	if err != nil {
		t.Fatal(err)
	}
	rules.Location = zone
	m, err := filter.Compile("test", rules)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// isTAI64N tells whether line starts with an external TAI64N label.
func isTAI64N(line string) bool {
	if len(line) < 25 || line[0] != '@' {
		return false
	}
	for _, c := range line[1:25] {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// sameSecond tells whether got is the time of fail2ban's failJSON "time"
// (local time in zone, fractions ignored); a line without one agrees.
func sameSecond(got time.Time, want any, zone *time.Location) bool {
	s, ok := want.(string)
	if !ok {
		return true
	}
	s, _, _ = strings.Cut(s, ".")
	// "2006-1-2": fail2ban's postfix sample writes one "2005-03-7".
	w, err := time.ParseInLocation("2006-1-2T15:04:05", s, zone)
	if err != nil {
		return false
	}
	return got.Truncate(time.Second).Equal(w)
}

// checkDifferences requires got to be exactly the differences listed
// under fail2ban_differences (see checkListed).
func checkDifferences(t *testing.T, sample string, listed []Fail2banDifference, got []difference) {
	t.Helper()
	checkListed(t, "fail2ban_differences", sample, listed, got)
}

// checkListed requires got to be exactly the differences listed under the
// filter file's key. The address differences listed as client_address
// become that kind in got (see markClientAddresses).
func checkListed(t *testing.T, key, sample string, listed []Fail2banDifference, got []difference) {
	t.Helper()
	markClientAddresses(sample, listed, got)
	type entry struct {
		kind string
		used bool
		at   int // index in listed
	}
	allowed := map[string]*entry{}  // "file:line mode" → entry; mode "" = any
	modesOff := map[string]*entry{} // kind mode
	for i, ld := range listed {
		if ld.Reason == "" {
			t.Errorf("%s[%d]: no reason", key, i)
		}
		file := cmp.Or(ld.Sample, sample)
		switch ld.Kind {
		case diffMode:
			if len(ld.Lines) > 0 || len(ld.Modes) == 0 {
				t.Errorf("%s[%d]: kind mode names modes and no lines", key, i)
			}
			for _, m := range ld.Modes {
				modesOff[m] = &entry{kind: diffMode, at: i}
			}
			continue
		case diffCounts, diffMisses, diffAddress, diffTime, diffEpoch, diffClient:
		default:
			t.Errorf("%s[%d]: kind %q (want counts, misses, address, client_address, time, tai64n_epoch or mode)", key, i, ld.Kind)
			continue
		}
		if len(ld.Lines) == 0 {
			t.Errorf("%s[%d]: no lines", key, i)
		}
		modes := ld.Modes
		if len(modes) == 0 {
			modes = []string{""}
		}
		for _, n := range ld.Lines {
			for _, m := range modes {
				k := fmt.Sprintf("%s:%d %s", file, n, m)
				if allowed[k] != nil {
					t.Errorf("%s[%d]: %s listed twice", key, i, k)
				}
				allowed[k] = &entry{kind: ld.Kind, at: i}
			}
		}
	}
	sort.SliceStable(got, func(i, j int) bool { return got[i].file < got[j].file })
	for _, d := range got {
		if d.kind == diffMode {
			e := modesOff[d.mode]
			if e == nil {
				t.Errorf("fail2ban's sample exercises mode %q, which the filter does not offer: add the mode, or list it (kind: mode) with the reason", d.mode)
				continue
			}
			e.used = true
			continue
		}
		e := allowed[d.key()]
		if e == nil {
			e = allowed[fmt.Sprintf("%s:%d ", d.file, d.line)]
		}
		if e == nil || e.kind != d.kind {
			t.Errorf("%s: %s: %s, not listed in %s\n  %s", d.key(), d.kind, d.why, key, d.text)
			continue
		}
		e.used = true
	}
	for k, e := range allowed {
		if !e.used {
			t.Errorf("%s[%d]: %s (%s) does not occur: remove it", key, e.at, strings.TrimSpace(k), e.kind)
		}
	}
	for m, e := range modesOff {
		if !e.used {
			t.Errorf("%s[%d]: mode %q is offered or not exercised: remove it", key, e.at, m)
		}
	}
}

// TestJudgeTAI64NEpoch: only a TAI64N-dated line that fail2ban dates
// exactly tai64nEpoch later agrees on the instant; any other time
// difference is one.
func TestJudgeTAI64NEpoch(t *testing.T) {
	const tai = "@400000004c91b044077a9e94 imap-login: Aborted login"
	at := time.Date(2010, 9, 16, 5, 50, 50, 0, time.UTC)
	zone := fail2banTestZone(t)
	for _, c := range []struct {
		text, want, kind string
	}{
		{tai, "2010-09-16T07:51:00", diffEpoch},
		{tai, "2010-09-16T07:50:50", ""},
		{tai, "2010-09-16T07:51:01", diffTime},
		{tai, "2010-09-16T07:50:40", diffTime},
		{"Sep 16 07:50:50 imap-login: Aborted login", "2010-09-16T07:51:00", diffTime},
		{"@400000004c91b044077a9e9 short label", "2010-09-16T07:51:00", diffTime},
	} {
		l := f2bsample.Line{File: "s", Num: 1, Text: c.text, Want: map[string]any{"match": true, "host": "192.0.2.1", "time": c.want}}
		fl := match.Failure{Addr: netip.MustParseAddr("192.0.2.1"), Time: at}
		d, differs := judge(l, &f2bsample.Variant{}, "normal", fl, match.Matched, zone)
		if d.kind != c.kind || differs != (c.kind != "") {
			t.Errorf("%q want %s: kind %q (differs %v), want %q", c.text, c.want, d.kind, differs, c.kind)
		}
	}
}

// TestMarkClientAddresses: only an address difference listed as
// client_address, on a line holding both addresses, is one.
func TestMarkClientAddresses(t *testing.T) {
	line := "sshd[1]: Failed password for invalid user x from 192.0.2.1 port 2 ssh2: from 198.51.100.7 port 3 ssh2"
	a, b, c := netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("203.0.113.5")
	listed := []Fail2banDifference{{Lines: []int{1}, Kind: diffClient, Reason: "r"}}
	for _, tc := range []struct {
		name      string
		line      int
		kind      string
		got, want netip.Addr
		wantKind  string
	}{
		{"listed, both in the line", 1, diffAddress, a, b, diffClient},
		{"fail2ban's address not in the line", 1, diffAddress, a, c, diffAddress},
		{"not listed", 2, diffAddress, a, b, diffAddress},
		{"not an address difference", 1, diffMisses, netip.Addr{}, b, diffMisses},
		{"a prefix of an address is not it", 1, diffAddress, a, netip.MustParseAddr("192.0.2.12"), diffAddress},
	} {
		diffs := []difference{{file: "s", line: tc.line, kind: tc.kind, text: line, got: tc.got, want: tc.want}}
		markClientAddresses("s", listed, diffs)
		if diffs[0].kind != tc.wantKind {
			t.Errorf("%s: kind %q, want %q", tc.name, diffs[0].kind, tc.wantKind)
		}
	}
}
