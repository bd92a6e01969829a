package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/logjail/logjail/enforce"
	"github.com/logjail/logjail/enforce/mail"
	enfnats "github.com/logjail/logjail/enforce/nats"
	"github.com/logjail/logjail/ingest/bans"
	"github.com/logjail/logjail/pipelines"
	"github.com/logjail/logjail/state"
)

// enforcerOf is the enforcer of a pipeline: the firewall and its exec,
// nats and mail enforcers (all only logged in a dry run), or the log only
// for a pipeline without enforcers. Exec actions' start commands run here,
// and mailers start.
func (d *Daemon) enforcerOf(ctx context.Context, p *pipelines.Pipeline) enforce.Enforcer {
	d.runStop(p.Name) // a reload stops the previous enforcers' hooks before starting new ones
	if len(p.Enforce) == 0 {
		d.log.Warn("pipeline has no enforcer: its bans are recorded and logged only", "pipeline", p.Name)
		return enforce.DryRun{Log: d.log}
	}
	var m enforce.Multi
	for _, e := range p.Plan.Enforce {
		switch {
		case e.NFTables != nil:
			m = append(m, d.enf)
		case (e.Exec != nil || e.NATS != nil || e.Mail != nil) && d.opts.DryRun:
			m = append(m, enforce.DryRun{Log: d.log})
		case e.Mail != nil:
			x, err := d.mailer(ctx, p, e.Mail)
			if err != nil {
				d.log.Error("mail enforcer", "pipeline", p.Name, "err", err)
				continue
			}
			if slices.Contains(m, enforce.Enforcer(x)) {
				continue // the same mail block twice: mailed once
			}
			m = append(m, x)
		case e.NATS != nil:
			ev, err := d.banEvents(p, e.NATS)
			if err != nil {
				d.log.Error("nats enforcer", "pipeline", p.Name, "err", err)
				continue
			}
			m = append(m, ev)
		case e.Exec != nil:
			x, err := e.Exec.Build(d.log.With("pipeline", p.Name))
			if err != nil {
				d.log.Error("exec action", "pipeline", p.Name, "err", err)
				continue
			}
			if err := x.Start(ctx, p.Name); err != nil {
				d.log.Error("exec action start", "pipeline", p.Name, "err", err)
			}
			d.addStop(p.Name, func() { _ = x.Stop(context.Background(), p.Name) })
			m = append(m, x)
		}
	}
	if len(m) == 1 {
		return m[0]
	}
	return m
}

// banEvents starts the publisher of a nats enforcer. It runs until the
// pipeline stops (after the runner's last commit, so the last events are
// sent too); what it could not send stays in the store's outbox.
func (d *Daemon) banEvents(p *pipelines.Pipeline, n *pipelines.NATSEvents) (*enfnats.BanEvents, error) {
	cfg := enfnats.PublisherConfig{Conn: n.Conn(), Sink: "events/" + p.Name + "/" + n.Subject, MaxBuffer: n.MaxBuffer}
	for sink, count := range d.store.OutboxSinks("events/" + p.Name + "/") {
		if sink != cfg.Sink {
			d.log.Warn("ban events of an earlier configuration wait on disk; they are sent when a nats enforcer of this pipeline uses that subject again", "pipeline", p.Name, "outbox", sink, "events", count)
		}
	}
	if n.Stream != "" {
		cfg.JetStream = true
		cfg.Streams = []enfnats.StreamSpec{{Name: n.Stream, Subjects: []string{n.Subject}, MaxAge: p.LongestBan()}}
	}
	pub, err := enfnats.NewPublisher(cfg, d.store, d.log.With("pipeline", p.Name))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := pub.Run(ctx); err != nil {
			d.log.Error("nats enforcer stopped", "pipeline", p.Name, "err", err)
		}
	}()
	d.addStop(p.Name, func() { cancel(); <-done })
	return enfnats.NewBanEvents(pub, n.Subject, d.node()), nil
}

// mailerKey identifies a running mail enforcer: one per distinct mail
// configuration of a loaded configuration, shared by the pipelines that
// use it, so that its batching and max_per_hour cover them all. A reload
// loads a new configuration and so starts new mailers; an old one sends
// what it holds and ends when the last of its pipelines has stopped or
// restarted.
type mailerKey struct {
	cfg  *pipelines.Config
	spec string // the mail configuration, as JSON
}

type sharedMailer struct {
	m     *mail.Mailer
	users int
	end   func() // ends Run (it sends what is queued) and waits for it
}

// mailer returns the mail enforcer of spec for pipeline p, started and
// with p's stop hook: Stop (the queue goes out within a second), and when
// p was its last user, the end of its sender, which sends what is left.
func (d *Daemon) mailer(ctx context.Context, p *pipelines.Pipeline, spec *pipelines.MailSpec) (*mail.Mailer, error) {
	cfg := spec.Config()
	js, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	key := mailerKey{cfg: d.opts.Config, spec: string(js)}
	d.mailersMu.Lock()
	sm := d.mailers[key]
	if sm == nil {
		x, err := mail.New(cfg, d.log.With("enforcer", "mail"))
		if err != nil {
			d.mailersMu.Unlock()
			return nil, err
		}
		rctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			x.Run(rctx)
		}()
		sm = &sharedMailer{m: x, end: func() { cancel(); <-done }}
		d.mailers[key] = sm
	}
	sm.users++
	d.mailersMu.Unlock()

	if err := sm.m.Start(ctx, p.Name); err != nil {
		d.log.Error("mail enforcer start", "pipeline", p.Name, "err", err)
	}
	d.addStop(p.Name, func() {
		_ = sm.m.Stop(context.Background(), p.Name)
		d.mailersMu.Lock()
		sm.users--
		last := sm.users == 0
		if last {
			delete(d.mailers, key)
		}
		d.mailersMu.Unlock()
		if last {
			sm.end()
		}
	})
	return sm.m, nil
}

