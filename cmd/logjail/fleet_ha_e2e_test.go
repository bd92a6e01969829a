package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/logjail/logjail/internal/testkit"
)

// natsCluster is three clustered NATS servers with JetStream in the hub
// namespace of a natsHub: server i (0-based) serves clients on
// 0.0.0.0:4222+i there and routes on 6222+i.
//
// In-process servers (the default) open their routes from their own
// goroutines, which run in the test's namespace: those use loopback
// ports chosen once, so a restarted server gets its own back. Their
// Shutdown hands their stream leaderships over first; for a death
// without notice, crash runs each server in a process of its own (this
// test binary, see natsServerHelper) inside the hub, killed with SIGKILL.
type natsCluster struct {
	hub   *natsHub
	crash bool
	nodes []testkit.ClusterNode
	srvs  []*server.Server // in-process
	procs []*exec.Cmd      // crash
}

const clusterSize = 3

func newNATSCluster(t testing.TB, nodes int, crash bool) *natsCluster {
	t.Helper()
	c := &natsCluster{hub: newHubNets(t, nodes), crash: crash, srvs: make([]*server.Server, clusterSize), procs: make([]*exec.Cmd, clusterSize)}
	routePorts := []int{6222, 6223, 6224}
	if !crash {
		routePorts = testkit.FreePorts(t, clusterSize)
	}
	c.nodes = testkit.ClusterNodes(4222, "127.0.0.1", routePorts, func(int) string { return t.TempDir() })
	t.Cleanup(func() {
		for i := range clusterSize {
			c.stop(i)
		}
	})
	for i := range clusterSize {
		c.start(t, i)
	}
	c.waitHealthy(t)
	// Every server has joined JetStream once a stream of three replicas
	// can be placed.
	testkit.WaitFor(t, 30*time.Second, func() error {
		nc, js, err := c.client(t, 0)
		if err != nil {
			return err
		}
		defer nc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PROBE", Subjects: []string{"probe"}, Replicas: clusterSize}); err != nil {
			return fmt.Errorf("a stream with three replicas placed: %w", err)
		}
		return js.DeleteStream(ctx, "PROBE")
	})
	return c
}

// start runs server i with its store (a restart finds its JetStream state
// again).
func (c *natsCluster) start(t testing.TB, i int) {
	t.Helper()
	if c.crash {
		c.procs[i] = startNATSServerProcess(t, c.hub.ns, c.nodes[i])
		return
	}
	// The client listener is made in the hub.
	srv, err := testkit.RunNATS(c.nodes[i].Options(), func(start func()) { testkit.InNetns(t, c.hub.ns, start) })
	if err != nil {
		t.Fatalf("nats%d: %v", i+1, err)
	}
	c.srvs[i] = srv
}

// stop ends server i: an in-process one shuts down, a process is killed.
func (c *natsCluster) stop(i int) {
	if srv := c.srvs[i]; srv != nil {
		testkit.StopNATS(srv)
		c.srvs[i] = nil
	}
	if p := c.procs[i]; p != nil {
		p.Process.Kill()
		p.Wait()
		c.procs[i] = nil
	}
}

func (c *natsCluster) running(i int) bool { return c.srvs[i] != nil || c.procs[i] != nil }

