package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	enfnats "github.com/logjail/logjail/enforce/nats"

	"github.com/logjail/logjail/internal/testkit"
)

// natsHub is a network namespace holding a NATS server (JetStream) and
// one namespace per logjail node, each joined to the hub by a veth pair:
//
//	hub:    10.77.N.1/24 on fhN (the server listens on 0.0.0.0:4222)
//	node N: 10.77.N.2/24 on fn
//
// Traffic stays inside these namespaces.
type natsHub struct {
	ns       string
	nodes    []*testNet // srv is the node's namespace
	storeDir string
	srv      *server.Server
}

func newNATSHub(t testing.TB, nodes int) *natsHub {
	t.Helper()
	h := newHubNets(t, nodes)
	h.start(t)
	t.Cleanup(h.stop)
	return h
}

// newHubNets makes the hub's and the nodes' namespaces, without a server.
func newHubNets(t testing.TB, nodes int) *natsHub {
	t.Helper()
	testkit.NeedRoot(t, "ip")
	h := &natsHub{ns: testkit.NamedNetns(t, "lj-hub"), storeDir: t.TempDir()}
	for i := 1; i <= nodes; i++ {
		ns := testkit.NamedNetns(t, fmt.Sprintf("lj-node%d", i))
		hubIf := fmt.Sprintf("fh%d", i)
		testkit.Run(t, "ip", "-n", h.ns, "link", "add", hubIf, "type", "veth", "peer", "name", "fn", "netns", ns)
		for _, c := range [][]string{
			{"ip", "-n", h.ns, "addr", "add", fmt.Sprintf("10.77.%d.1/24", i), "dev", hubIf},
			{"ip", "-n", h.ns, "link", "set", hubIf, "up"},
			{"ip", "-n", ns, "addr", "add", fmt.Sprintf("10.77.%d.2/24", i), "dev", "fn"},
			{"ip", "-n", ns, "link", "set", "fn", "up"},
		} {
			testkit.Run(t, c...)
		}
		h.nodes = append(h.nodes, &testNet{srv: ns})
	}
	return h
}

// start runs the server; its listener is made inside the hub namespace.
func (h *natsHub) start(t testing.TB) {
	t.Helper()
	srv, err := testkit.RunNATS(&server.Options{Host: "0.0.0.0", Port: 4222, JetStream: true, StoreDir: h.storeDir},
		func(start func()) { testkit.InNetns(t, h.ns, start) })
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
}

func (h *natsHub) stop() {
	if h.srv != nil {
		testkit.StopNATS(h.srv)
		h.srv = nil
	}
}

// url is the server's address as node i (1-based) reaches it.
func (h *natsHub) url(i int) string { return fmt.Sprintf("nats://10.77.%d.1:4222", i) }

// client connects the test to the server from inside the hub.
func (h *natsHub) client(t testing.TB) (*natsgo.Conn, jetstream.JetStream) {
	t.Helper()
	var nc *natsgo.Conn
	testkit.InNetns(t, h.ns, func() {
		var err error
		if nc, err = natsgo.Connect("nats://127.0.0.1:4222", natsgo.MaxReconnects(0)); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// streamEvents reads every event a stream holds.
func streamEvents(t testing.TB, js jetstream.JetStream, stream string) []enfnats.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []enfnats.Event
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted
		}
		var e enfnats.Event
		if err := json.Unmarshal(m.Data, &e); err != nil {
			t.Fatalf("%s #%d: %v: %s", stream, seq, err, m.Data)
		}
		out = append(out, e)
	}
	return out
}

