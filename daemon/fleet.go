package daemon

import (
	"context"
	"errors"
	"net/netip"
	"slices"

	"github.com/logjail/logjail/daemon/fleet"
	"github.com/logjail/logjail/enforce"
	"github.com/logjail/logjail/pipelines"
	"github.com/logjail/logjail/state/gate"
)

// joinFleet starts this node's fleet membership (see package fleet).
func (d *Daemon) joinFleet(ctx context.Context) error {
	f, err := fleet.Join(ctx, fleet.Config{
		Pipelines: d.opts.Config,
		Store:     d.store,
		Directory: fleetDirectory{d},
		Bounds:    fleet.Bounds{Lines: maxLinesPerBan, LineBytes: maxRememberedLine},
		Log:       d.log,
	})
	if err != nil {
		return err
	}
	d.fleet = f
	return nil
}

// fleetDirectory lets the fleet find the running pipelines.
type fleetDirectory struct{ d *Daemon }

// Running returns the runner of pipeline name; nil when it is not shared.
func (fd fleetDirectory) Running(name string) (fleet.Pipeline, bool) {
	r, ok := fd.d.pipeline(name)
	if !ok {
		return nil, false
	}
	if r.share == nil {
		return nil, true
	}
	return r, true
}

// Shared reports whether the configuration in force shares pipeline name.
func (fd fleetDirectory) Shared(name string) bool {
	fd.d.mu.RLock()
	defer fd.d.mu.RUnlock()
	return fd.d.opts.Config.Shared(name)
}

// Adopt runs fn on the runner goroutine with the pipeline's bans.
func (r *runner) Adopt(ctx context.Context, fn func(fleet.Bans)) error {
	err := r.call(ctx, func() { fn(fleet.TrackerBans(r.stages.Tracker, r.now(), r.apply)) })
	if errors.Is(err, errStopped) {
		return fleet.ErrStopped
	}
	return err
}

// natsServers are the addresses of every NATS server cfg names (the
// fleet's, the nats sources' and enforcers'), as single-address prefixes:
// the gate never bans them, or logjail would cut itself off from them.
func natsServers(cfg *pipelines.Config) []netip.Prefix {
	var urls []string
	if f := cfg.Fleet; f != nil {
		urls = append(urls, f.NATS.URL)
	}
	for _, p := range cfg.Enabled() {
		for _, in := range p.Ingest {
			if in.NATS != nil {
				urls = append(urls, in.NATS.URL)
			}
		}
		for _, e := range p.Plan.Enforce {
			if e.NATS != nil {
				urls = append(urls, e.NATS.URL)
			}
		}
	}
	var out []netip.Prefix
	for _, u := range urls {
		for _, a := range fleet.ServerAddrs(u) {
			out = append(out, gate.Single(a))
		}
	}
	return out
}

// shareOf attaches a pipeline the fleet shares to it: the share joins its
// enforcers, the other nodes' failures its sources. Nil for a pipeline
// not shared.
func (d *Daemon) shareOf(name string, st *pipelines.Stages, enf enforce.Enforcer) (*fleet.Share, enforce.Enforcer, error) {
	if d.fleet == nil || !d.opts.Config.Shared(name) {
		return nil, enf, nil
	}
	sh, src, err := d.fleet.Attach(name, d.store.Scoped(name))
	if err != nil {
		return nil, enf, err
	}
	st.Sources = append(st.Sources, src)
	if m, ok := enf.(enforce.Multi); ok {
		return sh, append(slices.Clip(m), sh), nil // flat: errors count per enforcer
	}
	return sh, enforce.Multi{enf, sh}, nil
}
