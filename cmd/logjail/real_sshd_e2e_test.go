package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
)

// OpenSSH's sshd, as it runs on a Debian host: in the srv namespace, logging
// through syslog(3) to /dev/log, where the host's rsyslogd writes auth.log,
// which logjail tails with the shipped sshd filter. Clients connect from the
// peer namespace.

const sshdMaxretry = 5

// keyOnlyClient is the address sshd allows no password from.
const keyOnlyClient = "192.0.2.3"

var sshdConfig = e2ePipeline("maxretry: 5 # sshdMaxretry", "findtime: 10m", "bantime: 1h", fileSource, sshdFilter, "ignoreip: [192.0.2.250]", `enforce:
  - nftables: {ports: [22]}`)

// sshdSentinel is a failure of sentinelAddr as it reads in auth.log.
func sshdSentinel() string {
	return time.Now().Format(time.RFC3339Nano) + " srv sshd[1]: Invalid user logjail-sentinel from " + sentinelAddr + " port 1"
}

// sshHost is sshd and the rsyslogd it logs to.
type sshHost struct {
	tn    *testNet
	s     *setup
	tools map[string]string
	// wrongKey is a key pair that is not in authorized_keys.
	wrongKey string
}

// startSSHHost starts logjail on an empty auth.log, then rsyslogd writing
// that file and sshd on 192.0.2.1:22 logging to it through syslog(3).
func startSSHHost(t *testing.T) *sshHost { return startSSHHostLogging(t, false) }

// startSSHHostLogging starts logjail on an empty log file and sshd on
// 192.0.2.1:22: with ownFile, sshd writes that file itself (sshd -E FILE:
// bare messages, no syslog header, no date); else through syslog(3) to an
// rsyslogd writing it as Debian's auth.log.
func startSSHHostLogging(t *testing.T, ownFile bool) *sshHost {
	t.Helper()
	testkit.NeedRoot(t, "ip")
	tools := needTools(t, map[string]string{
		"sshd": "openssh-server", "ssh": "openssh-client", "ssh-keygen": "openssh-client",
		"sshpass": "sshpass", "rsyslogd": "rsyslog", "unshare": "util-linux",
	})
	h := &sshHost{tn: newTestNet(t), s: newSetup(t, sshdConfig), tools: tools}
	h.s.start(t, h.tn)
	dir := h.sshdFiles(t)
	if ownFile {
		sshd := startThirdParty(t, h.tn.srv, dir, "sshd", tools["sshd"], "-D",
			"-f", filepath.Join(dir, "sshd_config"), "-E", h.s.logFile)
		sshd.waitFile(t, filepath.Join(dir, "sshd.pid"))
	} else {
		h.startSyslogSSHD(t, dir)
	}
	// A ban leaves the attacker's open connections hanging in sshd.
	t.Cleanup(func() { killNetnsProcs(h.tn.srv) })
	// sshd's start-up line proves it reaches the log file.
	testkit.WaitFor(t, 10*time.Second, func() error {
		n := linesWith(t, h.s.logFile, "Server listening on 192.0.2.1 port 22")
		return testkit.Check(n > 0, "sshd logs into %s: no start-up line in it yet", h.s.logFile)
	})
	return h
}

// startSyslogSSHD starts rsyslogd writing the log file and sshd logging to
// it through /dev/log (a private mount namespace binds rsyslogd's socket
// there; the host's /dev is not touched).
func (h *sshHost) startSyslogSSHD(t *testing.T, dir string) {
	syslogDir := t.TempDir()
	sock := filepath.Join(syslogDir, "log.sock")
	render(t, "rsyslog/host.conf.tmpl", filepath.Join(syslogDir, "rsyslog.conf"), map[string]string{
		"Dir": syslogDir, "Socket": sock, "LogFile": h.s.logFile,
	})
	rsyslogd := startThirdParty(t, h.tn.srv, syslogDir, "rsyslogd", h.tools["rsyslogd"], "-n",
		"-f", filepath.Join(syslogDir, "rsyslog.conf"), "-i", filepath.Join(syslogDir, "rsyslogd.pid"))
	rsyslogd.waitFile(t, sock)
	sshd := startThirdParty(t, h.tn.srv, dir, "sshd", h.tools["unshare"], "-m", "--propagation", "private",
		"sh", fixture("sshd", "private-dev-log.sh"), sock,
		h.tools["sshd"], "-D", "-f", filepath.Join(dir, "sshd_config"))
	sshd.waitFile(t, filepath.Join(dir, "sshd.pid"))
	testkit.WaitFor(t, 10*time.Second, func() error {
		n := linesWith(t, h.s.logFile, "sshd[", "Server listening on 192.0.2.1 port 22")
		return testkit.Check(n > 0, "sshd logs through /dev/log into %s: no start-up line in it yet", h.s.logFile)
	})
}

