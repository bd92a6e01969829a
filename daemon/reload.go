package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/logjail/logjail/daemon/fleet"
	"github.com/logjail/logjail/enforce"
	"github.com/logjail/logjail/enforce/mail"
	"github.com/logjail/logjail/ingest/bans"
	"github.com/logjail/logjail/pipelines"
	"github.com/logjail/logjail/state"
)

// enforcersOf builds p's enforcers from the kinds table (see
// pipelines.BuildEnforcers), once the ones of p's previous run (a reload,
// a failed start) have stopped: an exec action's stop command runs before
// its start command runs again. They are started with the pipeline's
// active bans, and stopped by stopEnforcers.
func (d *Daemon) enforcersOf(p *pipelines.Pipeline) enforce.Enforcer {
	d.stopEnforcers(p.Name)
	enf := pipelines.BuildEnforcers(p, pipelines.EnforceDeps{
		Firewall: d.firewallOf, Mailers: d.mailers, Outbox: d.store, Node: d.node(), DryRun: d.opts.DryRun, Log: d.log,
	})
	d.mu.Lock()
	d.enforcers[p.Name] = enf
	d.mu.Unlock()
	return enf
}

// stopEnforcers stops and forgets a pipeline's enforcers: its exec stop
// commands run, its publishers send what they can, its mailers are
// released. The pipeline's runner has stopped (its last commit is made).
func (d *Daemon) stopEnforcers(name string) {
	d.mu.Lock()
	enf := d.enforcers[name]
	delete(d.enforcers, name)
	d.mu.Unlock()
	if enf != nil {
		enf.Stop()
	}
}

// node names this logjail in ban events: the fleet's node name, else the
// host name.
func (d *Daemon) node() string {
	if f := d.opts.Config.Fleet; f != nil && f.Node != "" {
		return f.Node
	}
	host, _ := os.Hostname()
	return host
}

// startPipeline builds and starts one pipeline. With a tracker from the
// pipeline's previous run (a reload), its windows and bans carry over.
// A pipeline whose sources this host cannot provide is recorded as failed,
// its stored bans kept enforced; that is not an error.
func (d *Daemon) startPipeline(ctx context.Context, p *pipelines.Pipeline, prev *state.Tracker) error {
	enf := d.enforcersOf(p)
	deps := pipelines.Deps{Positions: d.store.Scoped(p.Name), Bans: d.bus, Files: d.files, Host: d.host, Servers: d.servers, Log: d.log}
	st, err := pipelines.Build(p, deps)
	if err != nil {
		d.log.Error("pipeline not started", "pipeline", p.Name, "err", err)
		d.mu.Lock()
		d.failed[p.Name] = err.Error()
		d.mu.Unlock()
		if err := keepBans(ctx, d.store, enf, p.Name, p.Policy(deps), d.log); err != nil {
			return fmt.Errorf("pipeline %s: restoring bans: %w", p.Name, err)
		}
		return nil
	}
	st.Tracker.SetHistory(d.store)
	if prev != nil {
		d.carryOver(p, st, prev, deps)
	}
	sh, enf, err := d.shareOf(p.Name, st, enf)
	if err != nil {
		return fmt.Errorf("pipeline %s: fleet: %w", p.Name, err)
	}
	r := newRunner(st, enf, d.store, d.log, time.Now)
	r.counts = d.carried.take(p.Name)
	r.share = sh
	r.evidence = d.evidenceOf(p.Name, r.evidence)
	r.onBan = func(dec state.Decision) {
		d.bus.Publish(bans.Event{Pipeline: dec.Pipeline, Prefix: dec.Prefix, Time: dec.Time})
	}
	if prev == nil {
		if err := r.restore(ctx); err != nil {
			return fmt.Errorf("pipeline %s: restoring bans: %w", p.Name, err)
		}
	} else {
		r.loadLines()
		if err := enf.Start(ctx, st.Tracker.Active(), time.Now()); err != nil {
			d.log.Error("reconciling after reload", "pipeline", p.Name, "err", err)
		}
	}
	d.run(r)
	if sh != nil {
		d.fleet.Started(d.runCtx, p.Name)
	}
	return nil
}

