package daemon

import (
	"context"
	"net/http"
	"net/netip"
	"time"

	"github.com/logjail/logjail/pipelines"
	"github.com/logjail/logjail/state"
	"github.com/logjail/logjail/state/gate"
	"github.com/logjail/logjail/state/store"
)

// Explanation is `logjail explain ADDR --json`: why an address is banned,
// was banned, or is not, in each pipeline. Its arrays are never null.
type Explanation struct {
	Addr string `json:"addr"`
	// Banned tells that a pipeline bans the address now.
	Banned    bool                  `json:"banned"`
	Pipelines []PipelineExplanation `json:"pipelines"`
}

// PipelineExplanation is one pipeline's part of an Explanation.
type PipelineExplanation struct {
	Pipeline string `json:"pipeline"`
	// Bans are the active bans covering the address (its own, a
	// prefix's), narrowest first.
	Bans []BanExplanation `json:"bans"`
	// History holds the ban history records of the address and of the
	// prefixes holding it, narrowest first; active bans are counted there
	// too.
	History []PastBan `json:"history"`
	// HistoryKept is how long the history keeps a record after its last
	// ban: dbpurgeage, or three times that ban's length when longer; a
	// permanent ban's record is kept for ever.
	HistoryKept string `json:"history_kept"`
	// Counting is the prefix the address's failures are counted by
	// (ipv4_prefix, ipv6_prefix); Failures are its failures within
	// findtime now, MaxRetry of which ban.
	Counting string `json:"counting"`
	Failures int    `json:"failures"`
	MaxRetry int    `json:"maxretry"`
	FindTime string `json:"findtime"`
	// Lines are Counting's remembered failure lines that no ban took yet.
	Lines []ExplainedLine `json:"lines"`
	// Gate names the rule that keeps the address from bans (not_host,
	// too_wide, nats_server, ignoreself, ignoreip, ignorecommand; the
	// ignorecommand is asked only when the pipeline does not ban it);
	// empty when it may be banned. GateText says it in words.
	Gate     string `json:"gate,omitempty"`
	GateText string `json:"gate_text,omitempty"`
	// Stopped tells that the pipeline is stopped (logjail stop): its bans
	// stay enforced, it counts no failures until it starts again.
	Stopped bool `json:"stopped,omitempty"`
}

// BanExplanation is an active ban and what led to it.
type BanExplanation struct {
	Ban
	// DecidedBy is "failures" (this pipeline's window), "manual"
	// (`logjail ban`), "fleet" (another node's ban, adopted; Origin
	// names the node) or "restored" (decided before logjail last
	// started, or imported: its lines are not kept across a restart).
	DecidedBy string `json:"decided_by"`
	// BanTime is the ban's length ("permanent" for ever).
	BanTime string `json:"bantime"`
	// Window is the window at the moment of the ban; null unless the ban
	// was decided from failures since logjail started and is among the
	// last ones kept.
	Window *BanWindow      `json:"window"`
	Lines  []ExplainedLine `json:"lines"`
	// LinesForgotten counts the ban's failures whose lines are not kept:
	// remembered lines are bounded (see the README's explain).
	LinesForgotten int `json:"lines_forgotten"`
}

// BanWindow is a pipeline's window when it decided a ban.
type BanWindow struct {
	MaxRetry int    `json:"maxretry"`
	FindTime string `json:"findtime"`
	// Counted are the times of the failures the window counted, of the
	// lines kept.
	Counted []time.Time `json:"counted"`
}

// ExplainedLine is a remembered failure line.
type ExplainedLine struct {
	Text string `json:"text"`
	// Time is the failure's time; null when not known (a line stored by
	// an older logjail, or one a fleet node sent).
	Time *time.Time `json:"time"`
	// Regex is the index of the failregex that matched; null when none of
	// this pipeline did (Recognised) or it is not known.
	Regex *int `json:"regex"`
	// RegexText is that failregex; empty when the pipeline's filter
	// changed since the line matched (FilterChanged).
	RegexText     string `json:"regex_text,omitempty"`
	FilterChanged bool   `json:"filter_changed,omitempty"`
	// Recognised marks a failure reported before the filter: a fleet
	// node's, or another pipeline's ban (recidive).
	Recognised bool `json:"recognised,omitempty"`
	// Counted tells that the window counted the failure: within findtime
	// of the ban's last failure, or of now for the lines of no ban.
	Counted bool `json:"counted"`
}

