package testkit

import (
	"fmt"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// NetNS is a fresh, unnamed network namespace owned by one locked OS
// thread, for tests inside one process: a netlink client joins it through
// Fd, sockets are made in it through Do. It needs root (NeedRoot).
type NetNS struct {
	Fd    int
	calls chan func()
	done  chan struct{}
}

// NewNetNS creates a namespace with loopback up, removed when the test
// ends.
func NewNetNS(t testing.TB) *NetNS {
	t.Helper()
	NeedRoot(t)
	ns := &NetNS{Fd: -1, calls: make(chan func()), done: make(chan struct{})}
	ready := make(chan error)
	go ns.own(ready)
	if err := <-ready; err != nil {
		<-ns.done
		if ns.Fd >= 0 {
			unix.Close(ns.Fd)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(ns.calls)
		<-ns.done
		unix.Close(ns.Fd)
	})
	return ns
}

// own makes the namespace on its goroutine's thread and runs the calls
// sent to it there.
func (ns *NetNS) own(ready chan<- error) {
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
	ns.Fd = fd
	if err := loUp(); err != nil {
		ready <- err
		return
	}
	ready <- nil
	for fn := range ns.calls {
		fn()
	}
}

// Do runs fn on the namespace's thread: sockets it creates live there.
func (ns *NetNS) Do(fn func()) {
	done := make(chan struct{})
	ns.calls <- func() {
		defer close(done)
		fn()
	}
	<-done
}

// loUp brings the loopback interface up in the calling thread's namespace.
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
