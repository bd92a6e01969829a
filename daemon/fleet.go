package daemon

import (
	"context"
	"encoding/json"
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
	"unicode/utf8"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/logjail/logjail/enforce"
	enfnats "github.com/logjail/logjail/enforce/nats"
	"github.com/logjail/logjail/ingest"
	ingestnats "github.com/logjail/logjail/ingest/nats"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/pipelines"
	"github.com/logjail/logjail/state"
	"github.com/logjail/logjail/state/gate"
)

// Fleet mode: nodes share the failures and bans of the pipelines listed in
// fleet.share through two JetStream streams.
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
const (
	fleetFailuresStream  = "LOGJAIL_FLEET_FAILURES"
	fleetBansStream      = "LOGJAIL_FLEET_BANS"
	fleetFailuresSubject = "logjail.fleet.failures."
	fleetBansSubject     = "logjail.fleet.bans."
	// Failures and bans wait in outboxes of their own: a long outage fills
	// the failures' (oldest dropped) without costing a ban.
	fleetFailuresSink = "fleet/failures"
	fleetBansSink     = "fleet/bans"
	headerNode        = "Logjail-Node"
	// minFailureRetention keeps shared failures at least this long even
	// with a short findtime, for nodes restarting.
	minFailureRetention = time.Hour
)

// fleet is this node's membership.
type fleet struct {
	spec *pipelines.Fleet
	// failures and bans publish the two outboxes.
	failures, bans *enfnats.Publisher
	// servers are the NATS servers' addresses: the fleet never bans them,
	// or a node would cut itself off from the unban.
	servers []netip.Addr
	log     *slog.Logger
}

// sharedFailure is a failure as published to the fleet.
type sharedFailure struct {
	Addr string    `json:"addr"`
	Time time.Time `json:"time"`
	User string    `json:"user,omitempty"`
	Line string    `json:"line"`
}

// fleetStreams are the fleet's streams as cfg needs them: failures kept for
// the longest findtime of the shared pipelines (at least an hour), bans for
// their longest ban (unlimited when one can be permanent).
func fleetStreams(cfg *pipelines.Config) []enfnats.StreamSpec {
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
		{Name: fleetFailuresStream, Subjects: []string{fleetFailuresSubject + ">"}, MaxAge: retention, Replicas: replicas},
		{Name: fleetBansStream, Subjects: []string{fleetBansSubject + ">"}, MaxAge: bansAge, MaxMsgsPerSubject: 1, Replicas: replicas},
	}
}

func newFleet(cfg *pipelines.Config, store *state.Store, log *slog.Logger) (*fleet, error) {
	spec := cfg.Fleet
	log = log.With("fleet_node", spec.Node)
	streams := fleetStreams(cfg)
	f := &fleet{spec: spec, log: log, servers: serverAddrs(spec.NATS.URL)}
	for _, p := range []struct {
		pub  **enfnats.Publisher
		sink string
	}{{&f.failures, fleetFailuresSink}, {&f.bans, fleetBansSink}} {
		pub, err := enfnats.NewPublisher(enfnats.PublisherConfig{Conn: spec.NATS.Conn(), Sink: p.sink, JetStream: true, Streams: streams}, store, log)
		if err != nil {
			return nil, err
		}
		*p.pub = pub
	}
	return f, nil
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
		for _, a := range serverAddrs(u) {
			out = append(out, gate.Single(a))
		}
	}
	return out
}

