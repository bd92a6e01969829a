package gate

import (
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/logjail/logjail/internal/testkit"
)

// netns makes a network namespace for the test with a veth gate0 up in
// it (root and iproute2's ip needed: skipped without, failed in CI).
func netns(t *testing.T) string {
	t.Helper()
	testkit.NeedRoot(t, "ip")
	ns := testkit.NamedNetns(t, "lj-gate")
	ip(t, "-n", ns, "link", "add", "gate0", "type", "veth", "peer", "name", "gate1")
	ip(t, "-n", ns, "link", "set", "gate0", "up")
	return ns
}

func ip(t *testing.T, args ...string) {
	t.Helper()
	testkit.Run(t, append([]string{"ip"}, args...)...)
}

// watchIn starts WatchHost on a thread inside ns.
func watchIn(t *testing.T, ns string) *Host {
	t.Helper()
	var h *Host
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // the thread stays in ns and dies with the goroutine
		f, err := os.Open("/run/netns/" + ns)
		if err == nil {
			err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
			f.Close()
		}
		if err == nil {
			h, err = WatchHost(func(err error) { t.Errorf("watch: %v", err) })
		}
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// waitHost waits until h counts a as the host's (or, with want false,
// not), and fails showing the host's prefixes it saw.
func waitHost(t *testing.T, h *Host, a netip.Prefix, want bool) {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, func() error {
		return testkit.Check(h.Overlaps(a) == want, "%s is the host's: %v, want %v; the host's prefixes %v", a, !want, want, h.Prefixes())
	})
}

// An address added to an interface after the watch started is this
// host's at once (no reload, no re-read on a timer); one removed is not.
func TestHostFollowsAddresses(t *testing.T) {
	ns := netns(t)
	h := watchIn(t, ns)
	for _, tc := range []struct{ addr, plen string }{
		{"198.51.100.200", "24"},
		{"2001:db8:77::5", "64"},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			a := Single(netip.MustParseAddr(tc.addr))
			if h.Overlaps(a) {
				t.Fatalf("%s is the host's before it was added: %v", a, h.Prefixes())
			}
			ip(t, "-n", ns, "addr", "add", tc.addr+"/"+tc.plen, "dev", "gate0", "nodad")
			waitHost(t, h, a, true)
			// Only the address itself: its neighbours on the link are not.
			if next := Single(a.Addr().Next()); h.Overlaps(next) {
				t.Errorf("%s, on the same link, counts as the host's", next)
			}
			ip(t, "-n", ns, "addr", "del", tc.addr+"/"+tc.plen, "dev", "gate0")
			waitHost(t, h, a, false)
		})
	}
	if err := h.Err(); err != nil {
		t.Errorf("watch failed: %v", err)
	}
}
