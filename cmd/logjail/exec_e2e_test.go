package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
)

// The exec action: start when logjail starts, ban and unban with the
// address, stop when it stops — a real script records its calls.
func TestExecAction(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "ip")
	tn := newTestNet(t)
	script, calls := recordingAction(t)
	s := newSetup(t, strings.ReplaceAll(e2ePipeline("maxretry: 2", fileSource, sshdFilter, `enforce:
  - exec:
      start: [SCRIPT, start, "{{.Pipeline}}"]
      ban: [SCRIPT, ban, "{{.Addr}}", "{{.Bantime}}"]
      unban: [SCRIPT, unban, "{{.Addr}}"]
      stop: [SCRIPT, stop, "{{.Pipeline}}"]`), "SCRIPT", script))
	in := s.start(t, tn)
	s.appendLines(t, time.Now(), failures("203.0.113.44", 2)...)
	read := func() string { b, _ := os.ReadFile(calls); return string(b) }
	waitCall := func(want string) {
		t.Helper()
		testkit.WaitFor(t, 10*time.Second, func() error {
			got := read()
			return testkit.Check(strings.Contains(got, want), "no call %q among the calls %q", want, got)
		})
	}
	waitCall("ban 203.0.113.44 600")
	if out, err := exec.Command(binary, "unban", "203.0.113.44", "--socket", s.socket).CombinedOutput(); err != nil {
		t.Fatalf("logjail unban: %v\n%s", err, out)
	}
	waitCall("unban 203.0.113.44")
	in.cmd.Process.Signal(syscall.SIGTERM)
	waitCall("stop e2e")
	if got := read(); !strings.HasPrefix(got, "start e2e\n") {
		t.Errorf("calls %q: want start first", got)
	}
}

// The firewall watch repairs the firewall only: when it restores a flushed
// table, an exec action listed beside nftables is not run again for the
// bans it already applied (a curl or ufw action would otherwise spawn one
// process per active ban every few seconds).
func TestFirewallRepairDoesNotRerunExec(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "ip")
	tn := newTestNet(t)
	script, calls := recordingAction(t)
	// exec first: were it repaired too, it would run before the element
	// is back, so the count below would see it.
	s := newSetup(t, strings.ReplaceAll(e2ePipeline("maxretry: 2", "bantime: 1h", fileSource, sshdFilter, `enforce:
  - exec:
      ban: [SCRIPT, ban, "{{.Addr}}"]
  - nftables: {ports: [2222]}`), "SCRIPT", script))
	s.start(t, tn)
	s.appendLines(t, time.Now(), failures("192.0.2.2", 2)...)
	bans := func() int { b, _ := os.ReadFile(calls); return strings.Count(string(b), "ban 192.0.2.2\n") }
	testkit.WaitFor(t, 10*time.Second, func() error {
		n := bans()
		return testkit.Check(n == 1, "the ban command ran %d times, want 1", n)
	})
	tn.waitHolds(t, 10*time.Second, "e2e-v4", "192.0.2.2")

	conn := tn.nftConn(t)
	conn.FlushRuleset()
	if err := conn.Flush(); err != nil {
		t.Fatalf("flush ruleset: %v", err)
	}
	tn.waitHolds(t, 10*time.Second, "e2e-v4", "192.0.2.2") // table and ban restored
	if n := bans(); n != 1 {
		b, _ := os.ReadFile(calls)
		t.Fatalf("the ban command ran %d times (want 1: repairing the firewall must not re-run exec actions):\n%s", n, b)
	}
}

// An exec action that fails while the bans are restored at start (its
// server down) does not keep logjail from starting: the failure is counted
// and the bans stay.
func TestFailingExecDoesNotStopStart(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "ip")
	tn := newTestNet(t)
	s := newSetup(t, e2ePipeline("bantime: 1h", fileSource, sshdFilter, `enforce:
  - exec: {ban: [/bin/sh, -c, "exit 3"], retries: 0}`))
	first := s.start(t, tn)
	if out, err := exec.Command(binary, "ban", "e2e", "192.0.2.2", "--socket", s.socket).CombinedOutput(); err != nil {
		t.Fatalf("logjail ban: %v\n%s", err, out)
	}
	first.kill()
	first.cmd.Process.Wait()

	s.start(t, tn) // fails the test if logjail exits during start-up
	if got := bannedAddrs(t, s.socket); !got["192.0.2.2"] {
		t.Errorf("banned after the restart: %v", got)
	}
	if st := status(t, s.socket); st.Actions.EnforceErrors < 1 {
		t.Errorf("enforce errors %d: the failed restore is not counted", st.Actions.EnforceErrors)
	}
}

// recordingAction is an exec action's program that appends its arguments,
// one call a line, to the file calls.
func recordingAction(t *testing.T) (script, calls string) {
	t.Helper()
	dir := t.TempDir()
	calls = filepath.Join(dir, "calls")
	script = filepath.Join(dir, "action")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$*\" >> "+calls+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, calls
}
