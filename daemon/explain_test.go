package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/state"
)

// explainYAML is the explain tests' configuration: pipeline p bans after 3
// failures matched by either of two failregexes, counting IPv6 failures by
// /64, ignoring 192.0.2.0/24; pipeline q (ban time bantimeQ) after 2.
func explainYAML(dir, bantimeQ string) string {
	return "pipelines:\n" +
		"  p:\n    enabled: true\n    maxretry: 3\n    findtime: 1h\n    ipv6_prefix: 64\n    ignoreip: [192.0.2.0/24]\n" +
		"    ingest: [{file: {paths: [" + filepath.Join(dir, "p.log") + "]}}]\n" +
		"    match: {failregex: ['^denied <HOST>$', '^refused <HOST>$']}\n" +
		"  q:\n    enabled: true\n    maxretry: 2\n    bantime: " + bantimeQ + "\n" +
		"    ingest: [{file: {paths: [" + filepath.Join(dir, "q.log") + "]}}]\n" +
		"    match: {failregex: ['^denied <HOST>$']}\n"
}

// startExplainDaemon runs the daemon on yaml (explainYAML's pipelines p
// and q) once both follow their logs: a file source starts at the end of
// a file it opens first, so lines appended before it opened would not be
// read. The logs are created empty if missing (a restart keeps them).
func startExplainDaemon(t *testing.T, dir, yaml string) (*Client, func()) {
	t.Helper()
	for _, name := range []string{"p.log", "q.log"} {
		addLines(t, dir, name)
	}
	cl, stop := startDaemon(t, dir, Options{Config: loadConfig(t, dir, yaml)})
	testkit.WaitFor(t, 10*time.Second, func() error {
		for _, p := range []string{"p", "q"} {
			st, err := cl.PipelineStatus(context.Background(), p)
			if err != nil {
				return err
			}
			if len(st.Sources) != 1 || st.Sources[0].State != "reading" {
				return fmt.Errorf("pipeline %s not reading yet: %+v", p, st.Sources)
			}
		}
		return nil
	})
	return cl, stop
}

// addLines appends lines, undated, to dir/name (none: creates it).
func addLines(t *testing.T, dir, name string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if len(lines) == 0 {
		return
	}
	if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		t.Fatal(err)
	}
}

// explainOf asks for addr's explanation until cond accepts it.
func explainOf(t *testing.T, cl *Client, addr, pipeline string, cond func(Explanation) error) Explanation {
	t.Helper()
	var e Explanation
	testkit.WaitFor(t, 10*time.Second, func() error {
		var err error
		if e, err = cl.Explain(context.Background(), addr, pipeline); err != nil {
			return err
		}
		return cond(e)
	})
	return e
}

// lineSummary is a line as "regex text counted".
func lineSummary(ls []ExplainedLine) []string {
	out := []string{}
	for _, l := range ls {
		re := "-"
		if l.Regex != nil {
			re = fmt.Sprint(*l.Regex)
		}
		out = append(out, fmt.Sprintf("%s %s %s %v", re, l.RegexText, l.Text, l.Counted))
	}
	return out
}

