package fleet

import (
	"context"
	"errors"
	"net/netip"
	"time"

	enfnats "github.com/logjail/logjail/enforce/nats"
	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/state"
	"github.com/logjail/logjail/state/gate"
)

// Pipeline is a running shared pipeline as the fleet sees it.
type Pipeline interface {
	// Adopt runs fn on the pipeline's goroutine with its bans, then
	// enforces what fn decided, in one batch. It returns ErrStopped when
	// the pipeline stopped (a reload replaced it) before running fn.
	Adopt(ctx context.Context, fn func(Bans)) error
}

// Bans is a pipeline's bans as adoption reads and changes them.
type Bans interface {
	// BanOf returns the ban in force on prefix.
	BanOf(prefix netip.Prefix) (state.Decision, bool)
	// Ban records and enforces a ban another node decided, through the
	// pipeline's whole gate and ban policy (state.Tracker.PlanAdopt and
	// Adopt).
	Ban(d state.Decision)
	// Unban lifts prefix's ban for the fleet: the unban is marked as the
	// fleet's (Decision.Fleet), so it is not shared back.
	Unban(prefix netip.Prefix, reason string)
}

// TrackerBans are the Bans of a pipeline's tracker, at now: apply is given
// each decision to record and enforce.
func TrackerBans(t *state.Tracker, now time.Time, apply func(state.Decision)) Bans {
	return trackerBans{t: t, now: now, apply: apply}
}

type trackerBans struct {
	t     *state.Tracker
	now   time.Time
	apply func(state.Decision)
}

func (b trackerBans) BanOf(p netip.Prefix) (state.Decision, bool) { return b.t.BanOf(p) }

func (b trackerBans) Ban(d state.Decision) {
	a, ok := b.t.PlanAdopt(d, b.now)
	if !ok {
		return
	}
	// The gate's last rule, the ignorecommand, runs a program: asked here,
	// once the ban is new here, never by the tracker.
	if d, ok := b.t.Adopt(a, b.t.Gate().Admit(a.Prefix)); ok {
		b.apply(d)
	}
}

func (b trackerBans) Unban(p netip.Prefix, reason string) {
	if d, ok := b.t.Unban(p, reason, b.now); ok {
		d.Fleet = true
		b.apply(d)
	}
}

// Directory finds the pipelines decisions are adopted into.
type Directory interface {
	// Running returns the pipeline called name when it runs: p is nil when
	// it runs unshared.
	Running(name string) (p Pipeline, ok bool)
	// Shared reports whether the configuration in force shares name.
	Shared(name string) bool
}

// ErrStopped answers an adoption into a pipeline that has stopped.
var ErrStopped = errors.New("pipeline stopped")

// maxPending bounds the fleet decisions kept for pipelines that are not
// running yet.
const maxPending = 100_000

// adopt applies bans and unbans other nodes decided to the pipelines, in
// the stream's order, one call (and one firewall batch) per pipeline.
func (f *Fleet) adopt(ctx context.Context, evs []enfnats.Event) {
	byPipeline := map[string][]enfnats.Event{}
	var order []string
	for _, ev := range evs {
		if _, ok := byPipeline[ev.Pipeline]; !ok {
			order = append(order, ev.Pipeline)
		}
		byPipeline[ev.Pipeline] = append(byPipeline[ev.Pipeline], ev)
	}
	for _, name := range order {
		f.adoptIn(ctx, name, byPipeline[name])
	}
}

func (f *Fleet) adoptIn(ctx context.Context, pipeline string, evs []enfnats.Event) {
	// The lookup and the keeping happen under mu, which Started takes
	// after the pipeline is registered: an event is either applied or
	// found there.
	f.mu.Lock()
	p, ok := f.dir.Running(pipeline)
	if !ok {
		// Not running yet (start-up, a reload in progress): kept until it
		// starts, so the replay of the fleet's bans is not lost.
		switch {
		case !f.dir.Shared(pipeline):
		case len(f.pending)+len(evs) > maxPending:
			f.log.Warn("fleet: too many decisions for pipelines not running; dropped", "pipeline", pipeline, "count", len(evs))
		default:
			f.pending = append(f.pending, evs...)
		}
		f.mu.Unlock()
		return
	}
	f.mu.Unlock()
	if p == nil {
		return
	}
	err := p.Adopt(ctx, func(b Bans) {
		for _, ev := range evs {
			f.adoptOne(b, ev)
		}
	})
	if errors.Is(err, ErrStopped) {
		// A reload replaced the pipeline before it took them: to the new
		// one, or kept until it starts.
		f.adoptIn(ctx, pipeline, evs)
	}
}

// Started applies the fleet decisions that arrived before pipeline
// started; called once it is running (found by the Directory).
func (f *Fleet) Started(ctx context.Context, pipeline string) {
	f.mu.Lock()
	var mine []enfnats.Event
	rest := f.pending[:0]
	for _, ev := range f.pending {
		if ev.Pipeline == pipeline {
			mine = append(mine, ev)
		} else {
			rest = append(rest, ev)
		}
	}
	f.pending = rest
	f.mu.Unlock()
	if len(mine) > 0 {
		f.adopt(ctx, mine)
	}
}

// adoptOne applies one event: a ban as the deciding node's (this node's
// own, replayed, as its own again), an unban unless it would lift a ban
// this node decided after the unban.
func (f *Fleet) adoptOne(b Bans, ev enfnats.Event) {
	addr, err := netip.ParseAddr(ev.Addr)
	if err != nil {
		return
	}
	prefix, err := addr.Prefix(ev.Prefix)
	if err != nil {
		return
	}
	// Unmapped first: ::ffff:a.b.c.d/128 is a.b.c.d. The pipeline's gate
	// refuses the NATS servers, non-host addresses and the rest.
	prefix = gate.Canonical(prefix)
	switch ev.Type {
	case "ban":
		b.Ban(f.banOf(ev, prefix))
	case "unban":
		// A ban adopted from the fleet came before this unban in the
		// stream's order: lifted. A ban of this node's own is kept when it
		// was decided after the unban reached the server (a replay of an
		// old unban must not lift it).
		if old, ok := b.BanOf(prefix); ok && old.Origin == "" && !old.Fleet && old.Time.After(ev.Received) {
			return
		}
		b.Unban(prefix, "fleet: unbanned on "+ev.Origin)
	}
}

// banOf is the decision of a ban event, its text cut to this node's bounds.
func (f *Fleet) banOf(ev enfnats.Event, prefix netip.Prefix) state.Decision {
	origin := ingest.Clip(ev.Origin, 64)
	d := state.Decision{Prefix: prefix, Time: ev.Time, Failures: ev.Failures, BanCount: ev.BanCount,
		Reason: "fleet: " + ingest.Clip(ev.Reason, 200) + " on " + origin, Origin: origin, Lines: f.boundLines(ev.Lines)}
	if ev.Origin == f.spec.Node {
		d.Origin, d.Reason = "", ev.Reason // our own, restored
	}
	if ev.Until != nil {
		d.Until = *ev.Until
	}
	return d
}

// boundLines keeps what a ban from the fleet carries as small as what this
// node's own bans carry.
func (f *Fleet) boundLines(lines []string) []string {
	if n := f.bounds.Lines; len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = ingest.Clip(l, f.bounds.LineBytes)
	}
	return out
}
