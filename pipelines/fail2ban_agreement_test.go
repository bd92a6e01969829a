package pipelines

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/internal/f2bsample"
	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/match"
)

// fail2banCounterparts pairs each shipped filter with the fail2ban filter
// that does the same job, and the fail2ban modes compared (nil: every
// mode fail2ban's sample exercises).
var fail2banCounterparts = []struct {
	shipped, fail2ban string
	modes             []string
}{
	{"sshd", "sshd", nil},
	{"nginx-http-auth", "nginx-http-auth", nil},
	{"nginx-limit-req", "nginx-limit-req", nil},
	{"nginx-botsearch", "nginx-botsearch", nil},
	{"apache-auth", "apache-auth", nil},
	{"postfix", "postfix", []string{"auth"}},
	{"dovecot", "dovecot", nil},
	{"vsftpd", "vsftpd", nil},
}

// Kinds of a difference (see Fail2banDifference).
const (
	diffCounts  = "counts"
	diffMisses  = "misses"
	diffAddress = "address"
	diffMode    = "mode"
)

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
	for _, cp := range fail2banCounterparts {
		t.Run(cp.shipped, func(t *testing.T) {
			lines, err := f2bsample.Read(f2bsample.LogDir, cp.fail2ban)
			if err != nil {
				t.Fatal(err)
			}
			f, err := (&decoder{}).loadFilter(".", cp.shipped)
			if err != nil {
				t.Fatal(err)
			}
			got := compareWithFail2ban(t, cp.shipped, cp.fail2ban, cp.modes, f, lines)
			checkDifferences(t, cp.fail2ban, f.Fail2banDifferences, got)
		})
	}
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
}

func (d difference) key() string { return fmt.Sprintf("%s:%d %s", d.file, d.line, d.mode) }

// compareWithFail2ban runs the sample lines through the shipped filter in
// each mode and returns every disagreement (and, as kind "mode", every
// fail2ban mode the shipped filter does not offer).
func compareWithFail2ban(t *testing.T, shipped, f2b string, onlyModes []string, f *FilterFile, lines []f2bsample.Line) []difference {
	t.Helper()
	offers := func(mode string) bool {
		_, ok := f.Modes[mode]
		return ok || mode == "normal" && len(f.Modes) == 0
	}
	now := time.Date(2005, 8, 14, 10, 0, 0, 0, time.UTC) // fail2ban's test "now"
	matchers := map[*f2bsample.Variant]match.Matcher{}
	var diffs []difference
	noMode := map[string]bool{}
	compared := 0
	for _, l := range lines {
		for _, v := range l.Variants {
			mode := v.Mode()
			if onlyModes != nil && !slices.Contains(onlyModes, mode) {
				continue
			}
			if !offers(mode) {
				if !noMode[mode] {
					noMode[mode] = true
					diffs = append(diffs, difference{file: f2b, mode: mode, kind: diffMode})
				}
				continue
			}
			m := matchers[v]
			if m == nil {
				var err error
				m, _, err = ResolveFilter(shipped+"[mode="+mode+"]", ".")
				if err != nil {
					t.Fatal(err)
				}
				matchers[v] = m
			}
			compared++
			e := ingest.Entry{Message: l.Text, ReadAt: now}
			if v.Opts["logtype"] == "journal" {
				e.Time = now
			}
			fl, out := m.Match(&e, now)
			counted := out == match.Matched
			wantAddr, isAddr := netip.Addr{}, false
			if h := l.WantHost(); h != "" {
				if a, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
					wantAddr, isAddr = a.Unmap(), true
				}
			}
			wantCounted := l.WantMatch() && isAddr
			d := difference{file: l.File, line: l.Num, mode: mode, text: l.Text}
			switch {
			case counted && !wantCounted:
				d.kind, d.why = diffCounts, fmt.Sprintf("logjail counts %s, fail2ban does not (want %v)", fl.Addr, l.Want)
			case !counted && wantCounted:
				d.kind, d.why = diffMisses, fmt.Sprintf("fail2ban counts %s, logjail does not (%s)", wantAddr, out)
			case counted && fl.Addr != wantAddr:
				d.kind, d.why = diffAddress, fmt.Sprintf("logjail counts %s, fail2ban %s", fl.Addr, wantAddr)
			default:
				continue
			}
			diffs = append(diffs, d)
		}
	}
	if compared == 0 {
		t.Errorf("no line of fail2ban's %s sample compared", f2b)
	}
	t.Logf("%d line×mode checks against fail2ban's %s, %d differences", compared, f2b, len(diffs))
	return diffs
}

// checkDifferences requires got to be exactly the differences listed.
func checkDifferences(t *testing.T, sample string, listed []Fail2banDifference, got []difference) {
	t.Helper()
	type entry struct {
		kind string
		used bool
		at   int // index in listed
	}
	allowed := map[string]*entry{}  // "file:line mode" → entry; mode "" = any
	modesOff := map[string]*entry{} // kind mode
	for i, ld := range listed {
		if ld.Reason == "" {
			t.Errorf("fail2ban_differences[%d]: no reason", i)
		}
		file := cmp.Or(ld.Sample, sample)
		switch ld.Kind {
		case diffMode:
			if len(ld.Lines) > 0 || len(ld.Modes) == 0 {
				t.Errorf("fail2ban_differences[%d]: kind mode names modes and no lines", i)
			}
			for _, m := range ld.Modes {
				modesOff[m] = &entry{kind: diffMode, at: i}
			}
			continue
		case diffCounts, diffMisses, diffAddress:
		default:
			t.Errorf("fail2ban_differences[%d]: kind %q (want counts, misses, address or mode)", i, ld.Kind)
			continue
		}
		if len(ld.Lines) == 0 {
			t.Errorf("fail2ban_differences[%d]: no lines", i)
		}
		modes := ld.Modes
		if len(modes) == 0 {
			modes = []string{""}
		}
		for _, n := range ld.Lines {
			for _, m := range modes {
				k := fmt.Sprintf("%s:%d %s", file, n, m)
				if allowed[k] != nil {
					t.Errorf("fail2ban_differences[%d]: %s listed twice", i, k)
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
			t.Errorf("%s: %s: %s, not listed in fail2ban_differences\n  %s", d.key(), d.kind, d.why, d.text)
			continue
		}
		e.used = true
	}
	for k, e := range allowed {
		if !e.used {
			t.Errorf("fail2ban_differences[%d]: %s (%s) does not occur: remove it", e.at, strings.TrimSpace(k), e.kind)
		}
	}
	for m, e := range modesOff {
		if !e.used {
			t.Errorf("fail2ban_differences[%d]: mode %q is offered or not exercised: remove it", e.at, m)
		}
	}
}
