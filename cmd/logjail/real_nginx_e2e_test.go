package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
)

// nginx with auth_basic in the srv namespace; logjail reads its error log
// with the shipped nginx-http-auth filter. Browsers (the peer namespace)
// send their first request without credentials, which is no failure; wrong
// passwords and unknown users are, and ban after maxretry.
func TestRealNginxAuthBasic(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "ip")
	tools := needTools(t, map[string]string{"nginx": "nginx-light", "htpasswd": "apache2-utils"})
	const attacker, user = "192.0.2.2", "192.0.2.4"
	tn := newTestNet(t)
	s := newSetup(t, e2ePipeline("maxretry: 3", "bantime: 1h", fileSource, `match:
  filter: nginx-http-auth`, "ignoreip: [192.0.2.250]", `enforce:
  - nftables: {ports: [80]}`))
	// A warm-up line that nginx-http-auth reads but does not count.
	s.warm = func(t testing.TB) {
		f, err := os.OpenFile(s.logFile, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fmt.Fprintf(f, "%s [notice] 1#1: logjail-test warm-up\n", time.Now().Format("2006/01/02 15:04:05"))
	}
	s.start(t, tn)
	startNginx(t, tn, tools, s.logFile)

	get := func(from, user, password string) int {
		t.Helper()
		code, err := httpGet(t, tn, from, user, password)
		if err != nil {
			t.Fatalf("GET from %s: %v", from, err)
		}
		return code
	}
	// The user's browser: a first request without credentials, then the
	// right ones, several times over: never banned.
	for range 4 {
		if code := get(user, "", ""); code != http.StatusUnauthorized {
			t.Fatalf("without credentials: status %d, want 401", code)
		}
		if code := get(user, "alice", "right-password"); code != http.StatusOK {
			t.Fatalf("alice with her password: status %d, want 200", code)
		}
	}
	// The attacker: a wrong password, an unknown user, then one short of a ban.
	for _, cred := range [][2]string{{"alice", "guess-1"}, {"admin", "admin"}} {
		if code := get(attacker, cred[0], cred[1]); code != http.StatusUnauthorized {
			t.Fatalf("%s:%s: status %d, want 401", cred[0], cred[1], code)
		}
	}
	sentinel := func() string {
		return time.Now().Format("2006/01/02 15:04:05") + ` [error] 1#1: *1 user "logjail-sentinel" was not found in "/x", client: ` +
			sentinelAddr + `, server: srv.test, request: "GET / HTTP/1.1", host: "192.0.2.1"`
	}
	s.caughtUp(t, sentinel())
	if tn.bannedIn(t, "e2e-v4", attacker) || tn.bannedIn(t, "e2e-v4", user) {
		t.Fatalf("banned before maxretry failures: %v", tn.elements(t, "e2e-v4"))
	}
	if code := get(attacker, "alice", "guess-2"); code != http.StatusUnauthorized {
		t.Fatalf("alice:guess-2: status %d, want 401", code)
	}
	tn.waitBanned(t, s, "e2e-v4", attacker)
	if _, err := httpGet(t, tn, attacker, "alice", "right-password"); err == nil {
		t.Errorf("banned %s still reaches nginx", attacker)
	}
	if code := get(user, "alice", "right-password"); code != http.StatusOK {
		t.Errorf("%s gets status %d while %s is banned, want 200", user, code, attacker)
	}
	s.caughtUp(t, sentinel())
	if tn.bannedIn(t, "e2e-v4", user) {
		t.Errorf("the user %s, whose browser asked without credentials first, was banned", user)
	}
	if st := status(t, s.socket); st.Filter.TotalFailed-st.Filter.IgnoredAddress != 3 {
		t.Errorf("%d failures counted, want 3 (two wrong passwords, one unknown user)", st.Filter.TotalFailed-st.Filter.IgnoredAddress)
	}
	var lines []byte
	for line := range strings.Lines(string(readFile(t, s.logFile))) {
		if !strings.Contains(line, "logjail-") {
			lines = append(lines, line...)
		}
	}
	keepRecord(t, "nginx-error.log", lines)
}

// startNginx runs nginx in tn's srv namespace, its error log in errorLog,
// serving / to alice (password right-password) only.
func startNginx(t *testing.T, tn *testNet, tools map[string]string, errorLog string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "www"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "www", "index.html"), []byte("ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(tools["htpasswd"], "-b", "-c", "-B", filepath.Join(dir, "htpasswd"), "alice", "right-password").CombinedOutput(); err != nil {
		t.Fatalf("htpasswd: %v\n%s", err, out)
	}
	render(t, "nginx/nginx.conf.tmpl", filepath.Join(dir, "nginx.conf"), map[string]any{
		"Dir": dir, "ErrorLog": errorLog, "Addr": "192.0.2.1", "Port": 80,
	})
	nginx := startThirdParty(t, tn.srv, dir, "nginx", tools["nginx"], "-c", filepath.Join(dir, "nginx.conf"), "-e", errorLog)
	nginx.waitFile(t, filepath.Join(dir, "nginx.pid"))
}

// httpGet asks nginx on 192.0.2.1:80 for / from address from of the peer
// namespace, with basic credentials unless user is "", and returns the
// status. The connection is made on a thread in the namespace (an
// http.Client would dial from another goroutine, outside it).
func httpGet(t *testing.T, tn *testNet, from, user, password string) (int, error) {
	t.Helper()
	var c net.Conn
	var err error
	testkit.InNetns(t, tn.peer, func() {
		d := net.Dialer{Timeout: 700 * time.Millisecond, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err = d.Dial("tcp", "192.0.2.1:80")
	})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	req, _ := http.NewRequest("GET", "http://192.0.2.1/", nil)
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	req.Close = true
	if err := req.Write(c); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
