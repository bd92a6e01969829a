package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/daemon"
	"github.com/logjail/logjail/internal/testkit"
)

// `explain ADDR` with the real binary: a ban after 3 failures is told with
// its window and its 3 lines, each with the failregex that matched it
// (text and --json, exit code 0); an ignoreip address is not banned, and
// the gate says why (exit code 1, arrays [] in JSON); a bad address or
// pipeline is an error (exit code 2).
func TestExplain(t *testing.T) {
	t.Parallel()
	s := newSetup(t, e2ePipeline(fileSource, sshdFilter, "maxretry: 3", "ignoreself: false", "ignoreip: [198.51.100.0/24]"))
	s.start(t, nil)
	sock := s.socket
	s.appendLines(t, time.Now(), failures("203.0.113.5", 3)...)
	waitBanOf(t, 10*time.Second, sock, "e2e", "203.0.113.5")
	var e daemon.Explanation
	testkit.WaitFor(t, 10*time.Second, func() error { // the history is written with the commit
		out, errOut, code := logjailRun(t, sock, "explain", "203.0.113.5", "--json")
		if err := json.Unmarshal([]byte(out), &e); err != nil || code != 0 {
			t.Fatalf("explain --json: exit code %d, %v: %s %s", code, err, out, errOut)
		}
		return testkit.Check(len(e.Pipelines) == 1 && len(e.Pipelines[0].History) == 1, "no history yet: %s", out)
	})
	b := e.Pipelines[0].Bans
	if !e.Banned || len(b) != 1 || b[0].DecidedBy != "failures" || b[0].Window == nil || b[0].Window.MaxRetry != 3 ||
		len(b[0].Window.Counted) != 3 || len(b[0].Lines) != 3 {
		t.Fatalf("explain --json: %+v", e)
	}
	for _, l := range b[0].Lines {
		if l.Regex == nil || l.RegexText == "" || !l.Counted || !strings.Contains(l.Text, "Failed password for root from 203.0.113.5") {
			t.Errorf("line %+v; want its failregex, counted", l)
		}
	}
	out, _, code := logjailRun(t, sock, "explain", "203.0.113.5")
	if code != 0 || !strings.HasPrefix(out, "203.0.113.5 is banned by e2e\n") || !strings.Contains(out, "window: maxretry 3 within findtime 10m; failures counted at ") ||
		strings.Count(out, "  failregex #") != 3 || strings.Count(out, "Failed password for root from 203.0.113.5") != 3 || !strings.Contains(out, "history: 203.0.113.5, ban #1: the ban above") {
		t.Errorf("explain: exit code %d:\n%s", code, out)
	}

	out, _, code = logjailRun(t, sock, "explain", "198.51.100.7")
	if code != 1 || !strings.HasPrefix(out, "198.51.100.7 is not banned\n") || !strings.Contains(out, "is in ignoreip of pipeline e2e") {
		t.Errorf("explain of an ignoreip address: exit code %d:\n%s", code, out)
	}
	out, _, code = logjailRun(t, sock, "explain", "198.51.100.7", "--json", "--pipeline", "e2e")
	if code != 1 || !strings.Contains(out, `"bans": []`) || !strings.Contains(out, `"history": []`) || !strings.Contains(out, `"gate": "ignoreip"`) {
		t.Errorf("explain --json of an ignoreip address: exit code %d:\n%s", code, out)
	}
	// One added by logjail set is in no file: the advice is the set that
	// lifts it.
	wantRun(t, sock, 0, "e2e: ignoreip = ", "set", "e2e", "addignoreip", "192.0.2.77")
	out, _, code = logjailRun(t, sock, "explain", "192.0.2.77")
	if code != 1 || !strings.Contains(out, "192.0.2.77 is in ignoreip of pipeline e2e, added at run time (in no configuration file); run logjail set e2e delignoreip 192.0.2.77 to ban it") {
		t.Errorf("explain of an address added to ignoreip at run time: exit code %d:\n%s", code, out)
	}
	if _, errOut, code := logjailRun(t, sock, "explain", "300.1.1.1"); code != 2 || errOut != "logjail: invalid address \"300.1.1.1\"\n" {
		t.Errorf("explain of a bad address: exit code %d, %q; want 2 naming it", code, errOut)
	}
	if _, errOut, code := logjailRun(t, sock, "explain", "203.0.113.5", "--pipeline", "nope", "--json"); code != 2 || !strings.Contains(jsonError(t, errOut), `"nope"`) {
		t.Errorf("explain --json in an unknown pipeline: exit code %d, %q; want 2 and a JSON error", code, errOut)
	}
}
