package daemon

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/enforce"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/state/gate"
)

// The runner asks the ignorecommand (the tracker runs no program), once
// per ban due and not for the failures before it: an address it passes is
// never banned and counted as refused by it; another is banned.
func TestRunnerAsksTheIgnoreCommand(t *testing.T) {
	dir := t.TempDir()
	script, asked := filepath.Join(dir, "check"), filepath.Join(dir, "asked")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$1\" >> "+asked+"\n[ \"$1\" = 203.0.113.1 ]\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := loadConfig(t, dir, "pipelines:\n  i:\n    enabled: true\n    maxretry: 3\n    ignorecommand: '"+script+" <ip>'\n"+
		"    ingest: [{file: {paths: ["+filepath.Join(dir, "i.log")+"]}}]\n    match: {failregex: ['^denied <HOST>$']}\n")
	for _, tc := range []struct {
		addr    string
		ignored bool
	}{
		{"203.0.113.1", true},
		{"203.0.113.2", false},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			os.Remove(asked)
			r := newTestRunner(t, c.Enabled()[0], openStore(t, t.TempDir()), enforce.Multi{&decisions{}})
			for range 3 {
				r.fail(match.Failure{Pipeline: "i", Addr: netip.MustParseAddr(tc.addr), Time: time.Now(), Line: "denied " + tc.addr}, time.Now())
			}
			runs, _ := os.ReadFile(asked)
			if got := strings.Fields(string(runs)); len(got) != 1 || got[0] != tc.addr {
				t.Errorf("ignorecommand ran for %q, want once for %s", got, tc.addr)
			}
			refused := r.stages.Tracker.Stats().Refused[gate.IgnoreCommand]
			if tc.ignored && (len(r.pending.Bans) != 0 || refused != 1) {
				t.Errorf("bans %+v, ignorecommand refusals %d: want none banned, one refusal", r.pending.Bans, refused)
			}
			if !tc.ignored && (len(r.pending.Bans) != 1 || refused != 0) {
				t.Errorf("bans %+v, ignorecommand refusals %d: want the address banned", r.pending.Bans, refused)
			}
		})
	}
}