// carryOver hands the tracker of a pipeline's previous run to its new
// stages: whole when the window's shape is unchanged, else its bans and
// totals only (the counts start over). Either way its bans pass the new
// policy's gate.
func (d *Daemon) carryOver(p *pipelines.Pipeline, st *pipelines.Stages, prev *state.Tracker, deps pipelines.Deps) {
	lifted, kept := prev.Reconfigure(p.Policy(deps), time.Now())
	if kept {
		st.Tracker = prev
	} else {
		lifted = st.Tracker.Restore(prev.Active(), time.Now())
		st.Tracker.LoadTotals(prev.Totals())
	}
	for _, b := range lifted {
		// Bans the new policy's gate refuses (an address now in ignoreip,
		// a prefix wider than allowed): the enforcers' start lifts them.
		if why, ok := strings.CutPrefix(b.Reason, state.RefusedReason); ok {
			d.log.Warn("ban refused by the gate after the reload; lifted", "pipeline", p.Name, "addr", b.Prefix.String(), "reason", why)
			if err := d.store.DeleteBan(p.Name, b.Prefix); err != nil {
				d.log.Error("dropping a refused ban from the store", "pipeline", p.Name, "err", err)
			}
		}
	}
}

// run starts a runner's goroutine and enters it in the pipeline table.
func (d *Daemon) run(r *runner) {
	rctx, cancel := context.WithCancel(d.runCtx)
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		r.run(rctx)
	}()
	d.mu.Lock()
	delete(d.failed, r.name)
	d.runners[r.name] = r
	if !slices.Contains(d.order, r.name) {
		d.order = append(d.order, r.name)
		slices.Sort(d.order)
	}
	d.mu.Unlock()
}

// stopPipeline stops a runner: its sources stop, the queue is drained and
// the positions committed. It returns the runner's tracker, or nil with the
// error when that last commit failed: the tracker's windows and bans are
// then ahead of the stored positions, and only a pipeline restored from
// the store (as after a crash) counts the entries read again exactly once.
func (d *Daemon) stopPipeline(name string) (*state.Tracker, error) {
	d.mu.Lock()
	r := d.runners[name]
	delete(d.runners, name)
	d.order = slices.DeleteFunc(d.order, func(n string) bool { return n == name })
	delete(d.failed, name)
	d.mu.Unlock()
	if r == nil {
		return nil, nil
	}
	r.cancel()
	<-r.done
	d.carried.put(r)
	if r.lastCommit != nil {
		return nil, r.lastCommit
	}
	return r.stages.Tracker, nil
}

// stopAll stops every runner (at shutdown).
func (d *Daemon) stopAll() {
	for _, name := range d.pipelineNames() {
		_, _ = d.stopPipeline(name) // logged by the runner; the next start restores from the store
	}
}

// dropBansOfRemoved forgets stored bans of pipelines no longer enabled:
// Setup removed their sets.
func (d *Daemon) dropBansOfRemoved(enabled []*pipelines.Pipeline) {
	all, err := d.store.Bans("")
	if err != nil {
		d.log.Error("reading stored bans", "err", err)
		return
	}
	for _, b := range all {
		if !slices.ContainsFunc(enabled, func(p *pipelines.Pipeline) bool { return p.Name == b.Pipeline }) {
			d.log.Info("unban: pipeline no longer enabled", "pipeline", b.Pipeline, "addr", b.Prefix.String())
			_ = d.store.DeleteBan(b.Pipeline, b.Prefix)
		}
	}
	// Windows of pipelines no longer enabled: counted failures go with them.
	for _, name := range d.store.WindowPipelines() {
		if !slices.ContainsFunc(enabled, func(p *pipelines.Pipeline) bool { return p.Name == name }) {
			_ = d.store.DropWindows(name)
		}
	}
}

// reload applies the configuration file as it is now. A configuration that
// does not load is refused with its errors and the running one stays.
// Pipelines that still exist keep their windows and bans; removed ones
// have their bans lifted; new ones start.
func (d *Daemon) reload(ctx context.Context) ([]string, error) {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	cfg, enabled, err := d.loadForReload()
	if err != nil {
		return nil, err
	}
	// A reload answers success only with the state committed: on a store
	// that cannot commit (disk full) the pipelines' last commits would
	// fail as they stop, so nothing is stopped.
	if err := d.commitAll(ctx); err != nil {
		return nil, err
	}
	// Stop everything that changes first, so positions are committed and
	// the trackers are ours to hand over.
	trackers := map[string]*state.Tracker{}
	var unsaved []error
	for _, name := range d.pipelineNames() {
		t, err := d.stopPipeline(name)
		if err != nil {
			// The store failed after the check above: this pipeline
			// starts again from the store, and the reload says so.
			unsaved = append(unsaved, fmt.Errorf("pipeline %s: %w", name, err))
		}
		trackers[name] = t
	}
	// A reload ends what set, stop and start changed: the stopped
	// pipelines start again, every pipeline with the file's settings.
	maps.Copy(trackers, d.resetRuntime())
	d.mu.Lock()
	clear(d.failed)
	d.mu.Unlock()
	d.liftRemoved(ctx, enabled, trackers)
	if w := d.firewall; w != nil {
		w.lock.Lock()
		w.specs = firewallSpecs(enabled)
		err := d.setUpLayout(ctx, w.fw, w.specs)
		w.lock.Unlock()
		if err != nil {
			return nil, fmt.Errorf("nftables: %w", err)
		}
	}
	d.mu.Lock() // the fleet's bans watch reads it (fleetDirectory.Shared)
	d.opts.Config = cfg
	d.mu.Unlock()
	d.mailers = mail.NewPool(d.log.With("enforcer", "mail")) // the old mailers end with their last pipelines
	d.servers.Store(natsServers(cfg))
	if d.fleet != nil {
		d.fleet.Reloaded(cfg)
	}
	var names []string
	for _, p := range enabled {
		names = append(names, p.Name)
	}
	d.carried.keepOnly(names)
	for _, p := range enabled {
		if err := d.startPipeline(ctx, p, trackers[p.Name]); err != nil {
			return nil, err
		}
	}
	if len(unsaved) > 0 {
		return d.pipelineNames(), &unsavedError{errors.Join(unsaved...)}
	}
	return d.pipelineNames(), nil
}

