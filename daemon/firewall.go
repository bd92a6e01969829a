package daemon

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logjail/logjail/enforce"
	"github.com/logjail/logjail/enforce/nftables"
	"github.com/logjail/logjail/ingest/tick"
	"github.com/logjail/logjail/state"
)

// How often the firewall is compared with what logjail holds: the layout
// (table, chains, sets, rules) is cheap to check and checked often; the set
// elements are compared less often, since listing them costs more.
const (
	layoutCheckInterval   = 2 * time.Second
	elementsCheckInterval = 10 * time.Second
	// elementsCheckSpacing: listing a set costs the kernel more than its
	// size (each message of the dump walks the hash table from its start:
	// seconds for 1M elements), and the pipelines' bans wait for the lock
	// meanwhile. The next check waits at least this many times as long as
	// the last one took, so checking takes at most a twentieth of the time.
	elementsCheckSpacing = 20
	// elementsCheckMost is the most bans a pipeline may hold for the
	// element check to list its sets: 250k take about 9 s, a million
	// minutes (BenchmarkListSet). Past that only the layout check runs,
	// and a table restored after it puts back every ban.
	elementsCheckMost = 250_000
)

// nextElementsCheck is the wait after an element check that lasted took.
func nextElementsCheck(took time.Duration) time.Duration {
	return max(elementsCheckInterval, elementsCheckSpacing*took)
}

// firewallWatch restores logjail's table when another program flushes or
// deletes it (nft flush ruleset, a firewall reload, a mistake), so the
// kernel keeps enforcing what the store holds.
type firewallWatch struct {
	fw *nftables.Firewall
	// lock serialises the pipelines' use of the one shared netlink
	// connection: no batch may interleave with another pipeline's, nor
	// with a restore.
	lock  sync.Mutex
	specs []nftables.PipelineSpec
	// restores counts the times the layout had to be rebuilt.
	restores atomic.Uint64
	// toldSkipped: the log said the element check skips a pipeline with
	// too many bans. Owned by the watch's goroutine.
	toldSkipped bool
}

// setUpLayout makes the table hold the layout for specs (nftables.Setup).
// Bans of an earlier layout that could not be carried into it are only
// logged: the reconcile that follows every Setup restores them from the
// state store.
func (d *Daemon) setUpLayout(ctx context.Context, fw *nftables.Firewall, specs []nftables.PipelineSpec) error {
	err := fw.Setup(ctx, specs)
	if errors.Is(err, nftables.ErrNotCarried) {
		d.log.Warn("upgrading the nftables layout", "err", err)
		return nil
	}
	return err
}

func (d *Daemon) watchFirewall(ctx context.Context) {
	w := d.firewall
	layout := tick.New(layoutCheckInterval) // on the phase of the pipelines' ticks: one wake-up for both
	defer layout.Stop()
	elements := time.NewTimer(elementsCheckInterval)
	defer elements.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-layout.C:
			err := w.fw.Check(ctx)
			if err == nil {
				continue
			}
			if !errors.Is(err, nftables.ErrLayout) {
				d.log.Error("checking the firewall", "err", err)
				continue
			}
			d.log.Warn("the nftables table was changed by another program; restoring it and every ban", "problem", err)
			w.lock.Lock()
			err = d.setUpLayout(ctx, w.fw, w.specs)
			w.lock.Unlock()
			if err != nil {
				d.log.Error("restoring the nftables table", "err", err)
				continue
			}
			w.restores.Add(1)
			d.reconcileAll(ctx, 0)
		case <-elements.C:
			// An element deleted by hand (nft delete element, nft flush set)
			// leaves the layout intact; reconcile puts it back.
			began := time.Now()
			d.reconcileAll(ctx, elementsCheckMost)
			elements.Reset(nextElementsCheck(time.Since(began)))
		}
	}
}

// reconcileAll makes every pipeline's sets equal its active bans, each on
// its own goroutine's view of them, skipping pipelines with more than most
// bans (0: none). Only the firewall is repaired: the other enforcers
// (exec, NATS, mail) act once per decision.
func (d *Daemon) reconcileAll(ctx context.Context, most int) {
	for _, name := range d.pipelineNames() {
		r, ok := d.pipeline(name)
		if !ok {
			continue
		}
		// The runner goes on deciding bans after its snapshot and before
		// the repair has the lock: the firewall records what it applies
		// meanwhile, so that those are not taken for bans to remove.
		fws := pipelineFirewalls(r.enforcer)
		for _, f := range fws {
			f.record()
		}
		var active []state.Decision
		banned, skip := 0, false
		err := r.call(ctx, func() {
			banned = r.stages.Tracker.Stats().CurrentlyBanned
			if skip = most > 0 && banned > most; !skip {
				active = r.stages.Tracker.ActiveUnsorted()
			}
		})
		if err != nil || skip {
			for _, f := range fws {
				f.forget()
			}
		}
		if err != nil {
			continue // stopped by a reload, which reconciles itself
		}
		if skip {
			d.tellSkipped(name, banned)
			continue
		}
		if err := enforce.Repair(ctx, r.enforcer, active, time.Now()); err != nil {
			d.log.Error("reconciling the firewall", "pipeline", name, "err", err)
		}
	}
	d.reconcileStopped(ctx, most)
}

