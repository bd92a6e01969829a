package testkit

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// NeedRoot skips a test that needs root (and the programs named in
// tools, e.g. iproute2's ip) without them, except under CI=true, where it
// fails: CI must run every test.
func NeedRoot(t testing.TB, tools ...string) {
	t.Helper()
	miss := ""
	if os.Geteuid() != 0 {
		miss = "root"
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil && miss == "" {
			miss = tool
		}
	}
	if miss == "" {
		return
	}
	Missing(t, "this test needs %s", miss)
}

// Run runs a command and fails the test with its output when it fails.
func Run(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

var netnsCounter atomic.Int32

// NamedNetns makes a network namespace with ip netns add, its loopback
// up, deleted when the test ends. Its name starts with prefix and holds
// the process id and a counter, so parallel tests and test binaries never
// share one.
func NamedNetns(t testing.TB, prefix string) string {
	t.Helper()
	ns := fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), netnsCounter.Add(1))
	Run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	Run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	return ns
}

// InNetns runs fn on a thread switched into the named namespace ns.
// Sockets made in fn stay in ns afterwards.
func InNetns(t testing.TB, ns string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			panic("cannot return to the original network namespace: " + err.Error())
		}
	}()
	fn()
}

// Serve accepts connections on ln and hands each to handle (which closes
// it) until the test ends, when ln is closed.
func Serve(t testing.TB, ln net.Listener, handle func(net.Conn)) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			handle(c)
		}
	}()
}