// A ban after 3 failures lists the 3 lines, the failregex that matched
// each, and the window that counted them; an address of the /64 banned
// is explained by the prefix's ban; an address failing once is counting.
func TestExplainBan(t *testing.T) {
	dir := t.TempDir()
	cl, stop := startExplainDaemon(t, dir, explainYAML(dir, "1h"))
	defer stop()
	addLines(t, dir, "p.log", "denied 2001:db8:1:2::5", "refused 2001:db8:1:2::5", "denied 2001:db8:1:2::6", "denied 203.0.113.9")
	e := explainOf(t, cl, "2001:db8:1:2::7", "p", func(e Explanation) error {
		if !e.Banned || len(e.Pipelines[0].History) == 0 { // the history is written with the commit
			return fmt.Errorf("not banned and stored yet: %+v", e)
		}
		return nil
	})
	if len(e.Pipelines) != 1 || len(e.Pipelines[0].Bans) != 1 {
		t.Fatalf("explanation %+v; want one pipeline with one ban", e)
	}
	b := e.Pipelines[0].Bans[0]
	want := []string{
		"0 ^denied <HOST>$ denied 2001:db8:1:2::5 true",
		"1 ^refused <HOST>$ refused 2001:db8:1:2::5 true",
		"0 ^denied <HOST>$ denied 2001:db8:1:2::6 true",
	}
	if got := lineSummary(b.Lines); !slices.Equal(got, want) {
		t.Errorf("lines %q; want %q", got, want)
	}
	if b.Addr != "2001:db8:1:2::/64" || b.DecidedBy != "failures" || b.Failures != 3 || b.BanTime != "10m" || b.LinesForgotten != 0 {
		t.Errorf("ban %+v", b)
	}
	if w := b.Window; w == nil || w.MaxRetry != 3 || w.FindTime != "1h" || len(w.Counted) != 3 || w.Counted[0].After(w.Counted[2]) {
		t.Errorf("window %+v; want maxretry 3, findtime 1h and the 3 failure times", w)
	}
	if h := e.Pipelines[0].History; len(h) != 1 || h[0].Addr != "2001:db8:1:2::/64" || h[0].BanCount != 1 || len(h[0].Lines) != 3 {
		t.Errorf("history %+v; want the ban's record with its lines", h)
	}
	if e.Pipelines[0].HistoryKept != "1d" || e.Pipelines[0].Gate != "" {
		t.Errorf("history kept %q, gate %q", e.Pipelines[0].HistoryKept, e.Pipelines[0].Gate)
	}

	e = explainOf(t, cl, "203.0.113.9", "", func(Explanation) error { return nil })
	if e.Banned || len(e.Pipelines) != 2 {
		t.Fatalf("203.0.113.9: %+v; want not banned, both pipelines told", e)
	}
	p, q := e.Pipelines[0], e.Pipelines[1]
	if p.Failures != 1 || p.MaxRetry != 3 || p.Counting != "203.0.113.9" || !slices.Equal(lineSummary(p.Lines), []string{"0 ^denied <HOST>$ denied 203.0.113.9 true"}) {
		t.Errorf("p: %+v; want 1 failure of 3 with its line", p)
	}
	if q.Pipeline != "q" || q.Failures != 0 || len(q.Lines) != 0 || len(q.Bans) != 0 || len(q.History) != 0 {
		t.Errorf("q: %+v; want nothing", q)
	}
}

// A ban that expired is explained by the history, with its lines while
// they are kept; an ignoreip address gets the gate's reason and its
// failures are not counted; a manual ban has no lines.
func TestExplainPast(t *testing.T) {
	dir := t.TempDir()
	cl, stop := startExplainDaemon(t, dir, explainYAML(dir, "1s"))
	defer stop()
	ctx := context.Background()
	addLines(t, dir, "q.log", "denied 198.51.100.4", "denied 198.51.100.4")
	explainOf(t, cl, "198.51.100.4", "q", func(e Explanation) error {
		if e.Banned || len(e.Pipelines[0].History) == 0 {
			return fmt.Errorf("not banned and expired yet: %+v", e)
		}
		return nil
	})
	e, err := cl.Explain(ctx, "198.51.100.4", "q")
	if err != nil {
		t.Fatal(err)
	}
	h := e.Pipelines[0].History[0]
	if h.BanCount != 1 || h.BanTime != "1s" || h.Until == nil || h.Until.After(time.Now()) || len(h.Lines) != 2 || *h.Lines[1].Regex != 0 {
		t.Errorf("history %+v; want the expired ban with its 2 lines", h)
	}

	addLines(t, dir, "p.log", "denied 192.0.2.8", "denied 192.0.2.8", "denied 192.0.2.8", "denied 198.51.100.77")
	e = explainOf(t, cl, "198.51.100.77", "p", func(e Explanation) error {
		if e.Pipelines[0].Failures != 1 {
			return fmt.Errorf("the last line is not counted yet: %+v", e)
		}
		return nil
	})
	e, err = cl.Explain(ctx, "192.0.2.8", "p")
	if err != nil {
		t.Fatal(err)
	}
	if p := e.Pipelines[0]; e.Banned || p.Gate != "ignoreip" || !strings.Contains(p.GateText, "ignoreip") || p.Failures != 0 || len(p.Lines) != 3 || p.Lines[2].Counted {
		t.Errorf("an ignoreip address: %+v; want the gate's reason, its lines, none counted", p)
	}

	if _, err := cl.Ban(ctx, BanRequest{Pipeline: "p", Addr: "198.51.100.5"}); err != nil {
		t.Fatal(err)
	}
	e, err = cl.Explain(ctx, "198.51.100.5", "")
	if err != nil {
		t.Fatal(err)
	}
	if b := e.Pipelines[0].Bans; !e.Banned || len(b) != 1 || b[0].DecidedBy != "manual" || len(b[0].Lines) != 0 || b[0].Window != nil || b[0].LinesForgotten != 0 {
		t.Errorf("a manual ban: %+v", e)
	}
	if _, err := cl.Explain(ctx, "198.51.100.5", "nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("an unknown pipeline: %v", err)
	}
	if _, err := cl.Explain(ctx, "198.51.100.0/24", ""); err == nil {
		t.Error("a prefix is explained")
	}
}

