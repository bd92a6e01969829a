package main

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logjail/logjail/daemon"
	"github.com/logjail/logjail/internal/testkit"
)

// The end-to-end tests run the real binary in network namespaces the test
// makes: namespace "srv" runs logjail and a TCP listener, namespace "peer"
// holds the attacking and the innocent addresses, joined by a veth pair.
// Only addresses inside these namespaces are ever contacted.

var binary string

// e2eParallel is how many tests run at once unless -parallel says: the
// end-to-end tests mostly wait (for logjail, the kernel, a third-party
// daemon), each in namespaces, directories and ports of its own, so more
// of them than the machine has CPUs keep it busy. What tests share (the
// service tests' system user) is locked.
const e2eParallel = 6

func TestMain(m *testing.M) {
	flag.Parse()
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		flag.Set("test.parallel", strconv.Itoa(max(e2eParallel, runtime.GOMAXPROCS(0))))
	}
	dir, err := os.MkdirTemp("", "logjail-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "logjail")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building logjail:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type testNet struct {
	srv, peer string // namespace names
}

// newTestNet makes the two namespaces and the veth pair between them.
//
//	srv:  192.0.2.1/24, 2001:db8::1/64
//	peer: 192.0.2.2-.4/24, 2001:db8::2-4/64
func newTestNet(t testing.TB) *testNet {
	t.Helper()
	tn := &testNet{srv: testkit.NamedNetns(t, "lj-srv"), peer: testkit.NamedNetns(t, "lj-peer")}
	testkit.Run(t, "ip", "-n", tn.srv, "link", "add", "ljs", "type", "veth", "peer", "name", "ljp", "netns", tn.peer)
	for _, c := range [][]string{
		{"ip", "-n", tn.srv, "link", "set", "ljs", "up"},
		{"ip", "-n", tn.srv, "addr", "add", "192.0.2.1/24", "dev", "ljs"},
		{"ip", "-n", tn.srv, "-6", "addr", "add", "2001:db8::1/64", "dev", "ljs", "nodad"},
		{"ip", "-n", tn.peer, "link", "set", "ljp", "up"},
	} {
		testkit.Run(t, c...)
	}
	for i := 2; i <= 4; i++ {
		testkit.Run(t, "ip", "-n", tn.peer, "addr", "add", fmt.Sprintf("192.0.2.%d/24", i), "dev", "ljp")
		testkit.Run(t, "ip", "-n", tn.peer, "-6", "addr", "add", fmt.Sprintf("2001:db8::%d/64", i), "dev", "ljp", "nodad")
	}
	return tn
}

// listen serves TCP on port in the srv namespace, answering "ok".
func (tn *testNet) listen(t testing.TB, port int) {
	t.Helper()
	var ln net.Listener
	testkit.InNetns(t, tn.srv, func() {
		var err error
		ln, err = net.Listen("tcp", fmt.Sprintf("[::]:%d", port))
		if err != nil {
			t.Fatal(err)
		}
	})
	testkit.Serve(t, ln, func(c net.Conn) {
		c.Write([]byte("ok\n"))
		c.Close()
	})
}

// connect dials from local (a peer address) to the listener and reports
// whether it got the listener's answer.
func (tn *testNet) connect(t testing.TB, local, remote string, port int) bool {
	t.Helper()
	ok := false
	testkit.InNetns(t, tn.peer, func() {
		d := net.Dialer{Timeout: 700 * time.Millisecond, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c, err := d.Dial("tcp", net.JoinHostPort(remote, fmt.Sprint(port)))
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 3)
		n, _ := c.Read(buf)
		ok = string(buf[:n]) == "ok\n"
	})
	return ok
}

// elements lists the addresses in a set of logjail's table in the srv namespace.
func (tn *testNet) elements(t testing.TB, set string) map[netip.Addr]time.Duration {
	t.Helper()
	els, err := tryElements(tn, set)
	if err != nil {
		t.Fatalf("set %s: %v", set, err)
	}
	return els
}

// instance is one logjail process.
type instance struct {
	cmd    *exec.Cmd
	socket string
	log    *os.File
}

type setup struct {
	// config is run's --config; "" runs without one (the default
	// configuration).
	dir, config, logFile, stateDir, socket string
	// warm makes the first source read something (default: a line
	// appended to logFile), so start knows the source is running.
	warm func(t testing.TB)
	// extra are more arguments of `logjail run`.
	extra []string
	// pipeline is the one whose first source start waits for (default e2e).
	pipeline string
	// wrap runs logjail under a command (prlimit ...), inside the namespace.
	wrap []string
	// bin is the logjail that runs (default: the one TestMain built).
	bin string
	// logLevel is logjail's --log-level (default debug).
	logLevel string
}

