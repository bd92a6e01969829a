package nftables

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"testing"

	nft "github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// netns is a fresh network namespace owned by one locked OS thread. Tests
// run their firewall (via its fd) and their sockets (via do) in it, so they
// never touch the host's ruleset.
type netns struct {
	fd    int
	calls chan func()
	done  chan struct{}
}

// newNetNS creates a namespace with lo up, removed at the test's end. It
// skips the test when not root, unless CI=true, where it fails.
func newNetNS(t testing.TB) *netns {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("nftables tests need root (CI=true)")
		}
		t.Skip("nftables tests need root")
	}
	ns := &netns{fd: -1, calls: make(chan func()), done: make(chan struct{})}
	ready := make(chan error)
	go func() {
		defer close(ns.done)
		// Never unlocked: when this goroutine ends its thread ends too, so
		// the namespace cannot leak to other goroutines.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ready <- fmt.Errorf("unshare: %w", err)
			return
		}
		fd, err := unix.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ready <- fmt.Errorf("open netns: %w", err)
			return
		}
		ns.fd = fd
		if err := loUp(); err != nil {
			ready <- err
			return
		}
		ready <- nil
		for fn := range ns.calls {
			fn()
		}
	}()
	if err := <-ready; err != nil {
		<-ns.done
		if ns.fd >= 0 {
			unix.Close(ns.fd)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(ns.calls)
		<-ns.done
		unix.Close(ns.fd)
	})
	return ns
}

// do runs fn on the namespace's thread: sockets it creates live there.
func (n *netns) do(fn func()) {
	done := make(chan struct{})
	n.calls <- func() {
		defer close(done)
		fn()
	}
	<-done
}

// loUp brings the loopback interface up on the calling thread's namespace.
func loUp() error {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	defer unix.Close(s)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo up: get flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo up: set flags: %w", err)
	}
	return nil
}

// firewall returns a Firewall working in the namespace.
func (n *netns) firewall(t testing.TB) *Firewall {
	t.Helper()
	f, err := New(Options{NetNSFd: n.fd})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// conn returns an nftables connection into the namespace, for inspection.
func (n *netns) conn(t *testing.T) *nft.Conn {
	t.Helper()
	c, err := nft.New(nft.WithNetNSFd(n.fd))
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
	ns.do(func() { ln, err = net.Listen("tcp4", "127.0.0.1:0") })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln
}
