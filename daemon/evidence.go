package daemon

import (
	"net/netip"
	"sync"
	"time"

	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/pipelines"
	"github.com/logjail/logjail/state"
)

// evidenceLines bounds the lines a pipeline keeps for `logjail explain`
// of the bans it decided (512 bytes each at most: 5 MiB at worst).
const evidenceLines = 10_000

// banEvidence keeps, for the last bans a pipeline decided from failures,
// what `logjail explain` tells of them once the ban took the lines from
// the remembered ones: those lines with their marks, and the window's
// settings at the moment of the ban. It is bounded by evidenceLines, the
// oldest ban's forgotten first, and held in memory only: the bans decided
// before logjail started have none. A pipeline's runs share it (a reload
// keeps it), so it has a lock: taken once per ban by the runner, and by
// the control socket.
type banEvidence struct {
	// since is when the pipeline first ran in this process: a ban
	// decided before was restored from the store.
	since time.Time
	mu    sync.Mutex
	byKey map[netip.Prefix]evidence
	// order holds the bans kept, oldest first (and entries a later ban
	// of the same prefix replaced, skipped when they come up).
	order []evidenceKey
	lines int // lines held, each ban counting one at least
}

// evidence is one ban's.
type evidence struct {
	at       time.Time // the ban's decision time
	maxRetry int
	findTime time.Duration
	lines    []string
	marks    []state.LineMark
}

type evidenceKey struct {
	prefix netip.Prefix
	at     time.Time
}

func newBanEvidence(now time.Time) *banEvidence {
	return &banEvidence{since: now, byKey: map[netip.Prefix]evidence{}}
}

func (e evidence) cost() int { return max(len(e.lines), 1) }

// keep remembers ban d's lines and marks (lines may be fewer than its
// failures: the remembered lines are bounded) and pol's window.
func (b *banEvidence) keep(d state.Decision, pol state.Policy, lines []string, marks []state.LineMark) {
	ev := evidence{at: d.Time, maxRetry: pol.MaxRetry, findTime: pol.FindTime, lines: lines, marks: marks}
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, ok := b.byKey[d.Prefix]; ok {
		b.lines -= old.cost()
	}
	b.byKey[d.Prefix] = ev
	b.order = append(b.order, evidenceKey{d.Prefix, d.Time})
	b.lines += ev.cost()
	for b.lines > evidenceLines && len(b.order) > 0 {
		b.drop(b.order[0])
		b.order = b.order[1:]
	}
	if len(b.order) > 2*len(b.byKey)+64 { // replaced entries pile up
		kept := b.order[:0:0]
		for _, k := range b.order {
			if ev, ok := b.byKey[k.prefix]; ok && ev.at.Equal(k.at) {
				kept = append(kept, k)
			}
		}
		b.order = kept
	}
}

// drop forgets k's ban unless a later ban of its prefix replaced it.
func (b *banEvidence) drop(k evidenceKey) {
	if ev, ok := b.byKey[k.prefix]; ok && ev.at.Equal(k.at) {
		b.lines -= ev.cost()
		delete(b.byKey, k.prefix)
	}
}

// of returns the evidence of p's ban decided at at.
func (b *banEvidence) of(p netip.Prefix, at time.Time) (evidence, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ev, ok := b.byKey[p]
	if !ok || !ev.at.Equal(at) {
		return evidence{}, false
	}
	return ev, true
}

// regexSums returns the checksums of p's failregexes (see state.LineMark).
func regexSums(p *pipelines.Pipeline) []uint32 {
	if p.Plan == nil {
		return nil
	}
	sums := make([]uint32, len(p.Plan.Rules.Failregex))
	for i, re := range p.Plan.Rules.Failregex {
		sums[i] = state.RegexSum(re)
	}
	return sums
}

// markOf is the mark of failure f, read at now: its time as the window
// counts it (a time in the future counts as now) and its failregex.
func (r *runner) markOf(f match.Failure, now time.Time) state.LineMark {
	m := state.LineMark{Time: f.Time, Regex: state.NoRegex}
	if m.Time.IsZero() || m.Time.After(now) {
		m.Time = now
	}
	if f.Regex >= 0 && f.Regex < len(r.regexSums) {
		m.Regex, m.RegexSum = f.Regex, r.regexSums[f.Regex]
	}
	return m
}

// evidenceOf returns the pipeline's evidence from its earlier runs, or
// fresh for its first.
func (d *Daemon) evidenceOf(pipeline string, fresh *banEvidence) *banEvidence {
	ev, _ := d.evidence.LoadOrStore(pipeline, fresh)
	return ev.(*banEvidence)
}
