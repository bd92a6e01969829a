package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/logjail/logjail/internal/testkit"
)

// The real-software kit: what the tests that run third-party daemons
// (sshd, rsyslogd, nginx, nats-server, systemd-journal-remote) share, on
// top of the namespace kit in e2e_test.go. Every daemon is started by hand
// with a configuration rendered from the repository's testdata/ folder,
// in a temporary directory of its own, and killed when the test ends.

// fixture is the path of a file in the repository's top-level testdata/.
func fixture(elem ...string) string {
	return filepath.Join(append([]string{"..", "..", "testdata"}, elem...)...)
}

// render fills the template testdata/name with vars and writes it to dst.
func render(t testing.TB, name, dst string, vars any) {
	t.Helper()
	tmpl, err := template.New(filepath.Base(name)).Option("missingkey=error").ParseFiles(fixture(name))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, vars); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := os.WriteFile(dst, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// needTools finds the programs a test runs (name → Debian package): a skip
// without them, a failure in CI.
func needTools(t *testing.T, tools map[string]string) map[string]string {
	t.Helper()
	paths := map[string]string{}
	for name, pkg := range tools {
		paths[name] = testkit.NeedProgram(t, name, pkg)
	}
	return paths
}

// thirdParty is a daemon the test started.
type thirdParty struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

// startThirdParty runs args in network namespace ns ("" for the test's
// own), in a process group of its own, its output in dir/NAME.log. The
// group is killed when the test ends; a failed test shows the log.
func startThirdParty(t testing.TB, ns, dir, name string, args ...string) *thirdParty {
	t.Helper()
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	p := &thirdParty{name: name, log: filepath.Join(dir, name+".log"), exited: make(chan struct{})}
	out, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = out, out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("%s: %v", name, err)
	}
	go func() { p.cmd.Wait(); out.Close(); close(p.exited) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("%s's output:\n%s", name, b)
		}
	})
	return p
}

// stop ends the daemon's process group: SIGTERM, SIGKILL after 2s (a
// forwarder whose receiver is gone already would wait for it longer).
func (p *thirdParty) stop() {
	pgid := p.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(2 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
	}
	syscall.Kill(-pgid, syscall.SIGKILL) // what the leader left behind
}

// killNetnsProcs kills what still runs in namespace ns, which the test
// made: processes a daemon forked into sessions of their own (sshd's
// per-connection processes).
func killNetnsProcs(ns string) {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	for f := range strings.FieldsSeq(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// waitFile waits until the daemon has made path (its pid file, its socket),
// failing at once when the daemon exits.
func (p *thirdParty) waitFile(t testing.TB, path string) {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, func() error {
		select {
		case <-p.exited:
			b, _ := os.ReadFile(p.log)
			t.Fatalf("%s exited during start-up:\n%s", p.name, b)
		default:
		}
		_, err := os.Stat(path)
		return err
	})
}

// dial connects from local, an address of namespace ns, to remote:port and
// returns what the server says first (up to 64 bytes), or "" when the
// connection fails.
func dial(t testing.TB, ns, local, remote string, port int) string {
	t.Helper()
	got := ""
	testkit.InNetns(t, ns, func() {
		d := net.Dialer{Timeout: 700 * time.Millisecond, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c, err := d.Dial("tcp", net.JoinHostPort(remote, fmt.Sprint(port)))
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 64)
		n, _ := c.Read(buf)
		got = string(buf[:n])
	})
	return got
}

// linesWith counts the lines of file that contain every one of parts.
func linesWith(t testing.TB, file string, parts ...string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	n := 0
	for line := range strings.Lines(string(b)) {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

// sentinelAddr is in the ignoreip of the real-software tests' pipelines:
// a failure of it counts only as an ignored one, which caughtUp watches.
const sentinelAddr = "192.0.2.250"

// caughtUp appends line, a failure of sentinelAddr in the format of the
// pipeline's filter, to s.logFile and waits until logjail has counted it:
// then it has processed every line written before it (a file is read in
// order), and their bans are decided.
func (s *setup) caughtUp(t testing.TB, line string) {
	t.Helper()
	before := status(t, s.socket).Filter.IgnoredAddress
	f, err := os.OpenFile(s.logFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fmt.Fprintln(f, line)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, func() error {
		n := status(t, s.socket).Filter.IgnoredAddress
		return testkit.Check(n > before, "logjail read up to the sentinel line in %s: %d ignored addresses counted, as before", s.logFile, n)
	})
}

// certs are the test's TLS files, made by certtool from testdata/certs.
type certs struct {
	ca, serverCert, serverKey, clientCert, clientKey string
}

// makeCerts generates a CA, logjail's server certificate and an
// appliance's client certificate in dir.
func makeCerts(t *testing.T, dir string) certs {
	t.Helper()
	certtool := testkit.NeedProgram(t, "certtool", "gnutls-bin")
	c := certs{
		ca:         filepath.Join(dir, "ca.pem"),
		serverCert: filepath.Join(dir, "server.pem"), serverKey: filepath.Join(dir, "server-key.pem"),
		clientCert: filepath.Join(dir, "client.pem"), clientKey: filepath.Join(dir, "client-key.pem"),
	}
	caKey := filepath.Join(dir, "ca-key.pem")
	for _, args := range [][]string{
		{"--generate-privkey", "--key-type=ecdsa", "--outfile", caKey},
		{"--generate-self-signed", "--load-privkey", caKey, "--template", fixture("certs", "ca.tmpl"), "--outfile", c.ca},
		{"--generate-privkey", "--key-type=ecdsa", "--outfile", c.serverKey},
		{"--generate-certificate", "--load-privkey", c.serverKey, "--load-ca-certificate", c.ca, "--load-ca-privkey", caKey,
			"--template", fixture("certs", "server.tmpl"), "--outfile", c.serverCert},
		{"--generate-privkey", "--key-type=ecdsa", "--outfile", c.clientKey},
		{"--generate-certificate", "--load-privkey", c.clientKey, "--load-ca-certificate", c.ca, "--load-ca-privkey", caKey,
			"--template", fixture("certs", "client.tmpl"), "--outfile", c.clientCert},
	} {
		if out, err := exec.Command(certtool, args...).CombinedOutput(); err != nil {
			t.Fatalf("certtool %s: %v\n%s", args[0], err, out)
		}
	}
	return c
}

// bannedIn reports whether addr is an element of logjail's set.
func (tn *testNet) bannedIn(t testing.TB, set, addr string) bool {
	t.Helper()
	for a := range tn.elements(t, set) {
		if a.String() == addr {
			return true
		}
	}
	return false
}

// waitBanned waits until addr is in logjail's set; on a timeout it shows
// the pipeline's status (what was read, matched and counted).
func (tn *testNet) waitBanned(t testing.TB, s *setup, set, addr string) {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, func() error {
		if tn.bannedIn(t, set, addr) {
			return nil
		}
		return testkit.Lazy(func() string {
			out, _ := exec.Command(binary, "status", "e2e", "--json", "--socket", s.socket).CombinedOutput()
			return fmt.Sprintf("%s is not in %s; logjail status e2e:\n%s", addr, set, out)
		})
	})
}

// keepRecord saves data as testdata/records/name when the records are
// being captured (LOGJAIL_UPDATE_RECORDS=1): a sample of what a real
// daemon wrote, for tests and readers of the filters.
func keepRecord(t testing.TB, name string, data []byte) {
	t.Helper()
	if !updateRecords {
		return
	}
	if err := os.WriteFile(fixture("records", name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
