package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
)

// journalRemote finds systemd-journal-remote, which writes the real journal
// files these tests read.
func journalRemote(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"systemd-journal-remote", "/usr/lib/systemd/systemd-journal-remote", "/lib/systemd/systemd-journal-remote"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	testkit.Missing(t, "systemd-journal-remote is missing (apt-get install systemd-journal-remote)")
	return ""
}

// journalWriter appends entries to a journal file through
// systemd-journal-remote, in the journal export format.
type journalWriter struct {
	path string
	usec int64
	// noPID leaves _PID out, as journald does when the sender is gone
	// before it can look the process up.
	noPID bool
}

func (w *journalWriter) write(t testing.TB, unit string, msgs ...string) {
	t.Helper()
	var b bytes.Buffer
	for i, m := range msgs {
		// Strictly increasing, current timestamps, as journald writes them.
		w.usec = max(w.usec+1, time.Now().UnixMicro())
		fmt.Fprintf(&b, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=4bd8c7a8f4a34d0e9e1c5a6b4e2f8c11\n", w.usec, w.usec/2)
		fmt.Fprintf(&b, "_HOSTNAME=srv\n_SYSTEMD_UNIT=%s\nSYSLOG_IDENTIFIER=sshd\n", unit)
		if !w.noPID {
			fmt.Fprintf(&b, "_PID=%d\n", 2000+i)
		}
		fmt.Fprintf(&b, "MESSAGE=%s\n\n", m)
	}
	cmd := exec.Command(journalRemote(t), "--output="+w.path, "--split-mode=none", "-")
	cmd.Stdin = &b
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("systemd-journal-remote: %v\n%s", err, out)
	}
}

func failureMessages(addr string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("Failed password for root from %s port %d ssh2", addr, 50000+i))
	}
	return out
}

func bannedAddrs(t *testing.T, socket string) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	for _, b := range banned(t, socket) {
		got[b.Addr] = true
	}
	return got
}

// sshd under systemd logs to the journal only: logjail follows it by unit,
// and resumes from its cursor after a restart, losing and repeating nothing.
func TestJournaldPipeline(t *testing.T) {
	t.Parallel()
	jdir := filepath.Join(t.TempDir(), "journal")
	if err := os.MkdirAll(jdir, 0o755); err != nil {
		t.Fatal(err)
	}
	w := &journalWriter{path: filepath.Join(jdir, "remote.journal")}
	w.write(t, "ssh.service", "Server listening on 0.0.0.0 port 22.")

	s := newSetup(t, strings.ReplaceAll(e2ePipeline("maxretry: 3", `ingest:
  - journald: {directory: JDIR, match: [_SYSTEMD_UNIT=ssh.service, "+", _SYSTEMD_UNIT=sshd.service]}`, sshdFilter), "JDIR", jdir))
	s.warm = func(t testing.TB) { w.write(t, "ssh.service", "Server listening on :: port 22.") }
	first := s.start(t, nil)

	w.write(t, "ssh.service", failureMessages("198.51.100.7", 3)...)
	w.write(t, "cron.service", failureMessages("198.51.100.66", 3)...) // not sshd's unit
	w.write(t, "sshd.service", failureMessages("2001:db8::7", 3)...)
	waitBans(t, 10*time.Second, s.socket, "198.51.100.7", "2001:db8::7")
	if bannedAddrs(t, s.socket)["198.51.100.66"] {
		t.Fatal("an entry of another unit was read")
	}
	// The entries written while logjail is down are checked for loss, the
	// old ones for repetition.
	waitCommitted(t, 5*time.Second, s.socket)
	failedBefore := status(t, s.socket).Filter.TotalFailed
	first.kill()
	first.cmd.Process.Wait()
	w.write(t, "ssh.service", failureMessages("198.51.100.9", 3)...)

	s.start(t, nil)
	waitBans(t, 10*time.Second, s.socket, "198.51.100.9") // the entries written while stopped are read
	st := status(t, s.socket)
	if st.Filter.Matched != 3 || st.Filter.TotalFailed != failedBefore+3 {
		t.Errorf("after restart %d lines matched, total failed %d: want exactly the 3 written while stopped, on top of the %d counted before", st.Filter.Matched, st.Filter.TotalFailed, failedBefore)
	}
	if !strings.HasPrefix(st.Sources[0].Watching, "journald directory=") {
		t.Errorf("status watching %q", st.Sources[0].Watching)
	}
}