// loadForReload loads the configuration file and refuses what a reload
// cannot apply: no enabled pipeline, another nftables table, another
// fleet. Its warnings are logged.
func (d *Daemon) loadForReload() (*pipelines.Config, []*pipelines.Pipeline, error) {
	cfg, err := pipelines.Load(d.opts.ConfigPath)
	if err != nil {
		return nil, nil, err
	}
	enabled := cfg.Enabled()
	if len(enabled) == 0 {
		return nil, nil, errors.New("no enabled pipeline in the new configuration")
	}
	if !d.opts.DryRun && tableOf(enabled) != d.table {
		return nil, nil, fmt.Errorf("the nftables table changes from %q to %q: that needs a restart", d.table, tableOf(enabled))
	}
	if err := fleet.Unchanged(d.opts.Config.Fleet, cfg.Fleet); err != nil && !d.opts.DryRun {
		return nil, nil, err
	}
	for _, w := range cfg.Warnings {
		d.log.Warn(w)
	}
	return cfg, enabled, nil
}

// liftRemoved stops the enforcers of the pipelines a reload removes and
// lifts their bans (stopped runners' trackers); then it forgets the
// stored bans and windows of every pipeline no longer enabled.
func (d *Daemon) liftRemoved(ctx context.Context, enabled []*pipelines.Pipeline, trackers map[string]*state.Tracker) {
	for name, t := range trackers {
		if slices.ContainsFunc(enabled, func(p *pipelines.Pipeline) bool { return p.Name == name }) {
			continue
		}
		d.stopEnforcers(name)
		if t == nil {
			continue // its sets go with the Setup that follows
		}
		var unbans []state.Decision
		for _, b := range t.Active() {
			b.Kind, b.Time, b.Reason = state.Unban, time.Now(), "pipeline removed"
			d.log.Info("unban", "pipeline", name, "addr", prefixText(b), "reason", b.Reason)
			_ = d.store.DeleteBan(name, b.Prefix)
			unbans = append(unbans, b)
		}
		_ = d.firewallOf(name).Apply(ctx, unbans)
	}
	d.dropBansOfRemoved(enabled)
}

// unsavedError is a reload that took effect while some stopping pipelines
// could not store their last changes: those pipelines started again from
// the store and read the entries since their last commit again.
type unsavedError struct{ err error }

func (e *unsavedError) Error() string {
	return fmt.Sprintf("the new configuration runs, but the state store could not commit as pipelines stopped (%v); those pipelines started again from what was stored and read their latest entries again", e.err)
}

func (e *unsavedError) Unwrap() error { return e.err }

// commitAll commits what every running pipeline has pending.
func (d *Daemon) commitAll(ctx context.Context) error {
	for _, name := range d.pipelineNames() {
		r, ok := d.pipeline(name)
		if !ok {
			continue
		}
		var cerr error
		if err := r.call(ctx, func() { cerr = r.commit() }); err != nil {
			return fmt.Errorf("pipeline %s: %w", name, err)
		}
		if cerr != nil {
			return fmt.Errorf("pipeline %s: the state store cannot commit: %w", name, cerr)
		}
	}
	return nil
}

// pipelineNames lists the running pipelines.
func (d *Daemon) pipelineNames() []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return slices.Clone(d.order)
}

// pipeline returns a running pipeline's runner.
func (d *Daemon) pipeline(name string) (*runner, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	r, ok := d.runners[name]
	return r, ok
}