// A line's failregex is named while the filter has it; a line matched by
// a failregex since changed, one recognised before the filter and one
// without a mark say so.
func TestExplainLines(t *testing.T) {
	at := time.Unix(1700000000, 0)
	regexes := []string{"^a <HOST>$", "^b <HOST>$"}
	marks := []state.LineMark{
		{Time: at, Regex: 1, RegexSum: state.RegexSum("^b <HOST>$")},
		{Time: at, Regex: 0, RegexSum: state.RegexSum("^old <HOST>$")},
		{Time: at.Add(-2 * time.Hour), Regex: 5, RegexSum: 1},
		{Time: at, Regex: state.NoRegex},
		{},
	}
	got := explainLines([]string{"b", "old", "gone", "fleet", "unknown"}, marks, regexes, func(t time.Time) bool { return !t.Before(at.Add(-time.Hour)) })
	for i, tc := range []struct {
		regex                      int // -1: null
		text                       string
		changed, recognised, timed bool
		counted                    bool
	}{
		{1, "^b <HOST>$", false, false, true, true},
		{0, "", true, false, true, true},
		{5, "", true, false, true, false},
		{-1, "", false, true, true, true},
		{-1, "", false, false, false, false},
	} {
		l := got[i]
		regex := -1
		if l.Regex != nil {
			regex = *l.Regex
		}
		if regex != tc.regex || l.RegexText != tc.text || l.FilterChanged != tc.changed || l.Recognised != tc.recognised || (l.Time != nil) != tc.timed || l.Counted != tc.counted {
			t.Errorf("line %d: %+v; want %+v", i, l, tc)
		}
	}
}

// After a restart a ban decided before is "restored", its lines forgotten
// and counted; a failing address's lines come back from the store with
// their marks, and one matched by a failregex the new configuration
// changed says so.
func TestExplainRestart(t *testing.T) {
	dir := t.TempDir()
	cl, stop := startExplainDaemon(t, dir, explainYAML(dir, "1h"))
	addLines(t, dir, "q.log", "denied 198.51.100.4", "denied 198.51.100.4")
	addLines(t, dir, "p.log", "denied 203.0.113.9", "refused 203.0.113.9")
	explainOf(t, cl, "203.0.113.9", "p", func(e Explanation) error {
		if e.Pipelines[0].Failures != 2 {
			return fmt.Errorf("not counted yet: %+v", e)
		}
		return nil
	})
	explainOf(t, cl, "198.51.100.4", "q", func(e Explanation) error {
		if len(e.Pipelines[0].History) == 0 {
			return fmt.Errorf("not banned and stored yet: %+v", e)
		}
		return nil
	})
	stop()

	swapped := strings.Replace(explainYAML(dir, "1h"), "['^denied <HOST>$', '^refused <HOST>$']", "['^refused <HOST>$', '^denied <HOST>$']", 1)
	cl, stop = startExplainDaemon(t, dir, swapped)
	defer stop()
	ctx := context.Background()
	e, err := cl.Explain(ctx, "198.51.100.4", "q")
	if err != nil {
		t.Fatal(err)
	}
	if b := e.Pipelines[0].Bans; len(b) != 1 || b[0].DecidedBy != "restored" || b[0].Window != nil || len(b[0].Lines) != 0 || b[0].LinesForgotten != 2 {
		t.Errorf("a ban restored at start: %+v", e)
	}
	e, err = cl.Explain(ctx, "203.0.113.9", "p")
	if err != nil {
		t.Fatal(err)
	}
	p := e.Pipelines[0]
	if len(p.Lines) != 2 || p.Failures != 2 {
		t.Fatalf("a failing address after a restart: %+v", p)
	}
	denied, refused := p.Lines[0], p.Lines[1]
	if denied.Regex == nil || *denied.Regex != 0 || !denied.FilterChanged || denied.RegexText != "" || denied.Time == nil || !denied.Counted {
		t.Errorf("a line of a failregex since changed: %+v", denied)
	}
	if refused.Regex == nil || *refused.Regex != 1 || !refused.FilterChanged {
		t.Errorf("a line of a failregex moved to another index: %+v", refused)
	}
}