// Ban events leave on NATS with the DESIGN schema, through a JetStream
// stream logjail creates; while the server is down in the middle of a burst
// of bans they wait on disk, and every one arrives exactly once.
func TestNATSBanEvents(t *testing.T) {
	t.Parallel()
	h := newNATSHub(t, 1)
	node := h.nodes[0]
	s := newSetup(t, strings.ReplaceAll(e2ePipeline("maxretry: 2", "bantime: 2h", "ingest: [{file: {paths: [LOGFILE]}}]", sshdFilter, `enforce:
  - nftables: {}
  - nats: {url: "URL", stream: LOGJAIL_BANS}`), "URL", h.url(1)))
	s.start(t, node)
	_, js := h.client(t)

	addr := func(i int) string { return fmt.Sprintf("198.51.100.%d", 10+i) }
	burst := func(from, to int) {
		for i := from; i < to; i++ {
			s.appendLines(t, time.Now(), failures(addr(i), 2)...)
		}
	}
	burst(0, 20)
	testkit.WaitFor(t, 10*time.Second, func() error {
		n := len(node.elements(t, "e2e-v4"))
		return testkit.Check(n >= 5, "first bans: %d in e2e-v4, want 5 or more", n)
	})
	h.stop()
	burst(20, 40)
	testkit.WaitFor(t, 10*time.Second, func() error {
		n := len(node.elements(t, "e2e-v4"))
		return testkit.Check(n == 40, "bans while NATS is down: %d in e2e-v4, want 40", n)
	})
	testkit.WaitFor(t, 10*time.Second, func() error {
		st := status(t, s.socket)
		return testkit.Check(len(st.Publishers) == 1 && st.Publishers[0].Pending > 0 && st.Publishers[0].State != "connected",
			"events kept on disk while NATS is down: publishers %+v", st.Publishers)
	})
	time.Sleep(2 * time.Second) // down "for a while": retries fail meanwhile
	h.start(t)
	burst(40, 50)
	testkit.WaitFor(t, 20*time.Second, func() error {
		st := status(t, s.socket)
		return testkit.Check(len(st.Publishers) == 1 && st.Publishers[0].Pending == 0 && st.Actions.CurrentlyBanned == 50,
			"outbox drained: publishers %+v, %d banned (want 50)", st.Publishers, st.Actions.CurrentlyBanned)
	})
	_, js = h.client(t)
	events := streamEvents(t, js, "LOGJAIL_BANS")
	seen := map[string]int{}
	for _, e := range events {
		seen[e.Addr]++
		if e.Type != "ban" || e.Pipeline != "e2e" || e.Prefix != 32 || e.BantimeS != 7200 || e.Until == nil ||
			!e.Until.Equal(e.Time.Add(2*time.Hour)) || e.Failures != 2 || e.BanCount != 1 || e.Origin == "" || len(e.Lines) != 2 || !strings.Contains(e.Lines[0], e.Addr) {
			t.Errorf("event %+v", e)
		}
	}
	for i := range 50 {
		if seen[addr(i)] != 1 {
			t.Errorf("%s: %d events, want 1", addr(i), seen[addr(i)])
		}
	}
	ctx := context.Background()
	stream, err := js.Stream(ctx, "LOGJAIL_BANS")
	if err != nil {
		t.Fatal(err)
	}
	if cfg := stream.CachedInfo().Config; cfg.MaxAge < 2*time.Hour || len(cfg.Subjects) != 1 || cfg.Subjects[0] != "logjail.bans.e2e" {
		t.Errorf("stream config: max age %s, subjects %v", cfg.MaxAge, cfg.Subjects)
	}

	// An unban is an event too.
	testkit.Run(t, binary, "unban", addr(0), "--socket", s.socket)
	testkit.WaitFor(t, 10*time.Second, func() error {
		events := streamEvents(t, js, "LOGJAIL_BANS")
		for _, e := range events {
			if e.Type == "unban" && e.Addr == addr(0) && e.Until == nil {
				return nil
			}
		}
		return fmt.Errorf("no unban event of %s among the stream's %d events", addr(0), len(events))
	})
}

// fleetConfig is a node's configuration: shared sshd failures, maxretry 5.
func fleetConfig(url, node string) string {
	return strings.NewReplacer("URL", url, "NODE", node).Replace(`
fleet:
  nats: {url: "URL"}
  node: NODE
  share: [e2e]
pipelines:
  e2e:
    enabled: true
    maxretry: 5
    findtime: 10m
    bantime: 1h
    ingest: [{file: {paths: [LOGFILE]}}]
    match: {filter: sshd}
    enforce: [{nftables: {}}]
`)
}

// Three nodes share their failures and bans through one NATS server: an
// attacker that stays under maxretry on every node is banned on all three
// within a second; a node started later receives the fleet's bans; a node
// cut from NATS keeps banning locally and catches up when it is back.
// Each step leaves the fleet as the next one expects it.
func TestFleet(t *testing.T) {
	t.Parallel()
	f := newFleetRun(t)
	f.sharedBan(t)
	f.restartedNodeCatchesUp(t)
	f.cutNodeCatchesUp(t)
	f.manualUnbanEverywhere(t)
	f.hostileMessagesBanNothing(t)
	f.noEcho(t)
	f.serverLosesState(t)
	if st := status(t, f.setups[0].socket); st.Filter.Shared == 0 {
		t.Errorf("node1 counted no fleet failures: %+v", st.Filter)
	}
}