// e2ePipeline is the configuration of the one pipeline "e2e", enabled,
// with the keys given: each a YAML fragment at the pipeline's level
// ("maxretry: 3", or a key with its block), in order.
func e2ePipeline(keys ...string) string {
	var b strings.Builder
	b.WriteString("\npipelines:\n  e2e:\n    enabled: true\n")
	for _, k := range keys {
		for _, line := range strings.Split(k, "\n") {
			b.WriteString("    " + line + "\n")
		}
	}
	return b.String()
}

// The fragments most pipelines share: logjail.yaml's log file polled
// every 200ms, the shipped sshd filter, nftables guarding port 2222.
const (
	fileSource   = "ingest:\n  - file: {paths: [LOGFILE], poll: 200ms}"
	sshdFilter   = "match: {filter: sshd}"
	nftables2222 = "enforce:\n  - nftables: {ports: [2222]}"
)

func newSetup(t testing.TB, pipelineYAML string) *setup {
	t.Helper()
	dir := t.TempDir()
	s := &setup{
		dir:      dir,
		config:   filepath.Join(dir, "logjail.yaml"),
		logFile:  filepath.Join(dir, "auth.log"),
		stateDir: filepath.Join(dir, "state"),
		socket:   filepath.Join(dir, "logjail.sock"),
	}
	cfg := strings.ReplaceAll(pipelineYAML, "LOGFILE", s.logFile)
	if err := os.WriteFile(s.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.logFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// start runs logjail in the srv namespace (or, without one, in dry-run mode)
// and waits until its file source reads: warm-up lines are appended until
// the status counts one.
func (s *setup) start(t testing.TB, tn *testNet) *instance {
	t.Helper()
	logOut, err := os.OpenFile(filepath.Join(s.dir, "daemon.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := s.command(tn)
	cmd.Stdout, cmd.Stderr = logOut, logOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in := &instance{cmd: cmd, socket: s.socket, log: logOut}
	t.Cleanup(func() {
		in.kill()
		if t.Failed() {
			b, _ := os.ReadFile(logOut.Name())
			t.Logf("logjail's log:\n%s", b)
		}
	})
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	pipeline := cmp.Or(s.pipeline, "e2e")
	read := func() uint64 { return sourceRead(s.socket, pipeline) }
	before := read()
	testkit.WaitFor(t, 20*time.Second, func() error {
		select {
		case <-exited:
			t.Fatal("logjail exited during start-up")
		default:
		}
		if s.warm != nil {
			s.warm(t)
		} else {
			s.appendLines(t, time.Now(), "sshd[999]: Server listening on 0.0.0.0 port 22.")
		}
		n := read()
		return testkit.Check(n > before, "pipeline %s's first source has read %d lines, not more than the %d before", pipeline, n, before)
	})
	return in
}

// command is the `logjail run` of s, inside tn's server namespace (a dry
// run without one).
func (s *setup) command(tn *testNet) *exec.Cmd {
	args := []string{cmp.Or(s.bin, binary), "run", "--state-dir", s.stateDir, "--socket", s.socket, "--log-level", cmp.Or(s.logLevel, "debug")}
	if s.config != "" { // "": the default configuration
		args = append(args, "--config", s.config)
	}
	args = append(args, s.extra...)
	args = append(slices.Clone(s.wrap), args...)
	if tn != nil {
		args = append([]string{"ip", "netns", "exec", tn.srv}, args...)
	} else {
		args = append(args, "--dry-run")
	}
	return exec.Command(args[0], args[1:]...)
}

func (in *instance) kill() {
	if in.cmd.Process != nil {
		in.cmd.Process.Signal(syscall.SIGKILL)
	}
}

func (s *setup) appendLines(t testing.TB, at time.Time, msgs ...string) {
	t.Helper()
	f, err := os.OpenFile(s.logFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, m := range msgs {
		fmt.Fprintf(f, "%s srv %s\n", at.Format(time.Stamp), m)
	}
}

func failures(addr string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("sshd[%d]: Failed password for root from %s port %d ssh2", 4000+i, addr, 50000+i))
	}
	return out
}

func banned(t testing.TB, socket string) []daemon.Ban {
	t.Helper()
	out, err := exec.Command(binary, "banned", "--json", "--socket", socket).Output()
	if err != nil {
		t.Fatalf("logjail banned: %v", err)
	}
	var bans []daemon.Ban
	if err := json.Unmarshal(out, &bans); err != nil {
		t.Fatalf("logjail banned: %v\n%s", err, out)
	}
	return bans
}

const e2eConfig = `
defaults:
  maxretry: 3
  findtime: 10m
  bantime: 6s
pipelines:
  e2e:
    enabled: true
    ingest:
      - file: {paths: [LOGFILE], poll: 200ms}
    match:
      filter: sshd
    ignoreip: [192.0.2.3, "2001:db8::3"]
    enforce:
      - nftables: {ports: [2222]}
`

func TestEndToEndBan(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "ip")
	for _, tc := range []struct {
		name, server, attacker, ignored, other, set string
	}{
		{"ipv4", "192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "e2e-v4"},
		{"ipv6", "2001:db8::1", "2001:db8::2", "2001:db8::3", "2001:db8::4", "e2e-v6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tn := newTestNet(t)
			tn.listen(t, 2222)
			s := newSetup(t, e2eConfig)
			s.start(t, tn)
			for _, a := range []string{tc.attacker, tc.ignored, tc.other} {
				if !tn.connect(t, a, tc.server, 2222) {
					t.Fatalf("%s cannot connect before any ban", a)
				}
			}

			s.appendLines(t, time.Now(), failures(tc.ignored, 3)...)
			s.appendLines(t, time.Now(), failures(tc.attacker, 3)...)
			attacker := netip.MustParseAddr(tc.attacker)
			tn.waitHolds(t, 10*time.Second, tc.set, tc.attacker)
			if exp := tn.elements(t, tc.set)[attacker]; exp <= 0 || exp > 6*time.Second {
				t.Errorf("element timeout %s, want within (0, 6s]", exp)
			}
			if tn.connect(t, tc.attacker, tc.server, 2222) {
				t.Errorf("banned %s still connects", tc.attacker)
			}
			if _, ok := tn.elements(t, tc.set)[netip.MustParseAddr(tc.ignored)]; ok {
				t.Errorf("ignored %s was banned", tc.ignored)
			}
			for _, a := range []string{tc.ignored, tc.other} {
				if !tn.connect(t, a, tc.server, 2222) {
					t.Errorf("%s cannot connect while %s is banned", a, tc.attacker)
				}
			}
			// After the short bantime the attacker is let in again.
			testkit.WaitFor(t, 15*time.Second, func() error {
				if tn.connect(t, tc.attacker, tc.server, 2222) {
					return nil
				}
				return fmt.Errorf("%s refused after bantime; logjail bans %+v", tc.attacker, banned(t, s.socket))
			})
			waitBanCount(t, 5*time.Second, s.socket, 0)
			if _, ok := tn.elements(t, tc.set)[attacker]; ok {
				t.Errorf("%s still in %s after bantime", tc.attacker, tc.set)
			}
		})
	}
}

var restartConfig = e2ePipeline("maxretry: 3", "bantime: 1h", fileSource, sshdFilter, nftables2222)

func TestRestartKeepsBans(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "ip")
	tn := newTestNet(t)
	tn.listen(t, 2222)
	s := newSetup(t, restartConfig)
	first := s.start(t, tn)

	s.appendLines(t, time.Now(), failures("192.0.2.2", 3)...)
	waitBanCount(t, 10*time.Second, s.socket, 1)
	out, err := exec.Command(binary, "ban", "e2e", "192.0.2.4", "--for", "2s", "--socket", s.socket).CombinedOutput()
	if err != nil {
		t.Fatalf("logjail ban: %v\n%s", err, out)
	}
	if len(banned(t, s.socket)) != 2 {
		t.Fatalf("want 2 bans, got %+v", banned(t, s.socket))
	}

	waitCommitted(t, 5*time.Second, s.socket)
	failedBefore := status(t, s.socket).Filter.TotalFailed
	first.kill()
	first.cmd.Process.Wait()
	time.Sleep(2500 * time.Millisecond) // let the 2s ban expire while logjail is down

	s.start(t, tn)
	bans := banned(t, s.socket)
	if len(bans) != 1 || bans[0].Addr != "192.0.2.2" {
		t.Fatalf("after restart want only 192.0.2.2 banned, got %+v", bans)
	}
	if bans[0].RemainingS < 3500 || bans[0].RemainingS > 3600 {
		t.Errorf("remaining %ds, want about 3600", bans[0].RemainingS)
	}
	els := tn.elements(t, "e2e-v4")
	if _, ok := els[netip.MustParseAddr("192.0.2.2")]; !ok {
		t.Errorf("192.0.2.2 not in the set after restart: %v", els)
	}
	if _, ok := els[netip.MustParseAddr("192.0.2.4")]; ok {
		t.Errorf("expired 192.0.2.4 still in the set after restart")
	}
	if tn.connect(t, "192.0.2.2", "192.0.2.1", 2222) {
		t.Error("192.0.2.2 connects after restart")
	}
	if !tn.connect(t, "192.0.2.4", "192.0.2.1", 2222) {
		t.Error("192.0.2.4 cannot connect though its ban expired")
	}
	// The log is not re-read from the start: the old failures ban nobody again.
	st, err := exec.Command(binary, "status", "e2e", "--json", "--socket", s.socket).Output()
	if err != nil {
		t.Fatal(err)
	}
	var ps daemon.PipelineStatus
	if err := json.Unmarshal(st, &ps); err != nil {
		t.Fatal(err)
	}
	if ps.Filter.Matched != 0 || ps.Filter.TotalFailed != failedBefore {
		t.Errorf("after restart %d lines matched again, total failed %d (want 0 and the %d counted before): the file should resume at its stored offset and the total be kept", ps.Filter.Matched, ps.Filter.TotalFailed, failedBefore)
	}
}

// waitBanCount waits until logjail at socket holds n bans.
func waitBanCount(t testing.TB, timeout time.Duration, socket string, n int) {
	t.Helper()
	testkit.WaitFor(t, timeout, func() error {
		bans := banned(t, socket)
		return testkit.Check(len(bans) == n, "%d bans, want %d: %+v", len(bans), n, bans)
	})
}

// waitCommitted waits until pipeline e2e has committed every position.
func waitCommitted(t testing.TB, timeout time.Duration, socket string) {
	t.Helper()
	testkit.WaitFor(t, timeout, func() error {
		n := status(t, socket).Uncommitted
		return testkit.Check(n == 0, "%d positions not committed", n)
	})
}

// waitBanOf waits until pipeline bans addr in logjail at socket; a timeout
// shows the bans seen.
func waitBanOf(t testing.TB, timeout time.Duration, socket, pipeline, addr string) {
	t.Helper()
	testkit.WaitFor(t, timeout, func() error {
		bans := banned(t, socket)
		ok := slices.ContainsFunc(bans, func(b daemon.Ban) bool { return b.Pipeline == pipeline && b.Addr == addr })
		return testkit.Check(ok, "%s not banned by pipeline %s; the bans: %+v", addr, pipeline, bans)
	})
}

// waitSourceReads calls poke (which writes a line for it) until pipeline's
// first source in logjail at socket has read something.
func waitSourceReads(t testing.TB, timeout time.Duration, socket, pipeline string, poke func()) {
	t.Helper()
	testkit.WaitFor(t, timeout, func() error {
		poke()
		n := sourceRead(socket, pipeline)
		return testkit.Check(n > 0, "pipeline %s's first source has read nothing (status: %d lines)", pipeline, n)
	})
}

// waitBans waits until logjail at socket bans every one of addrs, in any
// pipeline; a timeout shows the bans seen.
func waitBans(t testing.TB, timeout time.Duration, socket string, addrs ...string) {
	t.Helper()
	testkit.WaitFor(t, timeout, func() error {
		bans := banned(t, socket)
		for _, a := range addrs {
			if !slices.ContainsFunc(bans, func(b daemon.Ban) bool { return b.Addr == a }) {
				return fmt.Errorf("%s not banned; the bans: %+v", a, bans)
			}
		}
		return nil
	})
}

// holds is nil when logjail's set holds addr, with more than minLeft of
// its timeout left when minLeft > 0; else an error that shows the set's
// elements, or why it cannot be read (a table being restored).
func (tn *testNet) holds(set, addr string, minLeft time.Duration) error {
	els, err := tryElements(tn, set)
	if err != nil {
		return fmt.Errorf("set %s: %w", set, err)
	}
	left, ok := els[netip.MustParseAddr(addr)]
	if !ok || minLeft > 0 && left <= minLeft {
		return fmt.Errorf("set %s: want %s (more than %s left); it holds %v", set, addr, minLeft, els)
	}
	return nil
}

// waitHolds waits until logjail's set holds addr, the table missing
// meanwhile or not; a timeout shows the set.
func (tn *testNet) waitHolds(t testing.TB, timeout time.Duration, set, addr string) {
	t.Helper()
	testkit.WaitFor(t, timeout, func() error { return tn.holds(set, addr, 0) })
}

func status(t testing.TB, socket string) daemon.PipelineStatus {
	t.Helper()
	out, err := exec.Command(binary, "status", "e2e", "--json", "--socket", socket).Output()
	if err != nil {
		t.Fatalf("logjail status: %v", err)
	}
	var st daemon.PipelineStatus
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("logjail status: %v\n%s", err, out)
	}
	return st
}