// sshdFiles writes sshd's host key, root's authorized key (which no client
// of the test holds), a key pair that is not authorized (h.wrongKey) and
// sshd_config into a new directory, and returns it.
func (h *sshHost) sshdFiles(t *testing.T) string {
	dir := t.TempDir()
	keygen := func(path string) {
		if out, err := exec.Command(h.tools["ssh-keygen"], "-q", "-t", "ed25519", "-N", "", "-C", "logjail-test", "-f", path).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	keygen(filepath.Join(dir, "ssh_host_ed25519_key"))
	keygen(filepath.Join(dir, "root_key"))
	h.wrongKey = filepath.Join(dir, "wrong_key")
	keygen(h.wrongKey)
	if err := os.Mkdir(filepath.Join(dir, "authorized_keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(filepath.Join(dir, "root_key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys", "root"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	render(t, "sshd/sshd_config.tmpl", filepath.Join(dir, "sshd_config"), map[string]any{
		"Dir": dir, "Addr": "192.0.2.1", "Port": 22, "KeyOnlyClient": keyOnlyClient,
	})
	return dir
}

// ssh runs the ssh client in the peer namespace from address local, with
// root as the user, and returns its output; pre comes before ssh (sshpass),
// extra holds the client's authentication options. A login is an error:
// every attempt of these tests must fail.
func (h *sshHost) ssh(local string, pre []string, extra ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append([]string{"ip", "netns", "exec", h.tn.peer}, pre...)
	args = append(args, h.tools["ssh"], "-F", "/dev/null", "-b", local,
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR")
	args = append(args, extra...)
	args = append(args, "root@192.0.2.1", "true")
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err == nil {
		return string(out), fmt.Errorf("ssh from %s logged in:\n%s", local, out)
	}
	if ctx.Err() != nil {
		return string(out), fmt.Errorf("ssh from %s: %v\n%s", local, ctx.Err(), out)
	}
	return string(out), nil
}

// failPassword makes n connections from local, each trying one wrong
// password, all at once (PAM delays each failure by about two seconds).
func (h *sshHost) failPassword(t *testing.T, local string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	outs, errs := make([]string, n), make([]error, n)
	for i := range n {
		wg.Go(func() {
			outs[i], errs[i] = h.ssh(local, []string{h.tools["sshpass"], "-p", fmt.Sprintf("wrong-%d", i)},
				"-o", "NumberOfPasswordPrompts=1", "-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no")
		})
	}
	wg.Wait()
	for i, out := range outs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !strings.Contains(out, "Permission denied") {
			t.Fatalf("ssh with a wrong password: want Permission denied, got:\n%s", out)
		}
	}
}

// sshdLines are the lines of auth.log that sshd wrote (not the test's
// warm-up and sentinel lines).
func (h *sshHost) sshdLines(t *testing.T) []byte {
	var out []byte
	for line := range strings.Lines(string(readFile(t, h.s.logFile))) {
		if !strings.Contains(line, " srv sshd[999]: ") && !strings.Contains(line, sentinelAddr) {
			out = append(out, line...)
		}
	}
	return out
}

// sshBanner reports whether local reaches sshd (it sends its banner).
func (h *sshHost) sshBanner(t *testing.T, local string) bool {
	return strings.HasPrefix(dial(t, h.tn.peer, local, "192.0.2.1", 22), "SSH-2.0-")
}

// An attacker guessing passwords, one per connection, is banned after
// exactly maxretry connections, not before; then its connections to sshd
// are dropped while another address still reaches it.
func TestRealSSHDPasswordGuessing(t *testing.T) {
	t.Parallel()
	h := startSSHHost(t)
	attacker, bystander := "192.0.2.2", "192.0.2.4"

	h.failPassword(t, attacker, sshdMaxretry-1)
	// A ban drops the packets of connections still open, whose closing
	// lines then never come.
	testkit.WaitFor(t, 20*time.Second, func() error {
		n := linesWith(t, h.s.logFile, "Connection closed by authenticating user root "+attacker)
		return testkit.Check(n == sshdMaxretry-1 || h.tn.bannedIn(t, "e2e-v4", attacker),
			"sshd logged the end of %d of %d connections, and %s is not banned", n, sshdMaxretry-1, attacker)
	})
	h.s.caughtUp(t, sshdSentinel())
	if h.tn.bannedIn(t, "e2e-v4", attacker) || len(banned(t, h.s.socket)) != 0 {
		b, _ := os.ReadFile(h.s.logFile)
		t.Fatalf("%s banned after %d failed connections, maxretry is %d; auth.log:\n%s", attacker, sshdMaxretry-1, sshdMaxretry, b)
	}

	h.failPassword(t, attacker, 1)
	h.tn.waitBanned(t, h.s, "e2e-v4", attacker)
	if h.sshBanner(t, attacker) {
		t.Errorf("banned %s still reaches sshd", attacker)
	}
	if !h.sshBanner(t, bystander) {
		t.Errorf("%s cannot reach sshd while %s is banned", bystander, attacker)
	}
	keepRecord(t, "sshd-password-auth.log", h.sshdLines(t))
	// The sentinel's failure is counted too (as an ignored one).
	if st := status(t, h.s.socket); st.Filter.TotalFailed-st.Filter.IgnoredAddress != sshdMaxretry {
		t.Errorf("%d failures counted for %d failed connections", st.Filter.TotalFailed-st.Filter.IgnoredAddress, sshdMaxretry)
	}
}

// A client whose only method is a public key that the server does not
// accept (BatchMode, no password) fails every connection: that is a
// misconfigured legitimate user, not a password guess, and fail2ban's
// normal mode does not count it either. More than maxretry connections ban
// nobody.
func TestRealSSHDKeyOnlyClientNotBanned(t *testing.T) {
	t.Parallel()
	h := startSSHHost(t)
	client := keyOnlyClient
	const tries = sshdMaxretry + 2
	for i := range tries {
		out, err := h.ssh(client, nil, "-o", "BatchMode=yes", "-o", "PasswordAuthentication=no",
			"-o", "KbdInteractiveAuthentication=no", "-o", "IdentitiesOnly=yes", "-i", h.wrongKey)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "Permission denied (publickey") {
			if h.tn.bannedIn(t, "e2e-v4", client) {
				b, _ := os.ReadFile(h.s.logFile)
				t.Fatalf("the key-only client %s was banned after %d connections; auth.log:\n%s", client, i, b)
			}
			t.Fatalf("ssh with a wrong key: want Permission denied, got:\n%s", out)
		}
	}
	testkit.WaitFor(t, 20*time.Second, func() error {
		n := linesWith(t, h.s.logFile, "Connection closed by authenticating user root "+client)
		return testkit.Check(n == tries, "sshd logged the closing of %d of %d connections", n, tries)
	})
	h.s.caughtUp(t, sshdSentinel())
	if h.tn.bannedIn(t, "e2e-v4", client) || len(banned(t, h.s.socket)) != 0 {
		b, _ := os.ReadFile(h.s.logFile)
		t.Fatalf("the key-only client %s was banned after %d connections; auth.log:\n%s", client, tries, b)
	}
	if !h.sshBanner(t, client) {
		t.Errorf("%s cannot reach sshd", client)
	}
	keepRecord(t, "sshd-key-only-auth.log", h.sshdLines(t))
}

