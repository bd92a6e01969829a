package main

import (
	"encoding/json"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/logjail/logjail/daemon"
)

// versionLine is what `logjail --version` prints: the version, the VCS
// stamp in parentheses when the build has one, the Go version.
var versionLine = regexp.MustCompile(`^logjail version (\S+)( \(rev [0-9a-f]{1,12}(, [^,)]+)*\))? (go\S+)\n$`)

// A binary built without -ldflags takes its version from its build
// information, never "dev"; -X main.version sets it.
func TestVersionFlag(t *testing.T) {
	t.Parallel()
	linked := filepath.Join(t.TempDir(), "logjail")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=1.2.3-test", "-o", linked, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name, bin, version string // version "" is any but "dev"
	}{
		{"go build", binary, ""},
		{"-ldflags -X main.version", linked, "1.2.3-test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(tc.bin, "--version").Output()
			m := versionLine.FindStringSubmatch(string(out))
			if err != nil || m == nil {
				t.Fatalf("--version: %v: %q does not match %s", err, out, versionLine)
			}
			if m[1] == "dev" || (tc.version != "" && m[1] != tc.version) || m[4] != runtime.Version() {
				t.Errorf("--version: %q; want version %q and %s", out, tc.version, runtime.Version())
			}
		})
	}
}

// `logjail ping` answers with the daemon's version, the same as --version
// and status say; with nobody listening it fails with exit code 1 and
// names the socket (in JSON under --json).
func TestPing(t *testing.T) {
	t.Parallel()
	s := newSetup(t, e2ePipeline(fileSource, sshdFilter))
	notRunning := "no logjail is listening on the control socket: " + s.socket
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"ping"}, "logjail: " + notRunning + "\n"},
		{[]string{"ping", "--json"}, "{\n  \"error\": \"" + notRunning + "\"\n}\n"},
	} {
		args := tc.args
		cmd := exec.Command(binary, append(args, "--socket", s.socket)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || len(out) != 0 || stderr.String() != tc.stderr {
			t.Errorf("%v without a daemon: %v, stdout %q, stderr %q; want exit code 1 and an error naming the socket", args, err, out, stderr.String())
		}
	}

	s.start(t, nil)
	version, err := exec.Command(binary, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	build := strings.TrimPrefix(strings.TrimSuffix(string(version), "\n"), "logjail version ")
	out, err := exec.Command(binary, "ping", "--socket", s.socket).Output()
	if err != nil || string(out) != "pong from logjail version "+build+"\n" {
		t.Errorf("ping: %v: %q; want the version %q", err, out, build)
	}
	out, err = exec.Command(binary, "ping", "--json", "--socket", s.socket).Output()
	var pong daemon.Pong
	if err != nil || json.Unmarshal(out, &pong) != nil || pong.Build.String() != build {
		t.Errorf("ping --json: %v: %s; want build %q", err, out, build)
	}
	out, err = exec.Command(binary, "status", "--socket", s.socket).Output()
	if err != nil || !strings.HasSuffix(string(out), "\nDaemon: logjail version "+build+"\n") {
		t.Errorf("status: %v:\n%s\nwant the line Daemon: logjail version %s", err, out, build)
	}
	out, err = exec.Command(binary, "status", "--json", "--socket", s.socket).Output()
	var st daemon.Status
	if err != nil || json.Unmarshal(out, &st) != nil || st.Build == nil || st.Build.String() != build || len(st.Pipelines) != 1 {
		t.Errorf("status --json: %v: %s; want build %q", err, out, build)
	}
}

// A socket that accepts but never answers (a hung daemon): ping gives up
// after --timeout with exit code 1 and an error naming the socket.
func TestPingTimeout(t *testing.T) {
	t.Parallel()
	socket := filepath.Join(t.TempDir(), "hung.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cmd := exec.Command(binary, "ping", "--timeout", "300ms", "--socket", socket)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	_, err = cmd.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stderr.String(), "control socket "+socket+": ") ||
		!strings.Contains(stderr.String(), "deadline exceeded") {
		t.Errorf("ping a hung daemon: %v, stderr %q; want exit code 1, the socket and the deadline", err, stderr.String())
	}
}