// Bad input is counted and skipped; the pipeline goes on. Runs without
// privileges: the decisions are checked in dry-run mode.
func TestBadInputKeepsPipelineRunning(t *testing.T) {
	t.Parallel()
	s := newSetup(t, e2ePipeline("maxretry: 2", fileSource, sshdFilter))
	s.start(t, nil)
	f, err := os.OpenFile(s.logFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	stamp := time.Now().Format(time.Stamp)
	huge := stamp + " srv sshd[1]: Failed password for root from 198.51.100.66 port 1 ssh2 " + strings.Repeat("A", 1<<20) + "\n"
	f.WriteString(huge)
	f.WriteString(stamp + " srv sshd[2]: Failed password for \xff\xfe\x00bin from 198.51.100.5 port 2 ssh2\n")
	f.WriteString(stamp + " srv sshd[3]: \x00\x00\x00 binary \x01\x02 junk\n")
	f.Close()
	testkit.WaitFor(t, 10*time.Second, func() error {
		st := status(t, s.socket)
		return testkit.Check(st.Sources[0].Skipped >= 1 && st.Filter.TotalFailed >= 1,
			"bad lines read: %d skipped, %d failures (want 1 or more of each)", st.Sources[0].Skipped, st.Filter.TotalFailed)
	})
	// copytruncate: the file is cut to zero and written again.
	if err := os.Truncate(s.logFile, 0); err != nil {
		t.Fatal(err)
	}
	s.appendLines(t, time.Now(), failures("198.51.100.7", 2)...)
	s.appendLines(t, time.Now(), failures("198.51.100.5", 1)...)
	waitBans(t, 10*time.Second, s.socket, "198.51.100.7", "198.51.100.5") // after bad input and truncation
	st := status(t, s.socket)
	if st.Sources[0].Skipped != 1 {
		t.Errorf("skipped %d lines, want 1 (the 1 MiB line)", st.Sources[0].Skipped)
	}
	for _, b := range banned(t, s.socket) {
		if b.Addr == "198.51.100.66" {
			t.Error("the address inside the oversized line was banned")
		}
	}
}

// A second logjail in the same network namespace, even with its own socket
// and state dir, must stop before it rewrites the first one's table.
func TestSecondDaemonLeavesTableAlone(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "ip")
	tn := newTestNet(t)
	s := newSetup(t, restartConfig)
	s.start(t, tn)
	out, err := exec.Command(binary, "ban", "e2e", "192.0.2.9", "--socket", s.socket).CombinedOutput()
	if err != nil {
		t.Fatalf("logjail ban: %v\n%s", err, out)
	}
	other := t.TempDir()
	second := exec.Command("ip", "netns", "exec", tn.srv, binary, "run", "--config", s.config,
		"--state-dir", filepath.Join(other, "state"), "--socket", filepath.Join(other, "s.sock"))
	out, err = second.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use by another logjail") {
		t.Fatalf("second logjail: want refusal, got %v:\n%s", err, out)
	}
	if _, ok := tn.elements(t, "e2e-v4")[netip.MustParseAddr("192.0.2.9")]; !ok {
		t.Fatal("the first logjail's ban is gone from the set")
	}
}

// sourceRead is what a pipeline's first source has read, 0 when unknown.
func sourceRead(socket, pipeline string) uint64 {
	out, err := exec.Command(binary, "status", pipeline, "--json", "--socket", socket).Output()
	if err != nil {
		return 0
	}
	var st daemon.PipelineStatus
	if json.Unmarshal(out, &st) != nil || len(st.Sources) == 0 {
		return 0
	}
	return st.Sources[0].Read
}
