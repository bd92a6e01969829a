package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The exec action: start when logjail starts, ban and unban with the
// address, stop when it stops — a real script records its calls.
func TestExecAction(t *testing.T) {
	needRoot(t)
	tn := newTestNet(t)
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	script := filepath.Join(dir, "action")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$*\" >> "+calls+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := newSetup(t, strings.ReplaceAll(`
pipelines:
  e2e:
    enabled: true
    maxretry: 2
    ingest:
      - file: {paths: [LOGFILE], poll: 200ms}
    match: {filter: sshd}
    enforce:
      - exec:
          start: [SCRIPT, start, "{{.Pipeline}}"]
          ban: [SCRIPT, ban, "{{.Addr}}", "{{.Bantime}}"]
          unban: [SCRIPT, unban, "{{.Addr}}"]
          stop: [SCRIPT, stop, "{{.Pipeline}}"]
`, "SCRIPT", script))
	in := s.start(t, tn)
	s.appendLines(t, time.Now(), failures("203.0.113.44", 2)...)
	read := func() string { b, _ := os.ReadFile(calls); return string(b) }
	eventually(t, 10*time.Second, "ban command run", func() bool { return strings.Contains(read(), "ban 203.0.113.44 600") })
	if out, err := exec.Command(binary, "unban", "203.0.113.44", "--socket", s.socket).CombinedOutput(); err != nil {
		t.Fatalf("logjail unban: %v\n%s", err, out)
	}
	eventually(t, 10*time.Second, "unban command run", func() bool { return strings.Contains(read(), "unban 203.0.113.44") })
	in.cmd.Process.Signal(syscall.SIGTERM)
	eventually(t, 10*time.Second, "stop command run", func() bool { return strings.Contains(read(), "stop e2e") })
	if got := read(); !strings.HasPrefix(got, "start e2e\n") {
		t.Errorf("calls %q: want start first", got)
	}
}
