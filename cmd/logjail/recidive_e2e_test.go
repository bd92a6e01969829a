package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	testkit.Eventually(t, 10*time.Second, "recidive ban", func() bool {
		for _, b := range banned(t, s.socket) {
			if b.Pipeline == "recidive" && b.Addr == "203.0.113.77" {
				return true
			}
		}
		return false
	})
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
		testkit.Eventually(t, 10*time.Second, fmt.Sprintf("ban %d", round+1), func() bool {
			for _, b := range banned(t, s.socket) {
				if b.Pipeline == "e2e" {
					return true
				}
			}
			return false
		})
		testkit.Eventually(t, 10*time.Second, "ban expired", func() bool {
			for _, b := range banned(t, s.socket) {
				if b.Pipeline == "e2e" {
					return false
				}
			}
			return true
		})
	}
	testkit.Eventually(t, 10*time.Second, "recidive ban", func() bool {
		for _, b := range banned(t, s.socket) {
			if b.Pipeline == "recidive" && b.Addr == "2001:db8::77" && b.RemainingS > 6*24*3600 {
				return true
			}
		}
		return false
	})
}