// addStop adds a pipeline's stop hook; hooks run in the order added.
func (d *Daemon) addStop(name string, stop func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	prev := d.stops[name]
	d.stops[name] = func() {
		if prev != nil {
			prev()
		}
		stop()
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
	enf := d.enforcerOf(ctx, p)
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
		if prev.Reconfigure(p.Policy(deps)) {
			st.Tracker = prev
		} else {
			// The window's shape changed (maxretry, findtime): the counts
			// start over, the bans and totals stay.
			for _, b := range st.Tracker.Restore(prev.Active(), time.Now()) {
				// Bans the new policy's gate refuses (wider than its
				// prefixes, say): the reconcile below lifts them.
				if why, ok := strings.CutPrefix(b.Reason, state.RefusedReason); ok {
					d.log.Warn("ban refused by the gate after the reload; lifted", "pipeline", p.Name, "addr", b.Prefix.String(), "reason", why)
					if err := d.store.DeleteBan(p.Name, b.Prefix); err != nil {
						d.log.Error("dropping a refused ban from the store", "pipeline", p.Name, "err", err)
					}
				}
			}
			st.Tracker.LoadTotals(prev.Totals())
		}
	}
	var sh *share
	if d.fleet != nil && d.opts.Config.Shared(p.Name) {
		sh = &share{f: d.fleet, pipeline: p.Name}
		src, err := d.fleet.source(p.Name, d.store.Scoped(p.Name))
		if err != nil {
			return fmt.Errorf("pipeline %s: fleet: %w", p.Name, err)
		}
		st.Sources = append(st.Sources, src)
		if m, ok := enf.(enforce.Multi); ok {
			enf = append(m, sh)
		} else {
			enf = enforce.Multi{enf, sh}
		}
	}
	r := newRunner(st, enf, d.store, d.log, time.Now)
	r.share = sh
	r.onBan = func(dec state.Decision) {
		d.bus.Publish(bans.Event{Pipeline: dec.Pipeline, Prefix: dec.Prefix, Time: dec.Time})
	}
	if prev == nil {
		if err := r.restore(ctx); err != nil {
			return fmt.Errorf("pipeline %s: restoring bans: %w", p.Name, err)
		}
	} else {
		r.loadLines()
		if err := enf.Reconcile(ctx, p.Name, st.Tracker.Active(), time.Now()); err != nil {
			d.log.Error("reconciling after reload", "pipeline", p.Name, "err", err)
		}
	}
	rctx, cancel := context.WithCancel(d.runCtx)
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		r.run(rctx)
	}()
	d.mu.Lock()
	delete(d.failed, p.Name)
	d.runners[p.Name] = r
	if !slices.Contains(d.order, p.Name) {
		d.order = append(d.order, p.Name)
		slices.Sort(d.order)
	}
	d.mu.Unlock()
	if sh != nil {
		d.adoptPending(d.runCtx, p.Name)
	}
	return nil
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
	if d.opts.ConfigPath == "" {
		return nil, errors.New("no configuration path to reload from")
	}
	cfg, err := pipelines.Load(d.opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	enabled := cfg.Enabled()
	if len(enabled) == 0 {
		return nil, errors.New("no enabled pipeline in the new configuration")
	}
	if !d.opts.DryRun && tableOf(enabled) != d.table {
		return nil, fmt.Errorf("the nftables table changes from %q to %q: that needs a restart", d.table, tableOf(enabled))
	}
	if err := d.fleetUnchanged(cfg); err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings {
		d.log.Warn(w)
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
	d.mu.Lock()
	clear(d.failed)
	d.mu.Unlock()
	for name, t := range trackers {
		if slices.ContainsFunc(enabled, func(p *pipelines.Pipeline) bool { return p.Name == name }) {
			continue
		}
		d.runStop(name)
		if t == nil {
			continue // its sets go with the Setup below
		}
		for _, b := range t.Active() {
			b.Kind, b.Time, b.Reason = state.Unban, time.Now(), "pipeline removed"
			d.log.Info("unban", "pipeline", name, "addr", prefixText(b), "reason", b.Reason)
			_ = d.store.DeleteBan(name, b.Prefix)
			_ = d.enf.Unban(ctx, b)
		}
	}
	d.dropBansOfRemoved(enabled)
	if w := d.firewall; w != nil {
		w.lock.Lock()
		w.specs = firewallSpecs(enabled)
		err := w.fw.Setup(ctx, w.specs)
		w.lock.Unlock()
		if err != nil {
			return nil, fmt.Errorf("nftables: %w", err)
		}
	}
	d.mu.Lock() // the fleet's bans watch reads it (sharedNow)
	d.opts.Config = cfg
	d.mu.Unlock()
	d.servers.Store(natsServers(cfg))
	if d.fleet != nil {
		d.fleet.restream(cfg)
	}
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

// runStop runs and forgets a pipeline's exec stop commands.
func (d *Daemon) runStop(name string) {
	d.mu.Lock()
	stop := d.stops[name]
	delete(d.stops, name)
	d.mu.Unlock()
	if stop != nil {
		stop()
	}
}