// tellSkipped logs, once, that the element check skips pipeline.
func (d *Daemon) tellSkipped(pipeline string, bans int) {
	if d.firewall.toldSkipped {
		return
	}
	d.firewall.toldSkipped = true
	d.log.Info("too many bans to compare the firewall's sets with them now and then; the table's layout is still checked and restored with every ban",
		"pipeline", pipeline, "bans", bans, "most", elementsCheckMost)
}

// firewallOf is pipeline's view of the shared firewall (the nftables
// enforcer), or of the log in a dry run.
func (d *Daemon) firewallOf(pipeline string) enforce.Enforcer {
	if d.firewall == nil {
		return enforce.DryRun{Pipeline: pipeline, Log: d.log}
	}
	return &pipelineFirewall{w: d.firewall, pipeline: pipeline}
}

// pipelineFirewall is one pipeline's sets in the shared table, used under
// the watch's lock. It is the one enforce.Repairer.
type pipelineFirewall struct {
	w        *firewallWatch
	pipeline string
	// applied, from record to the next Repair, logs the decisions applied
	// meanwhile (see reconcileAll); nil when not recording. Guarded by w.lock.
	applied []state.Decision
}

// pipelineFirewalls are the pipelineFirewalls within e.
func pipelineFirewalls(e enforce.Enforcer) []*pipelineFirewall {
	var out []*pipelineFirewall
	enforce.Each(e, func(x enforce.Enforcer) {
		if f, ok := x.(*pipelineFirewall); ok {
			out = append(out, f)
		}
	})
	return out
}

// record starts logging the decisions applied, for the next Repair.
func (f *pipelineFirewall) record() {
	f.w.lock.Lock()
	defer f.w.lock.Unlock()
	f.applied = []state.Decision{}
}

// forget stops logging the decisions applied.
func (f *pipelineFirewall) forget() {
	f.w.lock.Lock()
	defer f.w.lock.Unlock()
	f.applied = nil
}

// Start makes the pipeline's sets hold exactly active, with the remaining
// time of each ban at now.
func (f *pipelineFirewall) Start(ctx context.Context, active []state.Decision, now time.Time) error {
	f.w.lock.Lock()
	defer f.w.lock.Unlock()
	return f.w.fw.Reconcile(ctx, f.pipeline, active, now)
}

// Apply applies ds in a few netlink transactions.
func (f *pipelineFirewall) Apply(ctx context.Context, ds []state.Decision) error {
	f.w.lock.Lock()
	defer f.w.lock.Unlock()
	if f.applied != nil {
		for _, d := range ds {
			// What Reconcile reads of a decision; not its lines.
			f.applied = append(f.applied, state.Decision{Kind: d.Kind, Pipeline: d.Pipeline, Prefix: d.Prefix, Time: d.Time, Until: d.Until})
		}
	}
	return f.w.fw.Apply(ctx, ds)
}

// Stop leaves the bans in the kernel: their timeouts lift them on time
// while logjail is stopped.
func (f *pipelineFirewall) Stop() {}

// Repair puts back what another program removed from the pipeline's sets.
func (f *pipelineFirewall) Repair(ctx context.Context, active []state.Decision, now time.Time) error {
	// Listed without the lock: the pipelines' bans go on meanwhile (a
	// million elements take seconds to list), logged for caughtUp.
	listing := f.w.fw.List(ctx, f.pipeline)
	f.w.lock.Lock()
	defer f.w.lock.Unlock()
	active = caughtUp(active, f.applied)
	f.applied = nil
	return f.w.fw.ReconcileListed(ctx, listing, active, now)
}

// caughtUp is the snapshot active after the decisions applied since it was
// asked for (some of which it may hold already): of each prefix they
// touched, the last one decides.
func caughtUp(active, applied []state.Decision) []state.Decision {
	if len(applied) == 0 {
		return active
	}
	last := make(map[netip.Prefix]state.Decision, len(applied))
	for _, d := range applied {
		last[d.Prefix] = d
	}
	out := make([]state.Decision, 0, len(active)+len(last))
	for _, d := range active {
		if _, ok := last[d.Prefix]; !ok {
			out = append(out, d)
		}
	}
	for _, d := range last {
		if d.Kind == state.Ban {
			out = append(out, d)
		}
	}
	return out
}
