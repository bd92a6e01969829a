// Package fleet is fleet mode: nodes share the failures and bans of the
// pipelines listed in fleet.share through two JetStream streams.
//
//   - LOGJAIL_FLEET_FAILURES (logjail.fleet.failures.<pipeline>): every
//     failure a node recognises. Each node reads the others' through a
//     durable consumer of its own, as a source of the pipeline, so its
//     window counts the fleet's failures; its stream sequences are
//     committed with the window (no failure lost or counted twice).
//   - LOGJAIL_FLEET_BANS (logjail.fleet.bans.<pipeline>.<address>): the
//     newest ban or unban of each address (one message per subject). A
//     node replays them at start and follows them live, so a node that
//     joins or comes back enforces the fleet's active bans.
//
// Both are published through the store's outbox: a node cut from NATS
// keeps deciding and enforcing locally and sends what it saw when it
// reconnects. Messages carry the node's name; a node ignores its own, and
// bans it adopts from others are not published again (no echo).
//
// The fleet sees a running pipeline only through Pipeline (adopting
// decisions); what a pipeline recognises reaches the fleet through the
// pipeline's Share enforcer, and what the fleet recognised reaches the
// pipeline through the source Attach returns.
package fleet

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	enfnats "github.com/logjail/logjail/enforce/nats"
	"github.com/logjail/logjail/ingest"
	ingestnats "github.com/logjail/logjail/ingest/nats"
	"github.com/logjail/logjail/pipelines"
	"github.com/logjail/logjail/state/store"
)

const (
	failuresStream  = "LOGJAIL_FLEET_FAILURES"
	bansStream      = "LOGJAIL_FLEET_BANS"
	failuresSubject = "logjail.fleet.failures."
	bansSubject     = "logjail.fleet.bans."
	// Failures and bans wait in outboxes of their own: a long outage fills
	// the failures' (oldest dropped) without costing a ban.
	failuresSink = "fleet/failures"
	bansSink     = "fleet/bans"
	headerNode   = "Logjail-Node"
	// minFailureRetention keeps shared failures at least this long even
	// with a short findtime, for nodes restarting.
	minFailureRetention = time.Hour
)

// Bounds are how much text the fleet's failures and bans may carry here:
// as much as the node's own (lines per ban, bytes per line).
type Bounds struct {
	Lines, LineBytes int
}

// Config is what joining the fleet needs.
type Config struct {
	// Pipelines is the configuration in force; its Fleet block is set.
	Pipelines *pipelines.Config
	Store     *store.Store
	// Directory finds the running pipelines decisions are adopted into.
	Directory Directory
	Bounds    Bounds
	Log       *slog.Logger
}

// Fleet is this node's membership.
type Fleet struct {
	spec *pipelines.Fleet
	// failures and bans publish the two outboxes.
	failures, bans *enfnats.Publisher
	// servers are the NATS servers' addresses: the fleet never bans them,
	// or a node would cut itself off from the unban.
	servers []netip.Addr
	bounds  Bounds
	dir     Directory
	log     *slog.Logger

	// mu guards pending: decisions for pipelines not running yet.
	mu      sync.Mutex
	pending []enfnats.Event
	stop    func()
}

// streams are the fleet's streams as cfg needs them: failures kept for the
// longest findtime of the shared pipelines (at least an hour), bans for
// their longest ban (unlimited when one can be permanent).
func streams(cfg *pipelines.Config) []enfnats.StreamSpec {
	retention, bansAge := minFailureRetention, time.Duration(0)
	unlimited := false
	for _, name := range cfg.Fleet.Share {
		p := cfg.Pipeline(name)
		if p == nil {
			continue
		}
		retention = max(retention, time.Duration(p.FindTime))
		if age := p.LongestBan(); age == 0 {
			unlimited = true
		} else {
			bansAge = max(bansAge, age)
		}
	}
	if unlimited {
		bansAge = 0
	}
	replicas := cfg.Fleet.Replicas
	return []enfnats.StreamSpec{
		{Name: failuresStream, Subjects: []string{failuresSubject + ">"}, MaxAge: retention, Replicas: replicas},
		{Name: bansStream, Subjects: []string{bansSubject + ">"}, MaxAge: bansAge, MaxMsgsPerSubject: 1, Replicas: replicas},
	}
}

