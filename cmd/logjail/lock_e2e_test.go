package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
)

// squat runs a process as nobody in namespace ns that binds the abstract
// unix socket name first (and listens on it when listen is set), as any
// local user can: abstract sockets have no permissions.
func squat(t *testing.T, ns, name string, listen bool) {
	t.Helper()
	py := needTools(t, map[string]string{"python3": "python3", "setpriv": "util-linux"})
	// The system's python3: nobody cannot run one under root's home.
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		py["python3"] = "/usr/bin/python3"
	}
	script := "import socket, sys, time\n" +
		"s = socket.socket(socket.AF_UNIX)\n" +
		"s.bind('\\0' + sys.argv[1])\n" +
		"if sys.argv[2] == 'listen': s.listen()\n" +
		"print('bound', flush=True)\n" +
		"time.sleep(3600)\n"
	mode := "bind"
	if listen {
		mode = "listen"
	}
	cmd := exec.Command("ip", "netns", "exec", ns, py["setpriv"], "--reuid", "65534", "--regid", "65534", "--clear-groups",
		py["python3"], "-c", script, name, mode)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "bound\n" {
		t.Fatalf("squatter: %q, %v", line, err)
	}
}

// Any local user can bind the table's abstract socket name first; logjail
// (root) still starts and bans, and the lock file in its runtime directory
// still keeps a second logjail off the table.
func TestTableLockSquatter(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "ip")
	for _, tc := range []struct {
		name   string
		listen bool
	}{
		{"listening", true},
		{"bound only", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tn := newTestNet(t)
			squat(t, tn.srv, "logjail/table/logjail", tc.listen)
			s := newSetup(t, restartConfig)
			s.start(t, tn)
			if out, ok := lj(t, s.socket, "ban", "e2e", "192.0.2.9"); !ok {
				t.Fatalf("logjail ban: %s", out)
			}
			if !tn.bannedIn(t, "e2e-v4", "192.0.2.9") {
				t.Fatal("192.0.2.9 is not in the set")
			}
			// Its socket next to the first one's: the same runtime
			// directory, so the same lock file.
			second := exec.Command("ip", "netns", "exec", tn.srv, binary, "run", "--config", s.config,
				"--state-dir", filepath.Join(t.TempDir(), "state"), "--socket", filepath.Join(s.dir, "second.sock"))
			out, err := second.CombinedOutput()
			if err == nil || !strings.Contains(string(out), "in use by another logjail") {
				t.Fatalf("second logjail: want refusal, got %v:\n%s", err, out)
			}
			if !tn.bannedIn(t, "e2e-v4", "192.0.2.9") {
				t.Fatal("the first logjail's ban is gone from the set")
			}
		})
	}
}

// Two logjails in two network namespaces own a table each, with their
// sockets (and so their lock files) in one directory.
func TestTableLockPerNamespace(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "ip")
	dir := t.TempDir()
	for i, addr := range []string{"192.0.2.2", "192.0.2.4"} {
		tn := newTestNet(t)
		s := newSetup(t, restartConfig)
		s.socket = filepath.Join(dir, "logjail"+string(rune('a'+i))+".sock")
		s.start(t, tn)
		if out, ok := lj(t, s.socket, "ban", "e2e", addr); !ok {
			t.Fatalf("logjail ban in namespace %d: %s", i, out)
		}
		tn.waitBanned(t, s, "e2e-v4", addr)
	}
}

// A runtime directory others can write in is refused: whoever can replace
// the lock file could run a second logjail on the table.
func TestTableLockRunDirChecked(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "ip")
	tn := newTestNet(t)
	s := newSetup(t, restartConfig)
	run := filepath.Join(s.dir, "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(run, 0o777); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", tn.srv, binary, "run", "--config", s.config,
		"--state-dir", s.stateDir, "--socket", filepath.Join(run, "logjail.sock"))
	done := make(chan []byte, 1)
	go func() { out, _ := cmd.CombinedOutput(); done <- out }()
	select {
	case out := <-done:
		if !strings.Contains(string(out), "others can write in it") {
			t.Fatalf("want a refusal naming the directory's mode, got:\n%s", out)
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("logjail started with a world-writable runtime directory")
	}
}