// client connects the test to server i from inside the hub, without
// reconnecting: a reconnect would dial from the test's namespace.
func (c *natsCluster) client(t testing.TB, i int) (*natsgo.Conn, jetstream.JetStream, error) {
	var nc *natsgo.Conn
	var err error
	testkit.InNetns(t, c.hub.ns, func() {
		nc, err = natsgo.Connect(fmt.Sprintf("nats://127.0.0.1:%d", 4222+i), natsgo.MaxReconnects(0), natsgo.Timeout(2*time.Second))
	})
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// waitHealthy waits until every running server answers JetStream requests
// (the cluster has a meta leader).
func (c *natsCluster) waitHealthy(t testing.TB) {
	t.Helper()
	testkit.WaitFor(t, 30*time.Second, func() error {
		for i := range clusterSize {
			if !c.running(i) {
				continue
			}
			nc, js, err := c.client(t, i)
			if err != nil {
				return fmt.Errorf("NATS cluster healthy: nats%d: %w", i+1, err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err = js.AccountInfo(ctx)
			cancel()
			nc.Close()
			if err != nil {
				return fmt.Errorf("NATS cluster healthy: nats%d's account info: %w", i+1, err)
			}
		}
		return nil
	})
}

// streamInfo asks a running server about stream.
func (c *natsCluster) streamInfo(t testing.TB, stream string) (*jetstream.StreamInfo, error) {
	for i := range clusterSize {
		if !c.running(i) {
			continue
		}
		nc, js, err := c.client(t, i)
		if err != nil {
			continue
		}
		defer nc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return nil, err
		}
		return s.Info(ctx)
	}
	return nil, errors.New("no server running")
}

// leader is the index of the server leading stream, or -1.
func (c *natsCluster) leader(t testing.TB, stream string) int {
	info, err := c.streamInfo(t, stream)
	if err != nil || info.Cluster == nil {
		return -1
	}
	for i, s := range c.nodes {
		if s.Name == info.Cluster.Leader {
			return i
		}
	}
	return -1
}

// urls is every server's client address as node n (1-based) reaches it.
func (c *natsCluster) urls(n int) string {
	var out []string
	for i := range clusterSize {
		out = append(out, fmt.Sprintf("nats://10.77.%d.1:%d", n, 4222+i))
	}
	return strings.Join(out, ",")
}

// lead moves the leadership of stream to server i.
func (c *natsCluster) lead(t testing.TB, stream string, i int) {
	t.Helper()
	req, _ := json.Marshal(server.JSApiLeaderStepdownRequest{Placement: &server.Placement{Preferred: c.nodes[i].Name}})
	testkit.WaitFor(t, 20*time.Second, func() error {
		if l := c.leader(t, stream); l != i && l >= 0 {
			if nc, _, err := c.client(t, i); err == nil {
				nc.Request(fmt.Sprintf(server.JSApiStreamLeaderStepDownT, stream), req, 2*time.Second)
				nc.Close()
			}
		}
		l := c.leader(t, stream)
		return testkit.Check(l == i, "%s led by nats%d: led by nats%d (0: none known)", stream, i+1, l+1)
	})
}

// natsServerEnv carries a testkit.ClusterNode to a server process.
const natsServerEnv = "LOGJAIL_TEST_NATS_SERVER"

// startNATSServerProcess runs this test binary as a NATS server in ns and
// waits until it accepts clients.
func startNATSServerProcess(t testing.TB, ns string, spec testkit.ClusterNode) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(spec)
	cmd := exec.Command("ip", "netns", "exec", ns, self)
	cmd.Env = append(os.Environ(), natsServerEnv+"="+string(js))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- line
		io.Copy(io.Discard, out)
	}()
	select {
	case line := <-ready:
		if line != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("%s did not start: %q", spec.Name, line)
		}
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("%s did not start within 15s", spec.Name)
	}
	return cmd
}

// natsServerHelper turns this test binary into a NATS server when
// started by startNATSServerProcess: it runs until killed.
func init() {
	raw := os.Getenv(natsServerEnv)
	if raw == "" {
		return
	}
	var spec testkit.ClusterNode
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv, err := testkit.RunNATS(spec.Options(), func(start func()) { start() })
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("ready")
	srv.WaitForShutdown()
	os.Exit(0)
}

// fleetHAReplicas is how many servers keep the fleet's streams in
// TestFleetSurvivesNATSServerDeath.
var fleetHAReplicas = 3

// A fleet on a three-server NATS cluster with streams of three replicas
// (one made earlier with a single replica is raised) keeps sharing
// failures and bans when the server leading both streams dies (shut down,
// or killed without notice), and catches up when it comes back: its
// replicas resync and every shared failure is counted exactly once on
// every node.
func TestFleetSurvivesNATSServerDeath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		crash bool
	}{
		{"shutdown", false},
		{"sigkill", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testFleetSurvivesNATSServerDeath(t, tc.crash)
		})
	}
}

func testFleetSurvivesNATSServerDeath(t *testing.T, crash bool) {
	f := newHAFleet(t, crash)
	nodes := f.c.hub.nodes

	// Nodes 1 and 2 together reach maxretry (5): banned on all three.
	const first = "203.0.113.10"
	f.write(t, 0, first, 3)
	f.write(t, 1, first, 2)
	waitHeld(t, 10*time.Second, "first attacker banned on every node", nodes, first)
	f.waitReplicas(t)

	// The server leading both streams dies.
	dead := f.stopLeader(t)
	killed := time.Now()

	// Sharing goes on: failures spread over the nodes ban everywhere.
	const second, third = "203.0.113.20", "203.0.113.30"
	f.write(t, 0, second, 2)
	f.write(t, 2, second, 3)
	f.write(t, 1, third, 4)
	f.write(t, 2, third, 1)
	waitHeld(t, 20*time.Second, "bans shared with a server dead", nodes, second, third)
	t.Logf("bans shared %s after the server died", time.Since(killed).Round(time.Millisecond))

	countedOnce(t, f.setups, f.written, "every node counted each other node's failures once, with a server dead")

	// The server comes back with its store, and sharing goes on.
	f.c.start(t, dead)
	f.c.waitHealthy(t)
	const fourth = "203.0.113.40"
	f.write(t, 1, fourth, 1)
	f.write(t, 2, fourth, 4)
	waitHeld(t, 10*time.Second, "ban shared after the server came back", nodes, fourth)

	total := countedOnce(t, f.setups, f.written, "every node counted each other node's failures once")
	f.waitCaughtUp(t, dead, total)
	for i, s := range f.setups {
		if st := status(t, s.socket); st.Actions.CurrentlyBanned != 4 {
			t.Errorf("node%d: %d bans, want 4", i+1, st.Actions.CurrentlyBanned)
		}
	}
}

// haFleet is TestFleetSurvivesNATSServerDeath's fleet: three nodes on a
// three-server cluster, and what the test wrote to each node's log.
type haFleet struct {
	c       *natsCluster
	setups  []*setup
	written []uint64 // written[i] counts the failures written to node i's log
}

