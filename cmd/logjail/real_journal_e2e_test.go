package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logjail/logjail/internal/testkit"
)

// Journal files written by systemd-journal-remote, read by logjail in the
// srv namespace with the shipped sshd filter: sshd's entries ban whether
// they carry a _PID or not (journald has none when sshd's process is gone
// before it looks it up, and relays drop it), laid out as "srv sshd[PID]:"
// and "srv sshd:".
func TestRealJournalRemote(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "ip")
	jdir := filepath.Join(t.TempDir(), "journal")
	if err := os.MkdirAll(jdir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(jdir, "remote.journal")
	withPID, withoutPID := &journalWriter{path: path}, &journalWriter{path: path, noPID: true}
	withPID.write(t, "ssh.service", "Server listening on 0.0.0.0 port 22.")

	tn := newTestNet(t)
	tn.listen(t, 2222)
	s := newSetup(t, strings.ReplaceAll(e2ePipeline("maxretry: 3", "bantime: 1h", `ingest:
  - journald: {directory: JDIR, match: [_SYSTEMD_UNIT=ssh.service]}`, sshdFilter, nftables2222), "JDIR", jdir))
	s.warm = func(t testing.TB) { withPID.write(t, "ssh.service", "Server listening on :: port 22.") }
	s.start(t, tn)

	for _, tc := range []struct {
		name     string
		w        *journalWriter
		attacker string
	}{
		{"with _PID", withPID, "192.0.2.2"},
		{"without _PID", withoutPID, "192.0.2.3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.w.write(t, "ssh.service", failureMessages(tc.attacker, 3)...)
			tn.waitBanned(t, s, "e2e-v4", tc.attacker)
			if tn.connect(t, tc.attacker, "192.0.2.1", 2222) {
				t.Errorf("banned %s still connects", tc.attacker)
			}
			if !tn.connect(t, "192.0.2.4", "192.0.2.1", 2222) {
				t.Errorf("192.0.2.4 cannot connect while %s is banned", tc.attacker)
			}
		})
	}
}
