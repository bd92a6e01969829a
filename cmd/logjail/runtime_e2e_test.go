package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/daemon"
	"github.com/logjail/logjail/internal/testkit"
)

// runtimeConfig is the pipeline of the get/set and stop/start tests:
// maxretry 3, enforced in nftables.
var runtimeConfig = e2ePipeline("maxretry: 3", "bantime: 1h", fileSource, sshdFilter, nftables2222)

// wantRun runs logjail with args and checks its exit code and that its
// stdout (or, when it failed, its stderr) contains want.
func wantRun(t *testing.T, socket string, code int, want string, args ...string) string {
	t.Helper()
	out, errOut, got := logjailRun(t, socket, args...)
	text := out
	if code != 0 {
		text = errOut
	}
	if got != code || !strings.Contains(text, want) {
		t.Errorf("logjail %s: exit code %d, stdout %q, stderr %q; want %d and %q", strings.Join(args, " "), got, out, errOut, code, want)
	}
	return out
}

// get and set, with the real binary and nftables: a maxretry set bans at
// the new count; an addignoreip lifts the ban from the kernel before set
// answers; status shows the overrides; bad requests exit 2, an unknown
// pipeline 1; a reload returns to the file.
func TestGetSetCommands(t *testing.T) {
	t.Parallel()
	tn := newTestNet(t)
	s := newSetup(t, runtimeConfig)
	s.start(t, tn)
	sock := s.socket

	wantRun(t, sock, 0, "3\n", "get", "e2e", "maxretry")
	wantRun(t, sock, 0, `"value": 3`, "get", "e2e", "maxretry", "--json")
	wantRun(t, sock, 0, s.logFile+"\n", "get", "e2e", "logpath")
	wantRun(t, sock, 0, "e2e: maxretry = 2 (run-time only: a reload or restart returns to the configuration file)\n", "set", "e2e", "maxretry", "2")
	s.appendLines(t, time.Now(), failures("203.0.113.5", 2)...)
	tn.waitBanned(t, s, "e2e-v4", "203.0.113.5")
	if st := status(t, sock); st.Overrides["maxretry"] != float64(2) || st.State != "running" {
		t.Errorf("status: state %q overrides %v", st.State, st.Overrides)
	}
	wantRun(t, sock, 0, "Set at run time (until a reload or restart): maxretry 2\n", "status", "e2e")

	out := wantRun(t, sock, 0, `"lifted": [`, "set", "e2e", "addignoreip", "203.0.113.0/24", "--json")
	var res daemon.SetResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || strings.Join(res.Lifted, ",") != "203.0.113.5" {
		t.Errorf("set addignoreip --json: %v %s", err, out)
	}
	if tn.bannedIn(t, "e2e-v4", "203.0.113.5") {
		t.Error("the address added to ignoreip is still in the kernel's set after set answered")
	}

	wantRun(t, sock, 2, `logjail: findtime: invalid duration "10x"`, "set", "e2e", "findtime", "10x")
	if _, errOut, code := logjailRun(t, sock, "set", "e2e", "findtime", "10x", "--json"); code != 2 || !strings.HasPrefix(jsonError(t, errOut), "findtime: invalid duration") {
		t.Errorf("set of a bad value under --json: exit code %d, %s", code, errOut)
	}
	wantRun(t, sock, 2, "usedns: unknown key", "get", "e2e", "usedns")
	wantRun(t, sock, 1, "usage: logjail set PIPELINE KEY VALUE", "set", "e2e", "maxretry")
	wantRun(t, sock, 1, `no pipeline "nosuch"`, "set", "nosuch", "maxretry", "2")

	wantRun(t, sock, 0, "reloaded; pipelines: e2e", "reload")
	wantRun(t, sock, 0, "3\n", "get", "e2e", "maxretry")
	if out := wantRun(t, sock, 0, `"overrides": {}`, "status", "e2e", "--json"); t.Failed() {
		t.Logf("status after the reload:\n%s", out)
	}
}

// stop and start with the real binary and nftables: a stopped pipeline's
// bans stay in the kernel, and come back after a flush; status, the
// overview and the metrics say it is stopped; lines written meanwhile are
// read at start, each once; stop --unban lifts the bans; a second stop or
// start exits 3, an unknown pipeline 1.
func TestStopStartCommands(t *testing.T) {
	t.Parallel()
	tn := newTestNet(t)
	s := newSetup(t, runtimeConfig)
	s.extra = []string{"--metrics", "127.0.0.1:9469"}
	s.start(t, tn)
	sock := s.socket
	wantRun(t, sock, 0, "banned", "ban", "e2e", "203.0.113.9")
	s.appendLines(t, time.Now(), failures("203.0.113.7", 2)...)
	testkit.WaitFor(t, 10*time.Second, func() error {
		n := status(t, sock).Filter.TotalFailed
		return testkit.Check(n == 2, "%d failures counted, want 2", n)
	})

	wantRun(t, sock, 0, "pipeline e2e stopped; its bans stay until they expire (logjail start e2e resumes it)\n", "stop", "e2e")
	if !tn.bannedIn(t, "e2e-v4", "203.0.113.9") {
		t.Error("stop lifted a ban from the kernel")
	}
	if st := status(t, sock); st.State != "stopped" || st.Actions.CurrentlyBanned != 1 {
		t.Errorf("status of the stopped pipeline: %+v", st)
	}
	wantRun(t, sock, 0, "Pipeline e2e is stopped (logjail start e2e)\n", "status")
	if m := scrapeMetrics(t, tn); !strings.Contains(m, `logjail_pipeline_stopped{pipeline="e2e"} 1`) || !strings.Contains(m, `logjail_pipeline_up{pipeline="e2e"} 0`) {
		t.Errorf("metrics of the stopped pipeline:\n%s", m)
	}
	// A flushed ruleset gets the stopped pipeline's bans back.
	conn := tn.nftConn(t)
	conn.FlushRuleset()
	if err := conn.Flush(); err != nil {
		t.Fatalf("flush ruleset: %v", err)
	}
	tn.waitHolds(t, 10*time.Second, "e2e-v4", "203.0.113.9")
	wantRun(t, sock, 3, "pipeline e2e is stopped already", "stop", "e2e")
	wantRun(t, sock, 3, "start it first", "set", "e2e", "maxretry", "2")

	s.appendLines(t, time.Now(), failures("203.0.113.7", 1)...)
	s.appendLines(t, time.Now(), "sshd[999]: Connection closed by 192.0.2.3 port 22")
	wantRun(t, sock, 0, "pipeline e2e started\n", "start", "e2e")
	tn.waitBanned(t, s, "e2e-v4", "203.0.113.7")
	testkit.WaitFor(t, 10*time.Second, func() error {
		st := status(t, sock)
		return testkit.Check(len(st.Sources) == 1 && st.Sources[0].Read == 2 && st.Filter.TotalFailed == 3,
			"after start: %+v read, %d failures; want the 2 lines written while stopped read, 3 failures in all", st.Sources, st.Filter.TotalFailed)
	})
	wantRun(t, sock, 3, "pipeline e2e is running already", "start", "e2e")

	wantRun(t, sock, 0, `"unbanned": 2`, "stop", "e2e", "--unban", "--json")
	if els := tn.elements(t, "e2e-v4"); len(els) != 0 {
		t.Errorf("stop --unban left %v in the kernel", els)
	}
	wantRun(t, sock, 1, `no pipeline "nosuch"`, "start", "nosuch")
	wantRun(t, sock, 0, "pipeline e2e started\n", "start", "e2e")
}
