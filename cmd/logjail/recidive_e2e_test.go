package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/daemon"
	"github.com/logjail/logjail/internal/testkit"
)

// The recidive example: logjail reads its own log, and an address banned
// three times by another pipeline is banned by the recidive pipeline.
func TestRecidivePipeline(t *testing.T) {
	t.Parallel()
	s := newSetup(t, "")
	daemonLog := filepath.Join(s.dir, "daemon.log")
	writeConfig(t, s.config, strings.NewReplacer("LOGFILE", s.logFile, "DAEMONLOG", daemonLog).Replace(`
pipelines:
  e2e:
    enabled: true
    maxretry: 1
    ingest:
      - file: {paths: [LOGFILE], poll: 200ms}
    match: {filter: sshd}
  recidive:
    enabled: true
    maxretry: 3
    findtime: 1d
    bantime: 1w
    ingest:
      - file: {paths: [DAEMONLOG], poll: 200ms}
    match: {filter: recidive}
`))
	s.start(t, nil)
	for range 3 {
		if out, err := exec.Command(binary, "ban", "e2e", "203.0.113.77", "--for", "1h", "--socket", s.socket).CombinedOutput(); err != nil {
			t.Fatalf("logjail ban: %v\n%s", err, out)
		}
	}
	waitBanOf(t, 10*time.Second, s.socket, "recidive", "203.0.113.77")
}

func writeConfig(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// The recidive example as shipped: a bans source follows the other
// pipelines' decisions inside logjail, no log read again.
func TestRecidiveFromBansSource(t *testing.T) {
	t.Parallel()
	s := newSetup(t, `
pipelines:
  e2e:
    enabled: true
    maxretry: 2
    bantime: 1s
    ingest:
      - file: {paths: [LOGFILE], poll: 100ms}
    match: {filter: sshd}
  recidive:
    enabled: true
    maxretry: 3
    findtime: 1d
    bantime: 1w
    ingest:
      - bans: {pipelines: [e2e]}
    match: {filter: recidive}
`)
	s.start(t, nil)
	// Banned three times by e2e (each ban lasts a second), from the log.
	for round := range 3 {
		s.appendLines(t, time.Now(), failures("2001:db8::77", 2)...)
		testkit.WaitFor(t, 10*time.Second, func() error {
			bans := banned(t, s.socket)
			return testkit.Check(slices.ContainsFunc(bans, byPipeline("e2e")), "ban %d: no ban by e2e; the bans: %+v", round+1, bans)
		})
		testkit.WaitFor(t, 10*time.Second, func() error {
			bans := banned(t, s.socket)
			return testkit.Check(!slices.ContainsFunc(bans, byPipeline("e2e")), "ban %d expired: still banned by e2e: %+v", round+1, bans)
		})
	}
	testkit.WaitFor(t, 10*time.Second, func() error {
		bans := banned(t, s.socket)
		ok := slices.ContainsFunc(bans, func(b daemon.Ban) bool {
			return b.Pipeline == "recidive" && b.Addr == "2001:db8::77" && b.RemainingS > 6*24*3600
		})
		return testkit.Check(ok, "recidive ban of 2001:db8::77 for about a week; the bans: %+v", bans)
	})
}

// byPipeline matches the bans of pipeline.
func byPipeline(pipeline string) func(daemon.Ban) bool {
	return func(b daemon.Ban) bool { return b.Pipeline == pipeline }
}