// newFleet makes the membership and its publishers, without starting them.
func newFleet(c Config) (*Fleet, error) {
	spec := c.Pipelines.Fleet
	log := c.Log.With("fleet_node", spec.Node)
	ss := streams(c.Pipelines)
	f := &Fleet{spec: spec, log: log, servers: ServerAddrs(spec.NATS.URL), bounds: c.Bounds, dir: c.Directory, stop: func() {}}
	for _, p := range []struct {
		pub  **enfnats.Publisher
		sink string
	}{{&f.failures, failuresSink}, {&f.bans, bansSink}} {
		pub, err := enfnats.NewPublisher(enfnats.PublisherConfig{Conn: spec.NATS.Conn(), Sink: p.sink, JetStream: true, Streams: ss}, c.Store, log)
		if err != nil {
			return nil, err
		}
		*p.pub = pub
	}
	return f, nil
}

// Join starts this node's fleet membership: the streams, the publishers
// of the outbox and the watch of the fleet's bans, until Stop.
func Join(ctx context.Context, c Config) (*Fleet, error) {
	f, err := newFleet(c)
	if err != nil {
		return nil, err
	}
	f.ensureStreams(ctx)
	fctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, pub := range []*enfnats.Publisher{f.failures, f.bans} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := pub.Run(fctx); err != nil {
				f.log.Error("fleet publisher stopped", "err", err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		f.watchBans(fctx, func(evs []enfnats.Event) { f.adopt(fctx, evs) })
	}()
	var once sync.Once
	f.stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	f.log.Info("fleet joined", "nats", f.spec.NATS.URL, "share", f.spec.Share)
	return f, nil
}

// Stop stops the publishers and the bans watch (once). Called after the
// pipelines' last commit, so their last messages are sent.
func (f *Fleet) Stop() { f.stop() }

// Attach gives a shared pipeline its side of the fleet: the enforcer that
// shares what it recognises and decides, and the source of what the other
// nodes recognised (resuming at positions).
func (f *Fleet) Attach(pipeline string, positions ingest.Positions) (*Share, ingest.Source, error) {
	src, err := f.source(pipeline, positions)
	if err != nil {
		return nil, nil, err
	}
	return &Share{f: f, pipeline: pipeline}, src, nil
}

// Reloaded gives the fleet's publishers the streams a reloaded
// configuration needs (a longer bantime or findtime raises their retention
// at the next round).
func (f *Fleet) Reloaded(cfg *pipelines.Config) {
	ss := streams(cfg)
	f.failures.SetStreams(ss)
	f.bans.SetStreams(ss)
}

// Unchanged refuses a reload from old to now that joins, leaves or changes
// the fleet connection: that needs a restart. The shared pipelines may
// change.
func Unchanged(old, now *pipelines.Fleet) error {
	switch {
	case old == nil && now == nil:
		return nil
	case old == nil || now == nil || old.Node != now.Node || !reflect.DeepEqual(old.NATS, now.NATS):
		return errors.New("the fleet block changes (node, nats): that needs a restart")
	}
	return nil
}

// ServerAddrs resolves the hosts of a NATS server list (at start and on
// reload: a name that does not resolve then protects nothing).
func ServerAddrs(list string) []netip.Addr {
	var out []netip.Addr
	for _, raw := range strings.Split(list, ",") {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || u.Hostname() == "" {
			continue
		}
		if a, err := netip.ParseAddr(u.Hostname()); err == nil {
			out = append(out, a.Unmap())
			continue
		}
		ips, _ := net.LookupIP(u.Hostname())
		for _, ip := range ips {
			if a, ok := netip.AddrFromSlice(ip); ok {
				out = append(out, a.Unmap())
			}
		}
	}
	return out
}

// protected reports whether addr is a NATS server of the fleet.
func (f *Fleet) protected(addr netip.Addr) bool { return slices.Contains(f.servers, addr.Unmap()) }

// source reads the other nodes' failures of a pipeline.
func (f *Fleet) source(pipeline string, positions ingest.Positions) (*ingestnats.Source, error) {
	cfg := f.spec.NATS.Conn()
	cfg.Subject = failuresSubject + pipeline
	cfg.JetStream = &ingestnats.JetStreamConfig{Stream: failuresStream, Durable: f.durableName(pipeline)}
	cfg.Decode = f.decodeFailure
	src, err := ingestnats.New(cfg, f.log)
	if err != nil {
		return nil, err
	}
	src.UsePositions(positions)
	return src, nil
}

// durableName is this node's consumer of a pipeline's shared failures.
func (f *Fleet) durableName(pipeline string) string {
	return "fleet_" + f.spec.Node + "_" + strings.ReplaceAll(pipeline, ".", "_")
}
