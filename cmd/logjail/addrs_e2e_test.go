package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/daemon"
)

// logjailRun runs the real binary with args and the socket, and returns its
// stdout, its stderr and its exit code.
func logjailRun(t *testing.T, socket string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, append(args, "--socket", socket)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("%v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// jsonError is what a client command writes on stderr under --json when it
// fails: {"error": "..."} and nothing else.
func jsonError(t *testing.T, stderr string) string {
	t.Helper()
	var e struct {
		Error *string `json:"error"`
	}
	d := json.NewDecoder(strings.NewReader(stderr))
	d.DisallowUnknownFields()
	if err := d.Decode(&e); err != nil || e.Error == nil || d.More() {
		t.Errorf("stderr %q is not one JSON error: %v", stderr, err)
		return ""
	}
	return *e.Error
}

// Without a daemon, client commands under --json fail with a JSON error on
// stderr naming the socket, and nothing on stdout; `banned ADDR` exits 2
// (an error, not "not banned").
func TestJSONErrorsWithoutDaemon(t *testing.T) {
	t.Parallel()
	s := newSetup(t, e2ePipeline(fileSource, sshdFilter))
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"status", "--json"}, 1},
		{[]string{"banned", "--json"}, 1},
		{[]string{"banned", "203.0.113.1", "--json"}, 2},
		{[]string{"explain", "203.0.113.1", "--json"}, 2},
		{[]string{"ban", "e2e", "203.0.113.1", "--json"}, 1},
		{[]string{"unban", "203.0.113.1", "203.0.113.2", "--json"}, 1},
	} {
		out, errOut, code := logjailRun(t, s.socket, tc.args...)
		if msg := jsonError(t, errOut); code != tc.code || out != "" || !strings.Contains(msg, s.socket) {
			t.Errorf("%v: exit code %d, stdout %q, error %q; want %d and an error naming the socket", tc.args, code, out, msg, tc.code)
		}
	}
	if _, errOut, code := logjailRun(t, s.socket, "banned", "203.0.113.1"); code != 2 || !strings.HasPrefix(errOut, "logjail: no logjail is listening") {
		t.Errorf("banned ADDR without a daemon: exit code %d, %q; want 2 and the error in text", code, errOut)
	}
}