// PastBan is a ban history record.
type PastBan struct {
	Addr     string    `json:"addr"`
	BanCount int       `json:"ban_count"`
	Last     time.Time `json:"last"`
	BanTime  string    `json:"bantime"`
	// Until is when the last ban ended or ends; null when permanent.
	Until *time.Time `json:"until"`
	// Lines are that ban's lines while they are kept.
	Lines []ExplainedLine `json:"lines"`
}

// handleExplain answers `logjail explain ADDR [--pipeline P]`: each
// pipeline's bans covering the address, its history and its window, the
// lines that led to them, and the gate's answer.
func (d *Daemon) handleExplain(w http.ResponseWriter, req *http.Request) {
	a, err := lookupAddr(req.URL.Query().Get("addr"))
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	names := d.allPipelines() // a stopped pipeline's bans are enforced too
	if p := req.URL.Query().Get("pipeline"); p != "" {
		if !d.known(p) {
			d.noPipeline(w, p)
			return
		}
		names = []string{p}
	}
	out := Explanation{Addr: a.String(), Pipelines: []PipelineExplanation{}}
	for _, name := range names {
		pe, found, err := d.explain(req.Context(), name, a)
		if err != nil {
			fail(w, http.StatusServiceUnavailable, "pipeline %s: %v", name, err)
			return
		}
		if found {
			out.Banned = out.Banned || len(pe.Bans) > 0
			out.Pipelines = append(out.Pipelines, pe)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// explained is what explain reads on the runner goroutine.
type explained struct {
	now      time.Time
	bans     []state.Decision
	counting netip.Prefix
	failing  int
	lines    []string
	marks    []state.LineMark
	policy   state.Policy
	why      gate.Reason
}

// explain gathers a's explanation in a pipeline, running or stopped: its
// tracker's part on the runner (see withRunner), its history from the
// store. found is false when there is no such pipeline.
func (d *Daemon) explain(ctx context.Context, name string, a netip.Addr) (pe PipelineExplanation, found bool, err error) {
	var (
		r       *runner
		e       explained
		stopped bool
	)
	found, err = d.withRunner(ctx, name, func(rr *runner, s bool) { r, stopped, e = rr, s, rr.explained(a) })
	if !found || err != nil {
		return PipelineExplanation{}, found, err
	}
	pe, err = r.explain(e, a, d.specOf(r))
	pe.Stopped = stopped
	return pe, true, err
}

// explained reads a's part of the tracker; on the runner.
func (r *runner) explained(a netip.Addr) explained {
	tr := r.stages.Tracker
	e := explained{now: r.now(), bans: covering(tr, a), counting: tr.PrefixOf(a), policy: tr.Policy()}
	e.failing = tr.FailingOf(a, e.now)
	e.lines, e.marks = r.lines.peek(e.counting)
	if len(e.bans) == 0 {
		e.why = tr.Gate().Admit(gate.Single(a)) // runs the ignorecommand, as a manual ban does
	} else {
		e.why = tr.Gate().Check(gate.Single(a))
	}
	return e
}

// explain is a's explanation from e, what the runner read, and the
// pipeline's history in the store; spec is the pipeline as it runs (set
// values included), for the gate's advice.
func (r *runner) explain(e explained, a netip.Addr, spec *pipelines.Pipeline) (PipelineExplanation, error) {
	history, err := r.store.HistoryOf(r.name, a)
	if err != nil {
		return PipelineExplanation{}, err
	}
	regexes := r.failregexes()
	pe := PipelineExplanation{
		Pipeline: r.name, Bans: []BanExplanation{}, History: []PastBan{},
		HistoryKept: pipelines.FormatDuration(e.policy.DBPurgeAge),
		Counting:    prefixText(state.Decision{Prefix: e.counting}),
		Failures:    e.failing, MaxRetry: e.policy.MaxRetry, FindTime: pipelines.FormatDuration(e.policy.FindTime),
		Lines: explainLines(e.lines, e.marks, regexes, func(t time.Time) bool { return e.now.Sub(t) <= e.policy.FindTime }),
	}
	onlyLast(pe.Lines, e.failing)
	for _, d := range e.bans {
		pe.Bans = append(pe.Bans, r.explainBan(d, e.now, regexes))
	}
	for _, h := range history {
		pe.History = append(pe.History, r.pastBan(h, regexes))
	}
	if e.why != "" {
		pe.Gate, pe.GateText = string(e.why), refusalText(a.String(), a, spec, e.why)
	}
	return pe, nil
}

// failregexes are the pipeline's failregexes, as built (read-only).
func (r *runner) failregexes() []string {
	if r.stages.Spec.Plan == nil {
		return nil
	}
	return r.stages.Spec.Plan.Rules.Failregex
}

// explainBan explains active ban d: what decided it, and its lines and
// window while they are kept.
func (r *runner) explainBan(d state.Decision, now time.Time, regexes []string) BanExplanation {
	be := BanExplanation{Ban: banOf(d, now), BanTime: banLength(d.Time, d.Until), Lines: []ExplainedLine{}}
	ev, kept := r.evidence.of(d.Prefix, d.Time)
	switch {
	case d.Origin != "":
		be.DecidedBy = "fleet"
	case d.Reason == "manual":
		be.DecidedBy = "manual"
	case !kept && d.Time.Before(r.evidence.since):
		be.DecidedBy = "restored"
	default:
		be.DecidedBy = "failures"
	}
	if kept {
		be.Window = &BanWindow{MaxRetry: ev.maxRetry, FindTime: pipelines.FormatDuration(ev.findTime), Counted: []time.Time{}}
		be.Lines = ev.explain(regexes)
		for _, l := range be.Lines {
			if l.Counted && l.Time != nil {
				be.Window.Counted = append(be.Window.Counted, *l.Time)
			}
		}
	} else if len(d.Lines) > 0 {
		// A fleet node's lines, or the last line of a ban whose others
		// are forgotten.
		be.Lines = explainLines(d.Lines, nil, regexes, nil)
	}
	if be.DecidedBy == "failures" || be.DecidedBy == "restored" {
		be.LinesForgotten = max(d.Failures-len(be.Lines), 0)
	}
	return be
}

// pastBan is history record h, with its ban's lines while they are kept.
func (r *runner) pastBan(h store.HistoryRecord, regexes []string) PastBan {
	pb := PastBan{Addr: prefixText(state.Decision{Prefix: h.Prefix}), BanCount: h.Count, Last: h.Last.UTC(), Lines: []ExplainedLine{}}
	var until time.Time
	if h.BanTime != state.PermanentBan {
		until = h.Last.Add(h.BanTime).UTC()
		pb.Until = &until
	}
	pb.BanTime = banLength(h.Last, until)
	if ev, ok := r.evidence.of(h.Prefix, h.Last); ok {
		pb.Lines = ev.explain(regexes)
	}
	return pb
}

// onlyLast leaves counted the last n lines counted: those the window
// holds (an ignored address's lines are remembered, never counted).
func onlyLast(lines []ExplainedLine, n int) {
	for i := len(lines) - 1; i >= 0; i-- {
		if lines[i].Counted {
			lines[i].Counted = n > 0
			n--
		}
	}
}

// banLength is the length of a ban from at to until (zero: permanent).
func banLength(at, until time.Time) string {
	if until.IsZero() {
		return "permanent"
	}
	return pipelines.FormatDuration(until.Sub(at))
}

// explain is ev's lines, those within findtime of the last failure
// counted.
func (ev evidence) explain(regexes []string) []ExplainedLine {
	var last time.Time
	for _, m := range ev.marks {
		if m.Time.After(last) {
			last = m.Time
		}
	}
	return explainLines(ev.lines, ev.marks, regexes, func(t time.Time) bool { return last.Sub(t) <= ev.findTime })
}

// explainLines explains lines by their marks (missing ones unknown):
// each failregex named while the filter still has it, counted as counted
// says (nil: not known).
func explainLines(lines []string, marks []state.LineMark, regexes []string, counted func(time.Time) bool) []ExplainedLine {
	out := make([]ExplainedLine, 0, len(lines))
	for i, text := range lines {
		l := ExplainedLine{Text: text}
		var m state.LineMark
		if i < len(marks) {
			m = marks[i]
		}
		if m.Known() {
			t := m.Time.UTC()
			l.Time, l.Counted = &t, counted != nil && counted(m.Time)
			if m.Regex == state.NoRegex {
				l.Recognised = true
			} else {
				n := m.Regex
				l.Regex = &n
				if n < len(regexes) && state.RegexSum(regexes[n]) == m.RegexSum {
					l.RegexText = regexes[n]
				} else {
					l.FilterChanged = true
				}
			}
		}
		out = append(out, l)
	}
	return out
}
