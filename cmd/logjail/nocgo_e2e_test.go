package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A logjail built without cgo cannot read the journal: it says so when the
// configuration is loaded, and the other pipelines still run.
func TestWithoutCgoJournaldPipelineOnlyStops(t *testing.T) {
	t.Parallel()
	nocgo := filepath.Join(t.TempDir(), "logjail-nocgo")
	build := exec.Command("go", "build", "-o", nocgo, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
	s := newSetup(t, `
pipelines:
  e2e:
    enabled: true
    maxretry: 2
    ingest:
      - file: {paths: [LOGFILE], poll: 200ms}
    match: {filter: sshd}
  journal:
    enabled: true
    ingest:
      - journald: {match: [_SYSTEMD_UNIT=ssh.service]}
    match: {filter: sshd}
`)
	out, err := exec.Command(nocgo, "validate", "--config", s.config).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "warning:") || !strings.Contains(string(out), "built without cgo") {
		t.Fatalf("validate: want OK with a warning about cgo, got %v:\n%s", err, out)
	}

	s.bin = nocgo
	s.start(t, nil)
	s.appendLines(t, time.Now(), failures("198.51.100.7", 2)...)
	waitBans(t, 10*time.Second, s.socket, "198.51.100.7") // the file pipeline bans
	out, err = exec.Command(nocgo, "status", "--socket", s.socket).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Pipeline journal is not running") || !strings.Contains(string(out), "built without cgo") {
		t.Fatalf("status: %v\n%s", err, out)
	}
}
