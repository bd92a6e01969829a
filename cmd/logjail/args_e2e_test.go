package main

import "testing"

// A negative number or duration typed as an argument, with the real
// binary: `set e2e bantime -1` (fail2ban-client's spelling of a permanent
// ban) is a value, not an unknown flag "-1", with --json before or after
// it; a negative findtime is refused as a value.
func TestSetNegativeValue(t *testing.T) {
	t.Parallel()
	tn := newTestNet(t)
	s := newSetup(t, runtimeConfig)
	s.start(t, tn)
	sock := s.socket

	wantRun(t, sock, 0, "e2e: bantime = permanent", "set", "e2e", "bantime", "-1")
	wantRun(t, sock, 0, "permanent\n", "get", "e2e", "bantime")
	wantRun(t, sock, 0, `"value": "1h"`, "set", "e2e", "bantime", "1h", "--json")
	wantRun(t, sock, 0, `"value": "permanent"`, "set", "--json", "e2e", "bantime", "-1")
	wantRun(t, sock, 0, `"value": "permanent"`, "get", "e2e", "bantime", "--json")
	wantRun(t, sock, 2, "logjail: findtime:", "set", "e2e", "findtime", "-1d")
}
