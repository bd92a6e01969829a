package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/logjail/logjail/daemon"
	"github.com/logjail/logjail/internal/testkit"
)

// The systemd unit (systemd/logjail.service) runs logjail as an unprivileged
// user with a few capabilities. These tests read the unit and run the real
// binary the way it says — same user, same capability sets, no new
// privileges — with util-linux's setpriv standing in for systemd (which is
// not PID 1 in CI), inside a network namespace the test makes.

const unitPath = "systemd/logjail.service"

// unit holds what the tests take from the unit file.
type unit struct {
	user, group    string
	bounding       []string // CapabilityBoundingSet=, e.g. CAP_NET_ADMIN
	ambient        []string // AmbientCapabilities=
	noNewPrivs     bool
	execStart      string
	stateDirectory string
	runtimeDir     string
}

// readUnit parses the [Service] section of the unit file. Repeated
// capability lines add up and an empty one resets, as systemd reads them.
func readUnit(t *testing.T) unit {
	t.Helper()
	f, err := os.Open(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var u unit
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") {
			section = line
			continue
		}
		if section != "[Service]" {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s:%d: not key=value: %q", unitPath, n, line)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		caps := func(list *[]string) {
			if value == "" {
				*list = nil
				return
			}
			if strings.HasPrefix(value, "~") {
				t.Fatalf("%s:%d: inverted capability lists are not understood by this test", unitPath, n)
			}
			*list = append(*list, strings.Fields(value)...)
		}
		switch key {
		case "User":
			u.user = value
		case "Group":
			u.group = value
		case "CapabilityBoundingSet":
			caps(&u.bounding)
		case "AmbientCapabilities":
			caps(&u.ambient)
		case "NoNewPrivileges":
			u.noNewPrivs = value == "true" || value == "yes" || value == "1" || value == "on"
		case "ExecStart":
			u.execStart = value
		case "StateDirectory":
			u.stateDirectory = value
		case "RuntimeDirectory":
			u.runtimeDir = value
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if u.user == "" || u.user == "root" || u.user == "0" {
		t.Fatalf("%s: User= is %q; logjail's service must run unprivileged", unitPath, u.user)
	}
	if u.stateDirectory == "" || u.runtimeDir == "" {
		t.Fatalf("%s: StateDirectory= and RuntimeDirectory= must both be set", unitPath)
	}
	if len(u.bounding) == 0 || len(u.ambient) == 0 {
		t.Fatalf("%s: CapabilityBoundingSet= and AmbientCapabilities= must both be set", unitPath)
	}
	for _, c := range u.ambient {
		if !slices.Contains(u.bounding, c) {
			t.Fatalf("%s: ambient capability %s is not in CapabilityBoundingSet=, so systemd could not raise it", unitPath, c)
		}
	}
	return u
}

// capNumbers maps the capability names a unit may list to their numbers.
var capNumbers = map[string]int{
	"CAP_CHOWN":              unix.CAP_CHOWN,
	"CAP_DAC_OVERRIDE":       unix.CAP_DAC_OVERRIDE,
	"CAP_DAC_READ_SEARCH":    unix.CAP_DAC_READ_SEARCH,
	"CAP_FOWNER":             unix.CAP_FOWNER,
	"CAP_KILL":               unix.CAP_KILL,
	"CAP_SETGID":             unix.CAP_SETGID,
	"CAP_SETUID":             unix.CAP_SETUID,
	"CAP_NET_BIND_SERVICE":   unix.CAP_NET_BIND_SERVICE,
	"CAP_NET_BROADCAST":      unix.CAP_NET_BROADCAST,
	"CAP_NET_ADMIN":          unix.CAP_NET_ADMIN,
	"CAP_NET_RAW":            unix.CAP_NET_RAW,
	"CAP_IPC_LOCK":           unix.CAP_IPC_LOCK,
	"CAP_SYS_PTRACE":         unix.CAP_SYS_PTRACE,
	"CAP_SYS_ADMIN":          unix.CAP_SYS_ADMIN,
	"CAP_SYS_RESOURCE":       unix.CAP_SYS_RESOURCE,
	"CAP_AUDIT_WRITE":        unix.CAP_AUDIT_WRITE,
	"CAP_AUDIT_CONTROL":      unix.CAP_AUDIT_CONTROL,
	"CAP_SYSLOG":             unix.CAP_SYSLOG,
	"CAP_AUDIT_READ":         unix.CAP_AUDIT_READ,
	"CAP_BPF":                unix.CAP_BPF,
	"CAP_PERFMON":            unix.CAP_PERFMON,
	"CAP_CHECKPOINT_RESTORE": unix.CAP_CHECKPOINT_RESTORE,
}

// capMask is the bit mask of caps, as /proc/PID/status shows it.
func capMask(t *testing.T, caps []string) uint64 {
	t.Helper()
	var m uint64
	for _, c := range caps {
		n, ok := capNumbers[strings.ToUpper(c)]
		if !ok {
			t.Fatalf("capability %s: unknown to this test (add it to capNumbers)", c)
		}
		m |= 1 << n
	}
	return m
}

// setprivCaps spells caps for setpriv: "-all,+net_admin,+net_raw".
func setprivCaps(caps []string) string {
	s := "-all"
	for _, c := range caps {
		s += ",+" + strings.TrimPrefix(strings.ToLower(c), "cap_")
	}
	return s
}

func without(list []string, drop string) []string {
	var out []string
	for _, c := range list {
		if c != drop {
			out = append(out, c)
		}
	}
	return out
}

// serviceUserMu lets one test at a time have the service user: a test
// that created it removes it at its end, under another that runs as it.
var serviceUserMu sync.Mutex

// serviceUser returns the uid and gid of the unit's User=, creating it as
// the README says (useradd --system) when the host has none, and removing
// it afterwards if the test created it. The test has the user to itself
// until it ends (serviceUserMu).
func serviceUser(t *testing.T, u unit) (uid, gid int) {
	t.Helper()
	serviceUserMu.Lock()
	t.Cleanup(serviceUserMu.Unlock) // after the userdel below
	acct, err := user.Lookup(u.user)
	if err != nil {
		useradd := testkit.NeedProgram(t, "useradd", "passwd")
		out, err := exec.Command(useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", u.user).CombinedOutput()
		if err != nil {
			t.Fatalf("useradd %s: %v\n%s", u.user, err, out)
		}
		t.Cleanup(func() { exec.Command("userdel", u.user).Run() })
		if acct, err = user.Lookup(u.user); err != nil {
			t.Fatalf("user %s after useradd: %v", u.user, err)
		}
	}
	uid, err = strconv.Atoi(acct.Uid)
	if err != nil {
		t.Fatal(err)
	}
	gid, err = strconv.Atoi(acct.Gid)
	if err != nil {
		t.Fatal(err)
	}
	if u.group != "" {
		g, err := user.LookupGroup(u.group)
		if err != nil {
			t.Fatalf("Group=%s: %v", u.group, err)
		}
		if gid, err = strconv.Atoi(g.Gid); err != nil {
			t.Fatal(err)
		}
	}
	if uid == 0 {
		t.Fatalf("user %s has uid 0", u.user)
	}
	return uid, gid
}

// serviceSetup lays out a host as the unit sees it: the binary and the
// configuration owned by root and world-readable, the log readable by root
// alone (0600 root:root: only CAP_DAC_READ_SEARCH lets the service read it),
// the state directory (StateDirectory=, 0700) and the socket directory
// (RuntimeDirectory=) owned by the service user.
type serviceSetup struct {
	*setup
	bin  string
	args []string // setpriv ... logjail run ...
}

func newServiceSetup(t *testing.T, u unit, uid, gid int, ambient, bounding []string) *serviceSetup {
	t.Helper()
	base, err := os.MkdirTemp("", "logjail-service-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	// The directories on the way stay searchable by everyone, as /etc,
	// /var/lib and /run are: only the log file needs a capability.
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &serviceSetup{setup: &setup{
		dir:      base,
		config:   filepath.Join(base, "logjail.yaml"),
		logFile:  filepath.Join(base, "auth.log"),
		stateDir: filepath.Join(base, "lib", u.stateDirectory),
		socket:   filepath.Join(base, "run", u.runtimeDir, "logjail.sock"),
	}}
	s.bin = filepath.Join(base, "logjail")
	copyFile(t, binary, s.bin, 0o755)
	cfg := strings.ReplaceAll(restartConfig, "LOGFILE", s.logFile)
	if err := os.WriteFile(s.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.logFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(s.logFile, 0o600); err != nil { // whatever the umask
		t.Fatal(err)
	}
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{s.stateDir, 0o700}, {filepath.Dir(s.socket), 0o750}} {
		if err := os.MkdirAll(filepath.Dir(d.path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(d.path, d.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d.path, uid, gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d.path, d.mode); err != nil {
			t.Fatal(err)
		}
	}
	s.args = []string{
		"setpriv",
		"--reuid=" + strconv.Itoa(uid), "--regid=" + strconv.Itoa(gid), "--clear-groups",
		"--inh-caps=" + setprivCaps(ambient),
		"--ambient-caps=" + setprivCaps(ambient),
		"--bounding-set=" + setprivCaps(bounding),
	}
	if u.noNewPrivs {
		s.args = append(s.args, "--no-new-privs")
	}
	s.args = append(s.args, s.bin, "run", "--config", s.config, "--state-dir", s.stateDir, "--socket", s.socket, "--log-level", "debug")
	return s
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// procStatus reads the fields of /proc/PID/status.
func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	st := map[string]string{}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok {
			st[k] = strings.TrimSpace(v)
		}
	}
	return st
}

// TestServiceUnitVerify checks the unit with systemd's own parser: any
// unknown key or bad value is a warning there, so the output must be empty.
func TestServiceUnitVerify(t *testing.T) {
	t.Parallel()
	analyze := testkit.NeedProgram(t, "systemd-analyze", "systemd")
	u := readUnit(t)
	// The paths the Debian package installs (cmd/mkdeb).
	// No --config: the default files, /etc/logjail/logjail.yaml and then
	// logjail.d/, which the package installs and the admin adds to.
	if u.execStart != "/usr/bin/logjail run" {
		t.Fatalf("ExecStart=%s: want /usr/bin/logjail run (the default configuration files)", u.execStart)
	}
	// ExecStart names neither --state-dir nor --socket: the directories
	// systemd makes must be logjail's defaults.
	if strings.Contains(u.execStart, "--state-dir") || strings.Contains(u.execStart, "--socket") {
		t.Errorf("ExecStart=%s: leave --state-dir and --socket at their defaults", u.execStart)
	}
	if got := "/var/lib/" + u.stateDirectory; got != daemon.DefaultStateDir {
		t.Errorf("StateDirectory=%s makes %s; logjail's state defaults to %s", u.stateDirectory, got, daemon.DefaultStateDir)
	}
	if got := "/run/" + u.runtimeDir; got != filepath.Dir(daemon.DefaultSocket) {
		t.Errorf("RuntimeDirectory=%s makes %s; logjail's socket defaults to %s", u.runtimeDir, got, daemon.DefaultSocket)
	}
	b, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	// verify insists that ExecStart's program exists: point it at the
	// binary under test. The unit keeps its name.
	dir := t.TempDir()
	unitCopy := filepath.Join(dir, "logjail.service")
	if err := os.WriteFile(unitCopy, []byte(strings.ReplaceAll(string(b), "/usr/bin/logjail", binary)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", unitCopy).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify %s: %v\n%s", unitPath, err, out)
	}
}

// TestServiceUnprivileged runs logjail as the unit's user with the unit's
// capabilities: it reads a root-only log, bans in nftables, and keeps its
// state and socket as that user.
func TestServiceUnprivileged(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "ip")
	testkit.NeedProgram(t, "setpriv", "util-linux")
	u := readUnit(t)
	uid, gid := serviceUser(t, u)
	tn := newTestNet(t)
	s := newServiceSetup(t, u, uid, gid, u.ambient, u.bounding)
	cmd, exited := s.startService(t, tn)
	checkServiceProcess(t, u, cmd.Process.Pid, s.bin, uid, gid)

	// Failures in the root-only log ban through nftables.
	s.appendLines(t, time.Now(), failures("192.0.2.2", 3)...)
	tn.waitBanned(t, s.setup, "e2e-v4", "192.0.2.2")
	if bans := banned(t, s.socket); len(bans) != 1 || bans[0].Addr != "192.0.2.2" {
		t.Errorf("banned: %+v, want 192.0.2.2", bans)
	}

	// The state and the socket belong to the service user.
	owned := func(path string) {
		t.Helper()
		var fi unix.Stat_t
		if err := unix.Lstat(path, &fi); err != nil {
			t.Errorf("%s: %v", path, err)
			return
		}
		if int(fi.Uid) != uid {
			t.Errorf("%s is owned by uid %d, want %d", path, fi.Uid, uid)
		}
	}
	owned(s.socket)
	entries, err := os.ReadDir(s.stateDir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("state dir %s: %v, %d entries", s.stateDir, err, len(entries))
	}
	for _, e := range entries {
		owned(filepath.Join(s.stateDir, e.Name()))
	}

	// systemd stops the service with SIGTERM: a clean exit.
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("logjail after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("logjail did not stop within 15s of SIGTERM")
	}
	if _, ok := tn.elements(t, "e2e-v4")[netip.MustParseAddr("192.0.2.2")]; !ok {
		t.Error("the ban left the set when logjail stopped")
	}
}

// startService runs the service in tn's srv namespace and waits until its
// file source reads the root-only log. exited receives cmd.Wait's error.
func (s *serviceSetup) startService(t *testing.T, tn *testNet) (cmd *exec.Cmd, exited chan error) {
	t.Helper()
	logOut, err := os.OpenFile(filepath.Join(s.dir, "daemon.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logOut.Close() })
	// ip netns exec and setpriv each exec the next program in place, so
	// the process started here becomes logjail itself.
	args := append([]string{"ip", "netns", "exec", tn.srv}, s.args...)
	cmd = exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = logOut, logOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited = make(chan error, 1)
	done := make(chan struct{})
	go func() { exited <- cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		// Gone before userdel runs: it refuses a user with processes.
		cmd.Process.Signal(syscall.SIGKILL)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
		if t.Failed() {
			b, _ := os.ReadFile(logOut.Name())
			t.Logf("logjail's log:\n%s", b)
		}
	})
	testkit.WaitFor(t, 20*time.Second, func() error {
		select {
		case err := <-exited:
			t.Fatalf("logjail exited during start-up: %v", err)
		default:
		}
		s.appendLines(t, time.Now(), "sshd[999]: Server listening on 0.0.0.0 port 22.")
		n := sourceRead(s.socket, "e2e")
		return testkit.Check(n > 0, "logjail's file source did not read the root-only log: %d lines read (0: or no status)", n)
	})
	return cmd, exited
}

// checkServiceProcess: the process pid is logjail (bin), with the user's
// ids and exactly the unit's capabilities.
func checkServiceProcess(t *testing.T, u unit, pid int, bin string, uid, gid int) {
	t.Helper()
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || exe != bin {
		t.Fatalf("pid %d runs %q (%v), want %s", pid, exe, err, bin)
	}
	st := procStatus(t, pid)
	wantIDs := fmt.Sprintf("%d\t%d\t%d\t%d", uid, uid, uid, uid)
	if st["Uid"] != wantIDs {
		t.Errorf("Uid: %q, want %q (real, effective, saved, fs)", st["Uid"], wantIDs)
	}
	if want := fmt.Sprintf("%d\t%d\t%d\t%d", gid, gid, gid, gid); st["Gid"] != want {
		t.Errorf("Gid: %q, want %q", st["Gid"], want)
	}
	if st["Groups"] != "" {
		t.Errorf("Groups: %q, want none (the log must be read by capability, not by group)", st["Groups"])
	}
	ambient, bounding := capMask(t, u.ambient), capMask(t, u.bounding)
	for field, want := range map[string]uint64{"CapEff": ambient, "CapPrm": ambient, "CapAmb": ambient, "CapInh": ambient, "CapBnd": bounding} {
		got, err := strconv.ParseUint(st[field], 16, 64)
		if err != nil {
			t.Errorf("%s: %q: %v", field, st[field], err)
		} else if got != want {
			t.Errorf("%s: %016x, want %016x (%s)", field, got, want, strings.Join(u.ambient, " "))
		}
	}
	if u.noNewPrivs && st["NoNewPrivs"] != "1" {
		t.Errorf("NoNewPrivs: %q, want 1", st["NoNewPrivs"])
	}
}

// TestServiceWithoutNetAdmin runs the same service without CAP_NET_ADMIN:
// logjail must stop with an error naming nftables and the missing
// permission, not crash or hang.
func TestServiceWithoutNetAdmin(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "ip")
	testkit.NeedProgram(t, "setpriv", "util-linux")
	u := readUnit(t)
	if !slices.Contains(u.ambient, "CAP_NET_ADMIN") {
		t.Fatalf("%s: AmbientCapabilities= lacks CAP_NET_ADMIN, which nftables needs", unitPath)
	}
	uid, gid := serviceUser(t, u)
	tn := newTestNet(t)
	s := newServiceSetup(t, u, uid, gid, without(u.ambient, "CAP_NET_ADMIN"), without(u.bounding, "CAP_NET_ADMIN"))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append([]string{"ip", "netns", "exec", tn.srv}, s.args...)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("logjail without CAP_NET_ADMIN did not exit within 30s; stderr:\n%s", stderr.String())
	}
	var exit *exec.ExitError
	if err == nil || !errors.As(err, &exit) {
		t.Fatalf("logjail without CAP_NET_ADMIN: want a failing exit, got %v; stderr:\n%s", err, stderr.String())
	}
	if exit.ExitCode() != 1 {
		t.Errorf("exit code %d, want 1 (an error, not a crash or a signal)", exit.ExitCode())
	}
	msg := stderr.String()
	if strings.Contains(msg, "panic:") || strings.Contains(msg, "goroutine ") || strings.Contains(msg, "SIGSEGV") {
		t.Errorf("logjail crashed:\n%s", msg)
	}
	lower := strings.ToLower(msg)
	if !strings.Contains(lower, "nftables") || !(strings.Contains(lower, "operation not permitted") || strings.Contains(lower, "permission")) {
		t.Errorf("stderr does not say that nftables was not permitted:\n%s", msg)
	}
	t.Logf("logjail without CAP_NET_ADMIN: %s", strings.TrimSpace(msg))
	if _, err := tryElements(tn, "e2e-v4"); err == nil {
		t.Error("the set e2e-v4 exists though logjail had no CAP_NET_ADMIN")
	}
}
