package gate

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// netns makes a network namespace for the test (root and iproute2's ip
// needed: skipped without, failed in CI).
func netns(t *testing.T) string {
	t.Helper()
	_, err := exec.LookPath("ip")
	if os.Geteuid() != 0 || err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root and iproute2's ip")
		}
		t.Skip("needs root and iproute2's ip")
	}
	ns := fmt.Sprintf("lj-gate-%d", os.Getpid())
	ip(t, "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	ip(t, "-n", ns, "link", "set", "lo", "up")
	ip(t, "-n", ns, "link", "add", "gate0", "type", "veth", "peer", "name", "gate1")
	ip(t, "-n", ns, "link", "set", "gate0", "up")
	return ns
}

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %v: %v\n%s", args, err, out)
	}
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

// waitFor polls cond until it holds, failing after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
			waitFor(t, tc.addr+" added is the host's", func() bool { return h.Overlaps(a) })
			// Only the address itself: its neighbours on the link are not.
			if next := Single(a.Addr().Next()); h.Overlaps(next) {
				t.Errorf("%s, on the same link, counts as the host's", next)
			}
			ip(t, "-n", ns, "addr", "del", tc.addr+"/"+tc.plen, "dev", "gate0")
			waitFor(t, tc.addr+" removed is not the host's", func() bool { return !h.Overlaps(a) })
		})
	}
	if err := h.Err(); err != nil {
		t.Errorf("watch failed: %v", err)
	}
}