// newHAFleet starts the cluster and the nodes. The bans stream exists
// already with one replica (made by a fleet before it set replicas): the
// nodes raise it to three.
func newHAFleet(t *testing.T, crash bool) *haFleet {
	t.Helper()
	f := &haFleet{c: newNATSCluster(t, 3, crash)}
	func() {
		nc, js, err := f.c.client(t, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: fleetBansStreamName, Subjects: []string{"logjail.fleet.bans.>"}, MaxMsgsPerSubject: 1, Replicas: 1}); err != nil {
			t.Fatal(err)
		}
	}()
	for i, node := range f.c.hub.nodes {
		cfg := strings.Replace(fleetConfig(f.c.urls(i+1), fmt.Sprintf("node%d", i+1)),
			"  share: [e2e]\n", fmt.Sprintf("  share: [e2e]\n  replicas: %d\n", fleetHAReplicas), 1)
		s := newSetup(t, cfg)
		s.start(t, node)
		f.setups = append(f.setups, s)
	}
	f.written = make([]uint64, len(f.setups))
	return f
}

// write appends n failures of addr to node i's log.
func (f *haFleet) write(t *testing.T, i int, addr string, n int) {
	t.Helper()
	f.setups[i].appendLines(t, time.Now(), failures(addr, n)...)
	f.written[i] += uint64(n)
}

// waitReplicas waits until both fleet streams have fleetHAReplicas.
func (f *haFleet) waitReplicas(t *testing.T) {
	t.Helper()
	testkit.WaitFor(t, 20*time.Second, func() error {
		for _, stream := range []string{fleetFailuresStreamName, fleetBansStreamName} {
			info, err := f.c.streamInfo(t, stream)
			if err != nil {
				return fmt.Errorf("%s: %w", stream, err)
			}
			if info.Config.Replicas != fleetHAReplicas || info.Cluster == nil || len(info.Cluster.Replicas) != fleetHAReplicas-1 {
				return fmt.Errorf("%s: want %d replicas: config %d, cluster %+v", stream, fleetHAReplicas, info.Config.Replicas, info.Cluster)
			}
		}
		return nil
	})
}

// stopLeader stops the server leading both fleet streams (it moves the
// bans stream's leadership to the failures stream's leader first).
func (f *haFleet) stopLeader(t *testing.T) int {
	t.Helper()
	var dead int
	testkit.WaitFor(t, 5*time.Second, func() error {
		dead = f.c.leader(t, fleetFailuresStreamName)
		return testkit.Check(dead >= 0, "a leader of the failures stream: none known")
	})
	f.c.lead(t, fleetBansStreamName, dead)
	t.Logf("stopping nats%d, the leader of both fleet streams", dead+1)
	f.c.stop(dead)
	return dead
}

// waitCaughtUp waits until the streams hold each failure once (total),
// one ban per attacker (4), and the restarted server dead leads them or
// its replicas are current.
func (f *haFleet) waitCaughtUp(t *testing.T, dead int, total uint64) {
	t.Helper()
	name := f.c.nodes[dead].Name
	testkit.WaitFor(t, 20*time.Second, func() error {
		for stream, want := range map[string]uint64{fleetFailuresStreamName: total, fleetBansStreamName: 4} {
			info, err := f.c.streamInfo(t, stream)
			if err != nil {
				return fmt.Errorf("%s: %w", stream, err)
			}
			if info.Cluster == nil || info.State.Msgs != want {
				return fmt.Errorf("%s holds %d messages, want %d (cluster %+v)", stream, info.State.Msgs, want, info.Cluster)
			}
			current := false
			for _, r := range info.Cluster.Replicas {
				if r.Name == name {
					current = r.Current && r.Lag == 0
				}
			}
			if info.Cluster.Leader != name && !current {
				return fmt.Errorf("%s: the restarted server's replica %s has not caught up: %+v", stream, name, info.Cluster.Replicas)
			}
		}
		return nil
	})
}

// countedOnce waits until each node has matched the failures written to its
// log and counted every other node's once (nothing lost, nothing twice);
// it returns the fleet's total.
func countedOnce(t testing.TB, setups []*setup, written []uint64, what string) uint64 {
	t.Helper()
	var total uint64
	for _, n := range written {
		total += n
	}
	start := time.Now()
	testkit.WaitFor(t, 15*time.Second, func() error {
		for i, s := range setups {
			st := status(t, s.socket)
			if st.Filter.Matched != written[i] || st.Filter.Shared != total-written[i] {
				return fmt.Errorf("%s: node%d matched %d (want %d), counted %d shared (want %d)",
					what, i+1, st.Filter.Matched, written[i], st.Filter.Shared, total-written[i])
			}
		}
		return nil
	})
	t.Logf("%s after %s", what, time.Since(start).Round(time.Millisecond))
	return total
}

// The fleet's stream names, as the daemon makes them.
const (
	fleetFailuresStreamName = "LOGJAIL_FLEET_FAILURES"
	fleetBansStreamName     = "LOGJAIL_FLEET_BANS"
)