// serverAddrs resolves the hosts of a NATS server list (at start and on
// reload: a name that does not resolve then protects nothing).
func serverAddrs(list string) []netip.Addr {
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
func (f *fleet) protected(addr netip.Addr) bool { return slices.Contains(f.servers, addr.Unmap()) }

// banSubject is the subject of an address's ban state: the address's
// characters that NATS treats specially become '_' or '-'.
func banSubject(pipeline string, p netip.Prefix) string {
	token := strings.NewReplacer(".", "_", ":", "-", "/", "_").Replace(p.String())
	return fleetBansSubject + pipeline + "." + token
}

// durableName is this node's consumer of a pipeline's shared failures.
func (f *fleet) durableName(pipeline string) string {
	return "fleet_" + f.spec.Node + "_" + strings.ReplaceAll(pipeline, ".", "_")
}

// source reads the other nodes' failures of a pipeline.
func (f *fleet) source(pipeline string, positions ingest.Positions) (*ingestnats.Source, error) {
	cfg := f.spec.NATS.Conn()
	cfg.Subject = fleetFailuresSubject + pipeline
	cfg.JetStream = &ingestnats.JetStreamConfig{Stream: fleetFailuresStream, Durable: f.durableName(pipeline)}
	cfg.Decode = f.decodeFailure
	src, err := ingestnats.New(cfg, f.log)
	if err != nil {
		return nil, err
	}
	src.UsePositions(positions)
	return src, nil
}

func (f *fleet) decodeFailure(header map[string][]string, data []byte, now time.Time) (ingest.Entry, ingestnats.Verdict) {
	node := natsgo.Header(header).Get(headerNode)
	if node == f.spec.Node {
		return ingest.Entry{}, ingestnats.Skip
	}
	var sf sharedFailure
	if err := json.Unmarshal(data, &sf); err != nil {
		return ingest.Entry{}, ingestnats.Bad
	}
	addr, err := netip.ParseAddr(sf.Addr)
	if err != nil || sf.Time.IsZero() || !state.HostAddress(addr) {
		return ingest.Entry{}, ingestnats.Bad
	}
	if f.protected(addr) {
		return ingest.Entry{}, ingestnats.Skip
	}
	if sf.Time.After(now) {
		sf.Time = now // another node's clock ahead of ours
	}
	return ingest.Entry{Time: sf.Time, ReadAt: now, Host: truncate(node, 64), Message: truncate(sf.Line, maxRememberedLine), Shared: &ingest.Shared{Addr: addr.Unmap(), User: sf.User, Node: node}}, ingestnats.Deliver
}

// share is a shared pipeline's side of the fleet: an enforcer that stages
// the node's own bans and manual unbans, and the failures the runner
// recognises, into the outbox.
type share struct {
	f        *fleet
	pipeline string

	mu     sync.Mutex
	staged []state.OutboxRecord
}

var (
	_ enforce.Enforcer = (*share)(nil)
	_ enforce.Outboxed = (*share)(nil)
)

func (s *share) stage(r state.OutboxRecord) {
	s.mu.Lock()
	s.staged = append(s.staged, r)
	s.mu.Unlock()
}

// failure shares a failure this node recognised.
func (s *share) failure(f match.Failure) {
	data, _ := json.Marshal(sharedFailure{Addr: f.Addr.String(), Time: f.Time.UTC(), User: f.User, Line: truncate(f.Line, 2048)})
	s.stage(state.OutboxRecord{Sink: fleetFailuresSink, Subject: fleetFailuresSubject + s.pipeline, MsgID: nuid.Next(), Header: map[string]string{headerNode: s.f.spec.Node}, Data: data})
}

// truncate cuts s to at most n bytes, copied, so the cut does not keep a
// large message alive. The cut falls between characters, and bytes that
// are not UTF-8 (another node's header) are replaced: what the fleet sends
// is shown in status and logs as text.
func truncate(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.Clone(s[:n])
}

// boundLines keeps what a ban from the fleet carries as small as what this
// node's own bans carry.
func boundLines(lines []string) []string {
	if len(lines) > maxLinesPerBan {
		lines = lines[len(lines)-maxLinesPerBan:]
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = truncate(l, maxRememberedLine)
	}
	return out
}

func (s *share) decision(d state.Decision) {
	ev := enfnats.NewEvent(d, s.f.spec.Node)
	rec := ev.Record(fleetBansSink, banSubject(s.pipeline, d.Prefix))
	rec.Header[headerNode] = s.f.spec.Node
	s.stage(rec)
}

// Ban shares a ban this node decided; one adopted from the fleet is not
// published back (no echo).
func (s *share) Ban(_ context.Context, d state.Decision) error {
	if !d.Fleet && d.Origin == "" {
		s.decision(d)
	}
	return nil
}

// Unban shares a lifted ban, unless it came from the fleet or expired:
// every node expires its bans itself.
func (s *share) Unban(_ context.Context, d state.Decision) error {
	if !d.Fleet && d.Reason != "expired" {
		d.Origin = ""
		s.decision(d)
	}
	return nil
}

// Reconcile shares nothing: a restart decides nothing.
func (s *share) Reconcile(context.Context, string, []state.Decision, time.Time) error { return nil }

// TakeOutbox returns what was staged since the last commit.
func (s *share) TakeOutbox() []state.OutboxRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.staged
	s.staged = nil
	return out
}

