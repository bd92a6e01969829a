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
// answers; status shows the overrides; values print as the YAML writes
// them; bad requests exit 2, wrong arguments and an unknown pipeline 1; a
// reload returns to the file.
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

	// Values print as the YAML writes them, in set, get and status alike.
	const inc = "{factor: 2, formula: default, maxtime: 0s, multipliers: [], overalljails: false, rndtime: 0s}"
	wantRun(t, sock, 0, "e2e: bantime_increment = {factor: 1, formula: default, ", "set", "e2e", "bantime.increment", "true")
	wantRun(t, sock, 0, "e2e: bantime_increment.factor = 2 (run-time only", "set", "e2e", "bantime.factor", "2")
	wantRun(t, sock, 0, "factor: 2\nformula: default\nmaxtime: 0s\nmultipliers: []\n", "get", "e2e", "bantime.increment")
	if out := wantRun(t, sock, 0, "Set at run time (until a reload or restart): bantime_increment "+inc+", ", "status", "e2e"); strings.Contains(out, "map[") {
		t.Errorf("status prints Go's syntax:\n%s", out)
	}
	wantRun(t, sock, 0, "\"\"\n", "get", "e2e", "ignorecommand")
	wantRun(t, sock, 2, `logjail: maxretry: expected an integer, got "abc"`, "set", "e2e", "maxretry", "abc")

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
	wantRun(t, sock, 0, "Watching:         nothing (stopped: logjail start e2e)\n", "status", "e2e")
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

// A stopped pipeline's bans stay in the kernel, so the commands about bans
// still see them, with the real binary and nftables: banned ADDR and
// explain show them (stopped), ban adds one, unban ADDR, unban --all
// --pipeline and stop --unban lift them from the kernel's set and the
// store: after start, and after a restart, they stay lifted.
func TestStoppedPipelineBanCommands(t *testing.T) {
	t.Parallel()
	tn := newTestNet(t)
	s := newSetup(t, runtimeConfig)
	first := s.start(t, tn)
	sock := s.socket
	wantRun(t, sock, 0, "banned", "ban", "e2e", "203.0.113.9")
	wantRun(t, sock, 0, "pipeline e2e stopped", "stop", "e2e")

	wantRun(t, sock, 0, "203.0.113.9\tbanned\te2e (stopped)\t203.0.113.9\tuntil ", "banned", "203.0.113.9")
	wantRun(t, sock, 0, `"pipeline_stopped": true`, "banned", "--json")
	wantRun(t, sock, 0, "203.0.113.9 is banned by e2e (stopped)\n", "explain", "203.0.113.9", "--pipeline", "e2e")
	wantRun(t, sock, 0, "banned e2e (stopped)\t203.0.113.10\t", "ban", "e2e", "203.0.113.10")
	if !tn.bannedIn(t, "e2e-v4", "203.0.113.10") {
		t.Error("a ban in a stopped pipeline is not in the kernel's set")
	}
	wantRun(t, sock, 0, "unbanned 203.0.113.9 from e2e\n", "unban", "203.0.113.9")
	if tn.bannedIn(t, "e2e-v4", "203.0.113.9") {
		t.Error("unban of a stopped pipeline's ban left it in the kernel's set")
	}
	wantNotBanned(t, sock, "203.0.113.9")
	wantRun(t, sock, 0, "lifted 1 bans\n", "unban", "--all", "--pipeline", "e2e")
	wantRun(t, sock, 0, "banned", "ban", "e2e", "203.0.113.11")
	wantRun(t, sock, 0, "pipeline e2e stopped; 1 bans lifted\n", "stop", "e2e", "--unban")
	if els := tn.elements(t, "e2e-v4"); len(els) != 0 {
		t.Errorf("the stopped pipeline's bans lifted, the kernel's set still holds %v", els)
	}

	wantRun(t, sock, 0, "pipeline e2e started\n", "start", "e2e")
	wantNotBanned(t, sock, "203.0.113.9", "203.0.113.10", "203.0.113.11")
	first.kill()
	first.cmd.Process.Wait()
	s.start(t, tn) // the store's bans: none
	wantNotBanned(t, sock, "203.0.113.9", "203.0.113.10", "203.0.113.11")
	if els := tn.elements(t, "e2e-v4"); len(els) != 0 {
		t.Errorf("after a restart the kernel's set holds %v", els)
	}
}

// wantNotBanned checks that banned ADDR... says each is not banned.
func wantNotBanned(t *testing.T, socket string, addrs ...string) {
	t.Helper()
	out, errOut, code := logjailRun(t, socket, append([]string{"banned"}, addrs...)...)
	if code != 1 || strings.Count(out, "\tnot banned\n") != len(addrs) {
		t.Errorf("banned %s: exit code %d, stdout %q, stderr %q; want each not banned", strings.Join(addrs, " "), code, out, errOut)
	}
}
