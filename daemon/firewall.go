package daemon

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logjail/logjail/enforce"
	"github.com/logjail/logjail/enforce/nftables"
	"github.com/logjail/logjail/state"
)

// How often the firewall is compared with what logjail holds: the layout
// (table, chains, sets, rules) is cheap to check and checked often; the set
// elements are compared less often, since listing them costs more.
const (
	layoutCheckInterval   = 2 * time.Second
	elementsCheckInterval = 10 * time.Second
)

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
	layout := time.NewTicker(layoutCheckInterval)
	defer layout.Stop()
	elements := time.NewTicker(elementsCheckInterval)
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
			d.reconcileAll(ctx)
		case <-elements.C:
			// An element deleted by hand (nft delete element, nft flush set)
			// leaves the layout intact; reconcile puts it back.
			d.reconcileAll(ctx)
		}
	}
}

// reconcileAll makes every pipeline's sets equal its active bans, each on
// its own goroutine's view of them. Only the firewall is repaired: the
// other enforcers (exec, NATS, mail) act once per decision.
func (d *Daemon) reconcileAll(ctx context.Context) {
	for _, name := range d.pipelineNames() {
		r, ok := d.pipeline(name)
		if !ok {
			continue
		}
		var active []state.Decision
		if err := r.call(ctx, func() { active = r.stages.Tracker.Active() }); err != nil {
			continue // stopped by a reload, which reconciles itself
		}
		if err := enforce.Repair(ctx, r.enforcer, active, time.Now()); err != nil {
			d.log.Error("reconciling the firewall", "pipeline", name, "err", err)
		}
	}
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
	return f.w.fw.Apply(ctx, ds)
}

// Stop leaves the bans in the kernel: their timeouts lift them on time
// while logjail is stopped.
func (f *pipelineFirewall) Stop() {}

// Repair puts back what another program removed from the pipeline's sets.
func (f *pipelineFirewall) Repair(ctx context.Context, active []state.Decision, now time.Time) error {
	f.w.lock.Lock()
	defer f.w.lock.Unlock()
	return f.w.fw.Repair(ctx, f.pipeline, active, now)
}