// sshd started with -E FILE writes its messages to FILE itself: no syslog
// header, no date, CRLF line ends (OpenSSH's log.c). The shipped filter
// accepts such lines (they are dated when read), so a host that runs sshd
// that way is protected by a file source on FILE: an attacker is banned
// after exactly maxretry failed passwords.
func TestRealSSHDOwnLogFile(t *testing.T) {
	t.Parallel()
	h := startSSHHostLogging(t, true)
	attacker, bystander := "192.0.2.2", "192.0.2.4"
	// After the set-up's warm-up line, sshd's own.
	if n := linesWith(t, h.s.logFile, "Server listening on 192.0.2.1 port 22.\r\n"); n != 1 ||
		!strings.Contains(string(readFile(t, h.s.logFile)), "\nServer listening") {
		t.Fatalf("sshd -E did not write its bare start-up message with CRLF:\n%q", readFile(t, h.s.logFile))
	}

	h.failPassword(t, attacker, sshdMaxretry-1)
	testkit.WaitFor(t, 20*time.Second, func() error {
		n := linesWith(t, h.s.logFile, "Failed password for root from "+attacker)
		return testkit.Check(n == sshdMaxretry-1, "sshd logged %d of %d failed passwords", n, sshdMaxretry-1)
	})
	h.s.caughtUp(t, sshdSentinel())
	if h.tn.bannedIn(t, "e2e-v4", attacker) {
		t.Fatalf("%s banned after %d failed passwords, maxretry is %d; sshd's log:\n%s", attacker, sshdMaxretry-1, sshdMaxretry, readFile(t, h.s.logFile))
	}
	h.failPassword(t, attacker, 1)
	h.tn.waitBanned(t, h.s, "e2e-v4", attacker)
	if h.sshBanner(t, attacker) {
		t.Errorf("banned %s still reaches sshd", attacker)
	}
	if !h.sshBanner(t, bystander) {
		t.Errorf("%s cannot reach sshd while %s is banned", bystander, attacker)
	}
	keepRecord(t, "sshd-E-own-log.log", h.sshdLines(t))
}