// The evidence of bans is bounded by its lines, the oldest ban's
// forgotten first; a prefix banned again keeps the later ban's only.
func TestBanEvidenceBound(t *testing.T) {
	at := time.Unix(1700000000, 0)
	b := newBanEvidence(at)
	pol := state.Policy{MaxRetry: 2, FindTime: time.Minute}
	ban := func(i int, when time.Time) state.Decision {
		return state.Decision{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 32), Time: when}
	}
	lines := []string{"x", "y"}
	for i := range evidenceLines / 2 {
		b.keep(ban(i, at), pol, lines, nil)
	}
	b.keep(ban(1, at.Add(time.Second)), pol, lines, nil) // banned again: as many lines
	b.keep(ban(evidenceLines/2, at), pol, lines, nil)    // 2 lines too many: 0, the oldest, goes
	if _, ok := b.of(ban(0, at).Prefix, at); ok {
		t.Error("the oldest ban's evidence is kept past the bound")
	}
	if _, ok := b.of(ban(1, at).Prefix, at); ok {
		t.Error("a replaced ban's evidence is found")
	}
	if ev, ok := b.of(ban(1, at).Prefix, at.Add(time.Second)); !ok || ev.maxRetry != 2 || len(ev.lines) != 2 {
		t.Errorf("the later ban's evidence: %+v, %v", ev, ok)
	}
	if _, ok := b.of(ban(2, at).Prefix, at); !ok || b.lines > evidenceLines || len(b.order) > 2*len(b.byKey)+64 {
		t.Errorf("evidence of %d bans, %d lines, %d in order", len(b.byKey), b.lines, len(b.order))
	}
	again := newBanEvidence(at)
	for i := range 1000 {
		again.keep(ban(7, at.Add(time.Duration(i)*time.Second)), pol, lines, nil)
	}
	if len(again.byKey) != 1 || again.lines != 2 || len(again.order) > 66 {
		t.Errorf("one prefix banned 1000 times: %d bans, %d lines, %d in order", len(again.byKey), again.lines, len(again.order))
	}
}

// An address logjail set addignoreip keeps from bans is told so by
// explain and by a refused ban, with the set that lifts it: no file holds
// it, so "remove it there" would send its reader to the wrong place.
// (explainYAML's p ignores 192.0.2.0/24 in its configuration.)
func TestExplainRunTimeIgnoreIP(t *testing.T) {
	dir := t.TempDir()
	cl, stop := startExplainDaemon(t, dir, explainYAML(dir, "1h"))
	defer stop()
	ctx := context.Background()
	for _, step := range []struct {
		name, set, value string // logjail set p SET VALUE first, unless ""
		addr, want       string // the gate's text; "" for none
	}{
		{"configured", "", "", "192.0.2.7", "192.0.2.7 is in ignoreip of pipeline p; remove it there to ban it"},
		{"added", "addignoreip", "198.51.100.0/24", "198.51.100.7",
			"198.51.100.7 is in ignoreip of pipeline p, added at run time (in no configuration file); run logjail set p delignoreip 198.51.100.0/24 to ban it"},
		{"both", "addignoreip", "192.0.2.7", "192.0.2.7",
			"192.0.2.7 is in ignoreip of pipeline p, in its configuration (192.0.2.0/24) and added at run time; remove it there and run logjail set p delignoreip 192.0.2.7 to ban it"},
		{"added removed", "delignoreip", "198.51.100.0/24", "198.51.100.7", ""},
	} {
		if step.set != "" {
			if _, err := cl.Set(ctx, SetRequest{Pipeline: "p", Key: step.set, Value: step.value}); err != nil {
				t.Fatalf("%s: set: %v", step.name, err)
			}
		}
		e, err := cl.Explain(ctx, step.addr, "p")
		if err != nil {
			t.Fatal(err)
		}
		if p := e.Pipelines[0]; p.GateText != step.want || (p.Gate == "ignoreip") != (step.want != "") {
			t.Errorf("%s: explain %s: gate %q %q; want %q", step.name, step.addr, p.Gate, p.GateText, step.want)
		}
		if step.want == "" {
			continue
		}
		if _, err := cl.Ban(ctx, BanRequest{Pipeline: "p", Addr: step.addr}); err == nil || !strings.Contains(err.Error(), step.want) {
			t.Errorf("%s: ban %s: %v; want refused with %q", step.name, step.addr, err, step.want)
		}
	}
}