// Committed wakes the publisher.
func (s *share) Committed() {
	s.f.failures.Notify()
	s.f.bans.Notify()
}

// Publishers are the fleet's publishers (for status and metrics).
func (s *share) Publishers() []*enfnats.Publisher {
	return []*enfnats.Publisher{s.f.failures, s.f.bans}
}

// ensureStreams creates the fleet's streams at start when NATS is
// reachable, so the pipelines' consumers find them at once; otherwise the
// publisher creates them when it connects.
func (f *fleet) ensureStreams(ctx context.Context) {
	servers, opts, err := ingestnats.ConnectOptions(f.spec.NATS.Conn())
	if err != nil {
		return
	}
	nc, err := natsgo.Connect(servers, append(opts, natsgo.Timeout(2*time.Second))...)
	if err != nil {
		f.log.Warn("fleet: NATS unreachable at start; local enforcement goes on and the fleet catches up when it is back", "err", err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := f.bans.EnsureStreams(ctx, js); err != nil {
		f.log.Warn("fleet: stream setup", "err", err)
	}
}

// watchBans follows the fleet's bans until ctx is done: at start it
// replays the newest decision of every address, then applies new ones as
// they come. The ordered consumer resumes by itself after a reconnect.
func (f *fleet) watchBans(ctx context.Context, apply func([]enfnats.Event)) {
	servers, opts, err := ingestnats.ConnectOptions(f.spec.NATS.Conn())
	if err != nil {
		f.log.Error("fleet: bans watch", "err", err)
		return
	}
	nc, err := natsgo.Connect(servers, append(opts,
		natsgo.Name("logjail fleet "+f.spec.Node),
		natsgo.MaxReconnects(-1),
		natsgo.RetryOnFailedConnect(true),
		natsgo.ReconnectWait(500*time.Millisecond),
	)...)
	if err != nil {
		f.log.Error("fleet: bans watch", "err", err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return
	}
	for ctx.Err() == nil {
		err := f.followBans(ctx, js, apply)
		if ctx.Err() != nil {
			return
		}
		f.log.Debug("fleet: bans watch restarting", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (f *fleet) followBans(ctx context.Context, js jetstream.JetStream, apply func([]enfnats.Event)) error {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	cons, err := js.OrderedConsumer(sctx, fleetBansStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{fleetBansSubject + ">"},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	cancel()
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	// The ordered consumer follows sequence numbers; a stream made anew (a
	// server back without its JetStream state) starts them over, and the
	// consumer would wait for ever. Noticed here, the watch starts again
	// with a replay.
	var created time.Time
	if st, err := js.Stream(ctx, fleetBansStream); err == nil {
		created = st.CachedInfo().Created
	}
	watch, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() {
		t := time.NewTicker(fleetStreamCheck)
		defer t.Stop()
		for {
			select {
			case <-watch.Done():
				it.Stop()
				return
			case <-t.C:
			}
			st, err := js.Stream(watch, fleetBansStream)
			if errors.Is(err, jetstream.ErrStreamNotFound) || err == nil && !st.CachedInfo().Created.Equal(created) {
				f.log.Warn("fleet: the bans stream was made anew; replaying it")
				it.Stop()
				return
			}
		}
	}()
	var batch []enfnats.Event
	for {
		// Wait for a message, then take what else has arrived, so a
		// replay or a wave of bans is applied in batches.
		wait := []jetstream.NextOpt{}
		if len(batch) > 0 {
			wait = append(wait, jetstream.NextMaxWait(5*time.Millisecond))
		}
		msg, err := it.Next(wait...)
		if err != nil {
			if len(batch) > 0 && (errors.Is(err, natsgo.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)) {
				apply(batch)
				batch = batch[:0]
				continue
			}
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) && ctx.Err() != nil {
				return nil
			}
			return err
		}
		// This node's own decisions are replayed too: after its state was
		// lost, they come back from the fleet like any other.
		var ev enfnats.Event
		if err := json.Unmarshal(msg.Data(), &ev); err != nil {
			f.log.Warn("fleet: malformed ban message skipped", "subject", msg.Subject(), "err", err)
			continue
		}
		// The server's time of the message orders it against this node's
		// own bans; the deciding node's clock may be off.
		ev.Received = ev.Time
		if md, err := msg.Metadata(); err == nil {
			ev.Received = md.Timestamp
		}
		if batch = append(batch, ev); len(batch) >= adoptBatch {
			apply(batch)
			batch = batch[:0]
		}
	}
}

// fleetStreamCheck is how often the bans watch checks its stream.
var fleetStreamCheck = 10 * time.Second

// adoptBatch bounds the fleet decisions applied in one call of a runner.
const adoptBatch = 512

// adopt applies bans and unbans other nodes decided to the pipelines'
// runners, one call (and one firewall batch) per pipeline.
func (d *Daemon) adopt(ctx context.Context, evs []enfnats.Event) {
	byPipeline := map[string][]enfnats.Event{}
	var order []string
	for _, ev := range evs {
		if _, ok := byPipeline[ev.Pipeline]; !ok {
			order = append(order, ev.Pipeline)
		}
		byPipeline[ev.Pipeline] = append(byPipeline[ev.Pipeline], ev)
	}
	for _, name := range order {
		d.adoptIn(ctx, name, byPipeline[name])
	}
}

func (d *Daemon) adoptIn(ctx context.Context, pipeline string, evs []enfnats.Event) {
	// The lookup and the keeping happen under fleetMu, which startPipeline
	// takes after registering a runner: an event is either applied or
	// found there.
	d.fleetMu.Lock()
	r, ok := d.pipeline(pipeline)
	if !ok {
		// Not running yet (start-up, a reload in progress): kept until it
		// starts, so the replay of the fleet's bans is not lost.
		switch {
		case !d.sharedNow(pipeline):
		case len(d.fleetPending)+len(evs) > maxFleetPending:
			d.log.Warn("fleet: too many decisions for pipelines not running; dropped", "pipeline", pipeline, "count", len(evs))
		default:
			d.fleetPending = append(d.fleetPending, evs...)
		}
		d.fleetMu.Unlock()
		return
	}
	d.fleetMu.Unlock()
	if r.share == nil {
		return
	}
	err := r.call(ctx, func() {
		now := r.now()
		for _, ev := range evs {
			d.adoptOne(r, ev, now)
		}
	})
	if errors.Is(err, errStopped) {
		// A reload replaced the runner before it took them: to the new
		// one, or kept until it starts.
		d.adoptIn(ctx, pipeline, evs)
	}
}

func (d *Daemon) adoptOne(r *runner, ev enfnats.Event, now time.Time) {
	addr, err := netip.ParseAddr(ev.Addr)
	if err != nil {
		return
	}
	prefix, err := addr.Prefix(ev.Prefix)
	if err != nil {
		return
	}
	// Unmapped first: ::ffff:a.b.c.d/128 is a.b.c.d. The tracker's gate
	// refuses the NATS servers, non-host addresses and the rest.
	prefix = gate.Canonical(prefix)
	switch ev.Type {
	case "ban":
		dec := state.Decision{Prefix: prefix, Time: ev.Time, Failures: ev.Failures, BanCount: ev.BanCount, Reason: "fleet: " + truncate(ev.Reason, 200) + " on " + truncate(ev.Origin, 64), Origin: truncate(ev.Origin, 64), Lines: boundLines(ev.Lines)}
		if ev.Origin == d.fleet.spec.Node {
			dec.Origin, dec.Reason = "", ev.Reason // our own, restored
		}
		if ev.Until != nil {
			dec.Until = *ev.Until
		}
		if dec, ok := r.stages.Tracker.Adopt(dec, now); ok {
			r.apply(dec)
		}
	case "unban":
		// A ban adopted from the fleet came before this unban in the
		// stream's order: lifted. A ban of this node's own is kept when it
		// was decided after the unban reached the server (a replay of an
		// old unban must not lift it).
		if old, ok := r.stages.Tracker.BanOf(prefix); ok && old.Origin == "" && !old.Fleet && old.Time.After(ev.Received) {
			return
		}
		if dec, ok := r.stages.Tracker.Unban(prefix, "fleet: unbanned on "+ev.Origin, now); ok {
			dec.Fleet = true
			r.apply(dec)
		}
	}
}

// sharedNow reports whether the configuration in force shares pipeline.
func (d *Daemon) sharedNow(pipeline string) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.opts.Config.Shared(pipeline)
}

// maxFleetPending bounds the fleet decisions kept for pipelines that are
// not running yet.
const maxFleetPending = 100_000

// adoptPending applies the fleet decisions that arrived before pipeline
// started.
func (d *Daemon) adoptPending(ctx context.Context, pipeline string) {
	d.fleetMu.Lock()
	var mine []enfnats.Event
	rest := d.fleetPending[:0]
	for _, ev := range d.fleetPending {
		if ev.Pipeline == pipeline {
			mine = append(mine, ev)
		} else {
			rest = append(rest, ev)
		}
	}
	d.fleetPending = rest
	d.fleetMu.Unlock()
	if len(mine) > 0 {
		d.adopt(ctx, mine)
	}
}

// joinFleet starts this node's fleet membership: the streams, the
// publisher of the outbox and the watch of the fleet's bans.
func (d *Daemon) joinFleet(ctx context.Context) error {
	f, err := newFleet(d.opts.Config, d.store, d.log)
	if err != nil {
		return err
	}
	d.fleet = f
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
		f.watchBans(fctx, func(evs []enfnats.Event) { d.adopt(fctx, evs) })
	}()
	var once sync.Once
	d.fleetStop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	f.log.Info("fleet joined", "nats", f.spec.NATS.URL, "share", f.spec.Share)
	return nil
}

// restream gives the fleet's publishers the streams a reloaded
// configuration needs (a longer bantime or findtime raises their
// retention at the next round).
func (f *fleet) restream(cfg *pipelines.Config) {
	streams := fleetStreams(cfg)
	f.failures.SetStreams(streams)
	f.bans.SetStreams(streams)
}

// fleetUnchanged refuses a reload that joins, leaves or changes the fleet
// connection: that needs a restart. The shared pipelines may change.
func (d *Daemon) fleetUnchanged(cfg *pipelines.Config) error {
	if d.opts.DryRun {
		return nil
	}
	old, now := d.opts.Config.Fleet, cfg.Fleet
	switch {
	case old == nil && now == nil:
		return nil
	case old == nil || now == nil || old.Node != now.Node || !reflect.DeepEqual(old.NATS, now.NATS):
		return errors.New("the fleet block changes (node, nats): that needs a restart")
	}
	return nil
}