// The attackers of TestFleet's steps.
const (
	fleetAttacker  = "203.0.113.50" // under maxretry on every node
	fleetSecond    = "203.0.113.51" // banned while node 3 is away
	fleetLocal     = "203.0.113.60" // banned by the node cut from NATS
	fleetRemote    = "203.0.113.61" // banned by the others meanwhile
	fleetHostile   = "203.0.113.99" // the one hostile message that is adopted
	fleetAfterLoss = "203.0.113.70" // banned after the server lost its state
)

// fleetRun is TestFleet's fleet: three nodes on one hub, and a plain
// subscriber that records every ban message published.
type fleetRun struct {
	h      *natsHub
	setups []*setup
	procs  []*instance
	js     jetstream.JetStream
	sub    *natsgo.Subscription
	seenMu sync.Mutex
	seen   []*natsgo.Msg
}

func newFleetRun(t *testing.T) *fleetRun {
	t.Helper()
	f := &fleetRun{h: newNATSHub(t, 3)}
	for i, node := range f.h.nodes {
		s := newSetup(t, fleetConfig(f.h.url(i+1), fmt.Sprintf("node%d", i+1)))
		f.setups = append(f.setups, s)
		f.procs = append(f.procs, s.start(t, node))
	}
	nc, js := f.h.client(t)
	f.js = js
	sub, err := nc.Subscribe("logjail.fleet.bans.>", func(m *natsgo.Msg) {
		f.seenMu.Lock()
		f.seen = append(f.seen, m)
		f.seenMu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	f.sub = sub
	nc.Flush()
	return f
}

// sharedBan: 4 failures on each node, under maxretry everywhere, 12 in
// the fleet.
func (f *fleetRun) sharedBan(t *testing.T) {
	for _, s := range f.setups {
		s.appendLines(t, time.Now(), failures(fleetAttacker, 4)...)
	}
	start := time.Now()
	waitHeld(t, time.Second, "banned on all three nodes within one second", f.h.nodes, fleetAttacker)
	t.Logf("banned on all three nodes %s after the last failure was written", time.Since(start).Round(time.Millisecond))
	for i, s := range f.setups {
		bans := banned(t, s.socket)
		if len(bans) != 1 || bans[0].Addr != fleetAttacker {
			t.Fatalf("node%d bans: %+v", i+1, bans)
		}
	}
}

// restartedNodeCatchesUp: node 3 goes away and loses everything (state
// and table); a ban is decided meanwhile by nodes 1 and 2. Back, it
// enforces both bans.
func (f *fleetRun) restartedNodeCatchesUp(t *testing.T) {
	f.procs[2].kill()
	f.procs[2].cmd.Process.Wait()
	os.RemoveAll(f.setups[2].stateDir)
	testkit.Run(t, "ip", "netns", "exec", f.h.nodes[2].srv, "nft", "delete", "table", "inet", "logjail")
	f.setups[0].appendLines(t, time.Now(), failures(fleetSecond, 3)...)
	f.setups[1].appendLines(t, time.Now(), failures(fleetSecond, 2)...)
	waitHeld(t, 5*time.Second, "second attacker banned on nodes 1 and 2", f.h.nodes[:2], fleetSecond)
	f.procs[2] = f.setups[2].start(t, f.h.nodes[2])
	waitHeld(t, 10*time.Second, "restarted node receives the fleet's bans", f.h.nodes[2:], fleetAttacker, fleetSecond)
	// (The first attacker's failures were consumed before the restart and
	// node 3's windows are gone: its ban can only come from the fleet's
	// ban stream. The second one node 3 may also count itself from the
	// failures shared while it was down.)
}

// cutNodeCatchesUp: node 2 is cut from NATS. It bans on its own; the
// others ban another attacker. Reconnected, each side gets the other's ban.
func (f *fleetRun) cutNodeCatchesUp(t *testing.T) {
	nodes := f.h.nodes
	testkit.Run(t, "ip", "-n", f.h.ns, "link", "set", "fh2", "down")
	f.setups[1].appendLines(t, time.Now(), failures(fleetLocal, 5)...)
	f.setups[0].appendLines(t, time.Now(), failures(fleetRemote, 5)...)
	waitHeld(t, 5*time.Second, "cut node bans locally", nodes[1:2], fleetLocal)
	waitHeld(t, 5*time.Second, "connected nodes ban", []*testNet{nodes[0], nodes[2]}, fleetRemote)
	if setsHold(nodes[1:2], fleetRemote) == nil || setsHold(nodes[:1], fleetLocal) == nil {
		t.Fatal("a ban crossed the cut")
	}
	// Cut for a while: longer than the publishers' wait for an
	// acknowledgement, so their sends fail and are retried.
	time.Sleep(7 * time.Second)
	if st := status(t, f.setups[1].socket); len(st.Publishers) == 0 || st.Publishers[0].Pending == 0 {
		t.Errorf("cut node's outbox holds nothing: %+v", st.Publishers)
	}
	testkit.Run(t, "ip", "-n", f.h.ns, "link", "set", "fh2", "up")
	waitHeld(t, 30*time.Second, "both sides catch up after the cut", nodes, fleetLocal, fleetRemote)
}

// manualUnbanEverywhere: a manual unban on one node lifts the ban on
// every node.
func (f *fleetRun) manualUnbanEverywhere(t *testing.T) {
	testkit.Run(t, binary, "unban", fleetAttacker, "--socket", f.setups[0].socket)
	testkit.WaitFor(t, 5*time.Second, func() error {
		return awaited("unbanned on every node", setsLack(f.h.nodes, fleetAttacker))
	})
}

// hostileMessagesBanNothing: hostile or broken messages on the fleet's
// subjects ban nothing that a node would not ban itself: not everything,
// not a multicast or unspecified address, not the NATS server, not for
// longer than the pipeline's bantime; malformed ones are skipped.
func (f *fleetRun) hostileMessagesBanNothing(t *testing.T) {
	hostileUntil := time.Now().Add(100 * 365 * 24 * time.Hour).UTC().Format(time.RFC3339)
	for _, m := range []struct{ subject, data string }{
		{"logjail.fleet.bans.e2e.h1", `{"type":"ban","pipeline":"e2e","addr":"0.0.0.0","prefix":0,"time":"2026-01-01T00:00:00Z","until":null}`},
		{"logjail.fleet.bans.e2e.h2", `{"type":"ban","pipeline":"e2e","addr":"224.0.0.1","prefix":32,"time":"2026-01-01T00:00:00Z","until":null}`},
		{"logjail.fleet.bans.e2e.h3", `{"type":"ban","pipeline":"e2e","addr":"10.77.1.1","prefix":32,"time":"2026-01-01T00:00:00Z","until":null}`},
		{"logjail.fleet.bans.e2e.h4", `{"type":"ban","pipeline":"e2e","addr":"` + fleetHostile + `","prefix":32,"time":"2026-01-01T00:00:00Z","until":"` + hostileUntil + `"}`},
		{"logjail.fleet.bans.e2e.h5", `not json`},
		{"logjail.fleet.failures.e2e", `{"addr":"0.0.0.0","time":"2026-01-01T00:00:00Z","line":"x"}`},
		{"logjail.fleet.failures.e2e", `{broken`},
	} {
		if _, err := f.js.Publish(context.Background(), m.subject, []byte(m.data)); err != nil {
			t.Fatalf("publish %s: %v", m.subject, err)
		}
	}
	waitHeld(t, 5*time.Second, "the one legitimate-looking ban adopted", f.h.nodes, fleetHostile)
	allowed := []string{fleetAttacker, fleetSecond, fleetLocal, fleetRemote, fleetHostile}
	for i, n := range f.h.nodes {
		els, _ := tryElements(n, "e2e-v4")
		for a, left := range els {
			// 10.77.1.1 is the NATS server for node 1 only; the others
			// reach it at another address and may ban this one.
			if !slices.Contains(allowed, a.String()) && (i == 0 || a.String() != "10.77.1.1") {
				t.Errorf("node%d bans %s", i+1, a)
			}
			if a.String() == fleetHostile && left > time.Hour {
				t.Errorf("node%d bans %s for %s, longer than bantime", i+1, fleetHostile, left)
			}
		}
	}
}

// noEcho: a node publishes its own decisions only, never one it adopted.
// (JetStream would drop an echo as a duplicate for a while; a plain
// subscriber sees every publish.)
func (f *fleetRun) noEcho(t *testing.T) {
	time.Sleep(time.Second) // let any echo arrive
	f.sub.Unsubscribe()
	f.seenMu.Lock()
	defer f.seenMu.Unlock()
	if len(f.seen) < 4 {
		t.Fatalf("the subscriber saw %d ban messages, want at least 4", len(f.seen))
	}
	unbans := 0
	for _, m := range f.seen {
		var e enfnats.Event
		json.Unmarshal(m.Data, &e)
		if from := m.Header.Get("Logjail-Node"); from != e.Origin {
			t.Errorf("ban of %s decided by %s was published again by %s", e.Addr, e.Origin, from)
		}
		if e.Type == "unban" {
			unbans++
		}
	}
	if unbans != 1 {
		t.Errorf("%d unban messages, want 1 (the manual unban, not echoed)", unbans)
	}
}

// serverLosesState: the NATS server comes back without its JetStream
// state (a redeploy without its volume): the nodes make the streams and
// their consumers again and the fleet works on.
func (f *fleetRun) serverLosesState(t *testing.T) {
	f.h.stop()
	f.h.storeDir = t.TempDir()
	f.h.start(t)
	f.setups[0].appendLines(t, time.Now(), failures(fleetAfterLoss, 3)...)
	f.setups[1].appendLines(t, time.Now(), failures(fleetAfterLoss, 2)...)
	waitHeld(t, 60*time.Second, "failures shared and the ban on every node after the server lost its state", f.h.nodes, fleetAfterLoss)
}

// setsHold is nil when every node's e2e-v4 set holds every one of addrs,
// else an error that shows what a node's set held.
func setsHold(nodes []*testNet, addrs ...string) error { return checkSets(nodes, true, addrs) }

// setsLack is nil when no node's e2e-v4 set holds any of addrs.
func setsLack(nodes []*testNet, addrs ...string) error { return checkSets(nodes, false, addrs) }

func checkSets(nodes []*testNet, want bool, addrs []string) error {
	for _, n := range nodes {
		els, err := tryElements(n, "e2e-v4")
		if err != nil {
			return fmt.Errorf("%s: %w", n.srv, err)
		}
		for _, a := range addrs {
			if _, ok := els[netip.MustParseAddr(a)]; ok != want {
				return fmt.Errorf("%s: %s in e2e-v4 is %t, want %t; the set holds %v", n.srv, a, ok, want, slices.SortedFunc(maps.Keys(els), netip.Addr.Compare))
			}
		}
	}
	return nil
}

// waitHeld waits until every node's e2e-v4 set holds every one of addrs;
// a timeout says what and shows the set that lacked one.
func waitHeld(t testing.TB, timeout time.Duration, what string, nodes []*testNet, addrs ...string) {
	t.Helper()
	testkit.WaitFor(t, timeout, func() error { return awaited(what, setsHold(nodes, addrs...)) })
}

// awaited prefixes err, when there is one, with what was awaited.
func awaited(what string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// BenchmarkFleet measures the fleet path with three logjail processes and
// one NATS server on this machine: b.N failures are written round-robin to
// the three nodes' logs, five per attacker (maxretry), and the clock stops
// when every node has counted all b.N (its own and the others') and
// enforces every ban. Reported: failures/s and bans/s fleet-wide.
//
//	go test -run '^$' -bench Fleet -benchtime 30000x ./cmd/logjail/
func BenchmarkFleet(b *testing.B) {
	h := newNATSHub(b, 3)
	var setups []*setup
	for i, node := range h.nodes {
		s := newSetup(b, strings.Replace(fleetConfig(h.url(i+1), fmt.Sprintf("node%d", i+1)), "max_tracked", "", 1))
		setups = append(setups, s)
		s.start(b, node)
	}
	const perAttacker = 5
	lines := make([][]string, 3)
	for i := range b.N {
		n := i / perAttacker
		addr := fmt.Sprintf("100.%d.%d.%d", 64+n>>16&63, n>>8&255, n&255)
		lines[i%3] = append(lines[i%3], fmt.Sprintf("sshd[%d]: Failed password for root from %s port %d ssh2", 1000+i%30000, addr, 1024+i%60000))
	}
	bans := b.N / perAttacker // a last attacker with fewer failures is not banned
	base := make([]uint64, 3)
	for i, s := range setups {
		st := status(b, s.socket)
		base[i] = st.Filter.Matched + st.Filter.Shared
	}
	b.ResetTimer()
	now := time.Now()
	for i, s := range setups {
		s.appendLines(b, now, lines[i]...)
	}
	for i, s := range setups {
		testkit.WaitFor(b, 5*time.Minute, func() error {
			st := status(b, s.socket)
			counted := st.Filter.Matched + st.Filter.Shared - base[i]
			return testkit.Check(counted >= uint64(b.N) && st.Actions.CurrentlyBanned >= bans,
				"node%d counted %d of %d failures and bans %d of %d", i+1, counted, b.N, st.Actions.CurrentlyBanned, bans)
		})
	}
	b.StopTimer()
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/secs, "failures/s")
	b.ReportMetric(float64(bans)/secs, "bans/s")
	b.ReportMetric(0, "ns/op")
}
