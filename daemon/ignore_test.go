package daemon

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/enforce"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/pipelines"
	"github.com/logjail/logjail/state"
	"github.com/logjail/logjail/state/gate"
)

// The runner asks the ignorecommand (the tracker runs no program), once
// per ban due and not for the failures before it: an address it passes is
// never banned and counted as refused by it; another is banned.
func TestRunnerAsksTheIgnoreCommand(t *testing.T) {
	c, asked := ignoreCommandConfig(t)
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
			if got := commandRuns(asked); len(got) != 1 || got[0] != tc.addr {
				t.Errorf("ignorecommand ran for %q, want once for %s", got, tc.addr)
			}
			refused := r.stages.Tracker.Stats().Refused[gate.IgnoreCommand]
			if tc.ignored && (len(r.pending.Decisions) != 0 || refused != 1) {
				t.Errorf("bans %+v, ignorecommand refusals %d: want none banned, one refusal", r.pending.Decisions, refused)
			}
			if !tc.ignored && (len(r.pending.Decisions) != 1 || refused != 0) {
				t.Errorf("bans %+v, ignorecommand refusals %d: want the address banned", r.pending.Decisions, refused)
			}
		})
	}
}

// ignoreCommandConfig is pipeline i, banning after three failures, whose
// ignorecommand passes 203.0.113.1 and notes every address it is asked
// about in the file asked.
func ignoreCommandConfig(t *testing.T) (c *pipelines.Config, asked string) {
	t.Helper()
	dir := t.TempDir()
	script, asked := filepath.Join(dir, "check"), filepath.Join(dir, "asked")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$1\" >> "+asked+"\n[ \"$1\" = 203.0.113.1 ]\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c = loadConfig(t, dir, "pipelines:\n  i:\n    enabled: true\n    maxretry: 3\n    ignorecommand: '"+script+" <ip>'\n"+
		"    ingest: [{file: {paths: ["+filepath.Join(dir, "i.log")+"]}}]\n    match: {failregex: ['^denied <HOST>$']}\n")
	return c, asked
}

// commandRuns are the addresses the ignorecommand was asked about, in
// order; the file is emptied for the next runs.
func commandRuns(asked string) []string {
	runs, _ := os.ReadFile(asked)
	os.Remove(asked)
	return strings.Fields(string(runs))
}

// A manual ban asks the ignorecommand once, on the runner (the tracker
// runs no program): an address it passes is refused with the rule named,
// stored nowhere and enforced nowhere; another is banned. An address the
// gate's other rules refuse is refused without running the command.
func TestManualBanAsksTheIgnoreCommand(t *testing.T) {
	c, asked := ignoreCommandConfig(t)
	rec := &decisions{}
	store := openStore(t, t.TempDir())
	r := newTestRunner(t, c.Enabled()[0], store, enforce.Multi{rec})
	ctx, cancel := context.WithCancel(context.Background())
	d := &Daemon{store: store, log: slog.New(slog.DiscardHandler), runCtx: ctx, runners: map[string]*runner{}}
	d.run(r)
	defer func() { cancel(); <-r.done }()
	for _, tc := range []struct {
		addr   string
		code   int
		answer string // in the response
		runs   []string
	}{
		{"203.0.113.1", http.StatusBadRequest, "203.0.113.1 is passed by the ignorecommand of pipeline i, which never bans it", []string{"203.0.113.1"}},
		{"::ffff:203.0.113.1", http.StatusBadRequest, "is passed by the ignorecommand of pipeline i", []string{"203.0.113.1"}},
		{"127.0.0.1", http.StatusBadRequest, "127.0.0.1 is not a host address", nil},
		{"203.0.113.2", http.StatusOK, `"addr":"203.0.113.2"`, []string{"203.0.113.2"}},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			heard := len(rec.got)
			w := httptest.NewRecorder()
			d.handler().ServeHTTP(w, httptest.NewRequest("POST", "/v1/ban", strings.NewReader(`{"pipeline":"i","addr":"`+tc.addr+`"}`)))
			if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.answer) {
				t.Errorf("answer %d %s, want %d with %q", w.Code, w.Body, tc.code, tc.answer)
			}
			if got := commandRuns(asked); !slices.Equal(got, tc.runs) {
				t.Errorf("ignorecommand ran for %q, want %q", got, tc.runs)
			}
			stored, err := store.Bans("i")
			if err != nil {
				t.Fatal(err)
			}
			if banned := tc.code == http.StatusOK; banned != (len(rec.got) > heard) || banned != slices.ContainsFunc(stored, func(b state.Decision) bool {
				return b.Prefix.Addr().String() == tc.addr
			}) {
				t.Errorf("enforced %v, stored %+v: want banned %v", rec.got[heard:], stored, banned)
			}
		})
	}
	var refused uint64
	if err := r.call(context.Background(), func() { refused = r.stages.Tracker.Stats().Refused[gate.IgnoreCommand] }); err != nil || refused != 2 {
		t.Errorf("ignorecommand refusals %d (%v), want 2", refused, err)
	}
}
