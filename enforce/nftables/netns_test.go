package nftables

import (
	"net"
	"testing"

	nft "github.com/google/nftables"

	"github.com/logjail/logjail/internal/testkit"
)

// netns is the kit's namespace with the firewall's helpers: tests run
// their firewall (via its fd) and their sockets (via Do) in it, so they
// never touch the host's ruleset. It needs root (a skip without, a failure
// under CI=true).
type netns struct{ *testkit.NetNS }

func newNetNS(t testing.TB) *netns { return &netns{testkit.NewNetNS(t)} }

// firewall returns a Firewall working in the namespace.
func (n *netns) firewall(t testing.TB) *Firewall {
	t.Helper()
	f, err := New(Options{NetNSFd: n.Fd})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// conn returns an nftables connection into the namespace, for inspection.
func (n *netns) conn(t *testing.T) *nft.Conn {
	t.Helper()
	c, err := nft.New(nft.WithNetNSFd(n.Fd))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// listen serves TCP on a free loopback port inside ns, closing every
// connection it accepts, until the test ends.
func (ns *netns) listen(t *testing.T) net.Listener {
	t.Helper()
	var ln net.Listener
	var err error
	ns.Do(func() { ln, err = net.Listen("tcp4", "127.0.0.1:0") })
	if err != nil {
		t.Fatal(err)
	}
	testkit.Serve(t, ln, func(c net.Conn) { c.Close() })
	return ln
}