// With no bans, the lists of status PIPELINE and banned are [], not null.
func TestEmptyListsAreEmptyArrays(t *testing.T) {
	t.Parallel()
	s := newSetup(t, e2ePipeline(fileSource, sshdFilter))
	s.start(t, nil)
	out, _, code := logjailRun(t, s.socket, "banned", "--json")
	if code != 0 || out != "[]\n" {
		t.Errorf("banned --json: exit code %d, %q; want []", code, out)
	}
	out, _, code = logjailRun(t, s.socket, "status", "e2e", "--json")
	var st struct {
		Actions map[string]json.RawMessage `json:"actions"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 ||
		string(st.Actions["banned"]) != "[]" || string(st.Actions["bans"]) != "[]" {
		t.Errorf("status e2e --json: exit code %d, %v: %s; want banned and bans []", code, err, out)
	}
}

// `ban` and `unban` take several addresses, each reported; one that fails
// is named and makes the exit code 1, the others are done. `banned ADDR…`
// tells each address's bans (a /64's included): exit code 0 when all are
// banned, 1 when one is not, 2 for a bad address.
func TestSeveralAddresses(t *testing.T) {
	t.Parallel()
	s := newSetup(t, e2ePipeline(fileSource, sshdFilter, "maxretry: 2", "ipv6_prefix: 64", "ignoreself: false"))
	s.start(t, nil)
	sock := s.socket

	out, errOut, code := logjailRun(t, sock, "ban", "e2e", "203.0.113.1", "10.0.0.256", "2001:db8::1", "--for", "1h")
	if code != 1 || strings.Count(out, "banned e2e\t") != 2 || !strings.Contains(out, "\t203.0.113.1\tuntil ") ||
		!strings.Contains(errOut, `"10.0.0.256"`) || !strings.HasSuffix(errOut, "logjail: 1 of 3 addresses not banned: 10.0.0.256\n") {
		t.Errorf("ban of 3 with a bad one: exit code %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = logjailRun(t, sock, "ban", "e2e", "203.0.113.2", "bad", "--json")
	var results []BanResult
	if err := json.Unmarshal([]byte(out), &results); err != nil || code != 1 || len(results) != 2 ||
		results[0].Ban == nil || results[0].Ban.Addr != "203.0.113.2" || results[0].Error != "" ||
		results[1].Ban != nil || !strings.Contains(results[1].Error, `"bad"`) ||
		jsonError(t, errOut) != "1 of 2 addresses not banned: bad" {
		t.Errorf("ban --json of 2 with a bad one: exit code %d, %v, stdout %s, stderr %s", code, err, out, errOut)
	}

	s.appendLines(t, time.Now(), failures("2001:db8:5:5::1", 2)...)
	waitBanOf(t, 10*time.Second, sock, "e2e", "2001:db8:5:5::/64")
	out, _, code = logjailRun(t, sock, "banned", "203.0.113.1", "2001:db8:5:5::99")
	if code != 0 || !strings.HasPrefix(out, "203.0.113.1\tbanned\te2e\t203.0.113.1\tuntil ") ||
		!strings.Contains(out, "\n2001:db8:5:5::99\tbanned\te2e\t2001:db8:5:5::/64\tuntil ") || strings.Count(out, "\n") != 2 {
		t.Errorf("banned of 2 banned addresses: exit code %d:\n%s", code, out)
	}
	out, _, code = logjailRun(t, sock, "banned", "203.0.113.9", "2001:db8:5:5::99", "--json")
	var found []daemon.AddrBans
	if err := json.Unmarshal([]byte(out), &found); err != nil || code != 1 || len(found) != 2 ||
		found[0].Addr != "203.0.113.9" || found[0].Bans == nil || len(found[0].Bans) != 0 ||
		len(found[1].Bans) != 1 || found[1].Bans[0].Addr != "2001:db8:5:5::/64" || found[1].Bans[0].Failures != 2 {
		t.Errorf("banned --json with one not banned: exit code %d, %v:\n%s", code, err, out)
	}
	if _, errOut, code := logjailRun(t, sock, "banned", "203.0.113.1", "300.1.1.1"); code != 2 || errOut != "logjail: invalid address \"300.1.1.1\"\n" {
		t.Errorf("banned with a bad address: exit code %d, %q; want 2 naming it", code, errOut)
	}

	out, errOut, code = logjailRun(t, sock, "unban", "203.0.113.1", "203.0.113.9", "2001:db8:5:5::99")
	if code != 1 || out != "unbanned 203.0.113.1 from e2e\nunbanned 2001:db8:5:5::99 from e2e\n" ||
		!strings.HasSuffix(errOut, "logjail: 1 of 3 addresses not unbanned: 203.0.113.9\n") {
		t.Errorf("unban of 3 with one not banned: exit code %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = logjailRun(t, sock, "unban", "203.0.113.2", "2001:db8::1", "--json")
	var unbans []UnbanAddrResult
	if err := json.Unmarshal([]byte(out), &unbans); err != nil || code != 0 || errOut != "" || len(unbans) != 2 ||
		unbans[1].Addr != "2001:db8::1" || unbans[1].Count != 1 || unbans[1].Pipelines[0] != "e2e" {
		t.Errorf("unban --json of 2: exit code %d, %v, stdout %s, stderr %s", code, err, out, errOut)
	}
	if out, _, code := logjailRun(t, sock, "banned"); code != 0 || out != "no active bans\n" {
		t.Errorf("banned after the unbans: exit code %d, %q", code, out)
	}
}
