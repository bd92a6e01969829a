package main

import (
	"context"
	"encoding/json"
	"fmt"
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
	testkit.Eventually(t, 10*time.Second, "first bans", func() bool { return len(node.elements(t, "e2e-v4")) >= 5 })
	h.stop()
	burst(20, 40)
	testkit.Eventually(t, 10*time.Second, "bans while NATS is down", func() bool { return len(node.elements(t, "e2e-v4")) == 40 })
	testkit.Eventually(t, 10*time.Second, "events kept on disk while NATS is down", func() bool {
		st := status(t, s.socket)
		return len(st.Publishers) == 1 && st.Publishers[0].Pending > 0 && st.Publishers[0].State != "connected"
	})
	time.Sleep(2 * time.Second) // down "for a while": retries fail meanwhile
	h.start(t)
	burst(40, 50)
	testkit.Eventually(t, 20*time.Second, "outbox drained", func() bool {
		st := status(t, s.socket)
		return len(st.Publishers) == 1 && st.Publishers[0].Pending == 0 && st.Actions.CurrentlyBanned == 50
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
	testkit.Eventually(t, 10*time.Second, "unban event", func() bool {
		for _, e := range streamEvents(t, js, "LOGJAIL_BANS") {
			if e.Type == "unban" && e.Addr == addr(0) && e.Until == nil {
				return true
			}
		}
		return false
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
func TestFleet(t *testing.T) {
	t.Parallel()
	h := newNATSHub(t, 3)
	var setups []*setup
	var procs []*instance
	for i, node := range h.nodes {
		s := newSetup(t, fleetConfig(h.url(i+1), fmt.Sprintf("node%d", i+1)))
		setups = append(setups, s)
		procs = append(procs, s.start(t, node))
	}
	nc, js := h.client(t)
	var seenMu sync.Mutex
	var seen []*natsgo.Msg
	published, err := nc.Subscribe("logjail.fleet.bans.>", func(m *natsgo.Msg) {
		seenMu.Lock()
		seen = append(seen, m)
		seenMu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	has := func(node *testNet, addr string) bool {
		els, err := tryElements(node, "e2e-v4")
		if err != nil {
			return false
		}
		_, ok := els[netip.MustParseAddr(addr)]
		return ok
	}
	onAll := func(addr string, nodes ...*testNet) bool {
		for _, n := range nodes {
			if !has(n, addr) {
				return false
			}
		}
		return true
	}

	// 4 failures on each node: under maxretry everywhere, 12 in the fleet.
	const attacker = "203.0.113.50"
	for _, s := range setups {
		s.appendLines(t, time.Now(), failures(attacker, 4)...)
	}
	start := time.Now()
	testkit.Eventually(t, time.Second, "banned on all three nodes within one second", func() bool { return onAll(attacker, h.nodes...) })
	t.Logf("banned on all three nodes %s after the last failure was written", time.Since(start).Round(time.Millisecond))
	for i, s := range setups {
		bans := banned(t, s.socket)
		if len(bans) != 1 || bans[0].Addr != attacker {
			t.Fatalf("node%d bans: %+v", i+1, bans)
		}
	}

	// Node 3 goes away and loses everything (state and table); a ban is
	// decided meanwhile by nodes 1 and 2. Back, it enforces both bans.
	procs[2].kill()
	procs[2].cmd.Process.Wait()
	os.RemoveAll(setups[2].stateDir)
	testkit.Run(t, "ip", "netns", "exec", h.nodes[2].srv, "nft", "delete", "table", "inet", "logjail")
	const second = "203.0.113.51"
	setups[0].appendLines(t, time.Now(), failures(second, 3)...)
	setups[1].appendLines(t, time.Now(), failures(second, 2)...)
	testkit.Eventually(t, 5*time.Second, "second attacker banned on nodes 1 and 2", func() bool { return onAll(second, h.nodes[:2]...) })
	procs[2] = setups[2].start(t, h.nodes[2])
	testkit.Eventually(t, 10*time.Second, "restarted node receives the fleet's bans", func() bool { return onAll(attacker, h.nodes[2]) && onAll(second, h.nodes[2]) })
	// (The first attacker's failures were consumed before the restart and
	// node 3's windows are gone: its ban can only come from the fleet's
	// ban stream. The second one node 3 may also count itself from the
	// failures shared while it was down.)

	// Node 2 is cut from NATS. It bans on its own; the others ban
	// another attacker. Reconnected, each side gets the other's ban.
	testkit.Run(t, "ip", "-n", h.ns, "link", "set", "fh2", "down")
	const local, remote = "203.0.113.60", "203.0.113.61"
	setups[1].appendLines(t, time.Now(), failures(local, 5)...)
	setups[0].appendLines(t, time.Now(), failures(remote, 5)...)
	testkit.Eventually(t, 5*time.Second, "cut node bans locally", func() bool { return has(h.nodes[1], local) })
	testkit.Eventually(t, 5*time.Second, "connected nodes ban", func() bool { return onAll(remote, h.nodes[0], h.nodes[2]) })
	if has(h.nodes[1], remote) || has(h.nodes[0], local) {
		t.Fatal("a ban crossed the cut")
	}
	// Cut for a while: longer than the publishers' wait for an
	// acknowledgement, so their sends fail and are retried.
	time.Sleep(7 * time.Second)
	if st := status(t, setups[1].socket); len(st.Publishers) == 0 || st.Publishers[0].Pending == 0 {
		t.Errorf("cut node's outbox holds nothing: %+v", st.Publishers)
	}
	testkit.Run(t, "ip", "-n", h.ns, "link", "set", "fh2", "up")
	testkit.Eventually(t, 30*time.Second, "both sides catch up after the cut", func() bool {
		return onAll(local, h.nodes...) && onAll(remote, h.nodes...)
	})

	// A manual unban on one node lifts the ban on every node.
	testkit.Run(t, binary, "unban", attacker, "--socket", setups[0].socket)
	testkit.Eventually(t, 5*time.Second, "unbanned on every node", func() bool {
		return !has(h.nodes[0], attacker) && !has(h.nodes[1], attacker) && !has(h.nodes[2], attacker)
	})

	// Hostile or broken messages on the fleet's subjects ban nothing that
	// a node would not ban itself: not everything, not a multicast or
	// unspecified address, not the NATS server, not for longer than the
	// pipeline's bantime; malformed ones are skipped.
	hostileUntil := time.Now().Add(100 * 365 * 24 * time.Hour).UTC().Format(time.RFC3339)
	for _, m := range []struct{ subject, data string }{
		{"logjail.fleet.bans.e2e.h1", `{"type":"ban","pipeline":"e2e","addr":"0.0.0.0","prefix":0,"time":"2026-01-01T00:00:00Z","until":null}`},
		{"logjail.fleet.bans.e2e.h2", `{"type":"ban","pipeline":"e2e","addr":"224.0.0.1","prefix":32,"time":"2026-01-01T00:00:00Z","until":null}`},
		{"logjail.fleet.bans.e2e.h3", `{"type":"ban","pipeline":"e2e","addr":"10.77.1.1","prefix":32,"time":"2026-01-01T00:00:00Z","until":null}`},
		{"logjail.fleet.bans.e2e.h4", `{"type":"ban","pipeline":"e2e","addr":"203.0.113.99","prefix":32,"time":"2026-01-01T00:00:00Z","until":"` + hostileUntil + `"}`},
		{"logjail.fleet.bans.e2e.h5", `not json`},
		{"logjail.fleet.failures.e2e", `{"addr":"0.0.0.0","time":"2026-01-01T00:00:00Z","line":"x"}`},
		{"logjail.fleet.failures.e2e", `{broken`},
	} {
		if _, err := js.Publish(context.Background(), m.subject, []byte(m.data)); err != nil {
			t.Fatalf("publish %s: %v", m.subject, err)
		}
	}
	testkit.Eventually(t, 5*time.Second, "the one legitimate-looking ban adopted", func() bool { return onAll("203.0.113.99", h.nodes...) })
	for i, n := range h.nodes {
		els, _ := tryElements(n, "e2e-v4")
		for a, left := range els {
			// 10.77.1.1 is the NATS server for node 1 only; the others
			// reach it at another address and may ban this one.
			if !slices.Contains([]string{attacker, second, local, remote, "203.0.113.99"}, a.String()) && (i == 0 || a.String() != "10.77.1.1") {
				t.Errorf("node%d bans %s", i+1, a)
			}
			if a.String() == "203.0.113.99" && left > time.Hour {
				t.Errorf("node%d bans 203.0.113.99 for %s, longer than bantime", i+1, left)
			}
		}
	}

	// No echo: a node publishes its own decisions only, never one it
	// adopted. (JetStream would drop an echo as a duplicate for a while;
	// a plain subscriber sees every publish.)
	time.Sleep(time.Second) // let any echo arrive
	published.Unsubscribe()
	seenMu.Lock()
	defer seenMu.Unlock()
	if len(seen) < 4 {
		t.Fatalf("the subscriber saw %d ban messages, want at least 4", len(seen))
	}
	unbans := 0
	for _, m := range seen {
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
	// The NATS server comes back without its JetStream state (a redeploy
	// without its volume): the nodes make the streams and their consumers
	// again and the fleet works on.
	h.stop()
	h.storeDir = t.TempDir()
	h.start(t)
	const afterLoss = "203.0.113.70"
	setups[0].appendLines(t, time.Now(), failures(afterLoss, 3)...)
	setups[1].appendLines(t, time.Now(), failures(afterLoss, 2)...)
	testkit.Eventually(t, 60*time.Second, "failures shared and the ban on every node after the server lost its state", func() bool {
		return onAll(afterLoss, h.nodes...)
	})

	st := status(t, setups[0].socket)
	if st.Filter.Shared == 0 {
		t.Errorf("node1 counted no fleet failures: %+v", st.Filter)
	}
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
		testkit.Eventually(b, 5*time.Minute, "every failure counted and every ban enforced on every node", func() bool {
			st := status(b, s.socket)
			return st.Filter.Matched+st.Filter.Shared-base[i] >= uint64(b.N) && st.Actions.CurrentlyBanned >= bans
		})
	}
	b.StopTimer()
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/secs, "failures/s")
	b.ReportMetric(float64(bans)/secs, "bans/s")
	b.ReportMetric(0, "ns/op")
}
