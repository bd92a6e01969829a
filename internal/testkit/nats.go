package testkit

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// RunNATS starts an in-process nats-server with opts and waits until it
// accepts clients. Logging and signal handling are turned off; Port 0
// means a free port (nats-server itself would take 4222). start runs the
// server's Start (nil: in a goroutine of its own); a test passes its own
// to make the listener in another network namespace. The caller stops it
// with StopNATS.
func RunNATS(opts *server.Options, start func(func())) (*server.Server, error) {
	opts.NoLog, opts.NoSigs = true, true
	if opts.Port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats-server: %w", err)
	}
	if start == nil {
		start = func(f func()) { go f() }
	}
	start(srv.Start)
	if !srv.ReadyForConnections(10 * time.Second) {
		StopNATS(srv)
		return nil, errors.New("nats-server not ready within 10s")
	}
	return srv, nil
}

// NATS is RunNATS for a server that lives until the test ends.
func NATS(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	srv, err := RunNATS(opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { StopNATS(srv) })
	return srv
}

// StopNATS shuts a server down and waits until it is gone.
func StopNATS(srv *server.Server) {
	srv.Shutdown()
	srv.WaitForShutdown()
}

// NATSPort is the port the server's clients connect to.
func NATSPort(srv *server.Server) int {
	return srv.Addr().(*net.TCPAddr).Port
}

// NATSURL is the server's client URL on 127.0.0.1.
func NATSURL(srv *server.Server) string {
	return fmt.Sprintf("nats://127.0.0.1:%d", NATSPort(srv))
}

// ClusterNode is one server of a NATS cluster with JetStream: a plain
// value, so it can be handed to a server in another process (as JSON).
type ClusterNode struct {
	Name, StoreDir, RouteHost string
	Port, RoutePort           int
	Routes                    []string // host:port of the other nodes' routes
}

// ClusterNodes describes a cluster "logjail" of len(routePorts) nodes:
// node i serves clients on clientPort+i and routes on routeHost:
// routePorts[i], its store in storeDir(i).
func ClusterNodes(clientPort int, routeHost string, routePorts []int, storeDir func(i int) string) []ClusterNode {
	var nodes []ClusterNode
	for i, p := range routePorts {
		n := ClusterNode{Name: fmt.Sprintf("nats%d", i+1), StoreDir: storeDir(i), RouteHost: routeHost, Port: clientPort + i, RoutePort: p}
		for j, q := range routePorts {
			if j != i {
				n.Routes = append(n.Routes, net.JoinHostPort(routeHost, fmt.Sprint(q)))
			}
		}
		nodes = append(nodes, n)
	}
	return nodes
}

// Options are the node's server options: clients on 0.0.0.0, routes
// without advertising (gossiped client addresses may be out of the
// clients' reach, in another namespace).
func (n ClusterNode) Options() *server.Options {
	var routes []*url.URL
	for _, r := range n.Routes {
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: r})
	}
	return &server.Options{
		ServerName: n.Name,
		Host:       "0.0.0.0", Port: n.Port,
		JetStream: true, StoreDir: n.StoreDir,
		Cluster: server.ClusterOpts{Name: "logjail", Host: n.RouteHost, Port: n.RoutePort, NoAdvertise: true},
		Routes:  routes,
	}
}

// FreePorts picks n free TCP ports on 127.0.0.1 of the caller's network
// namespace.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}
