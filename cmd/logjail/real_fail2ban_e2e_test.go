package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
)

// realFail2ban is a fail2ban-server the test started, with its own
// configuration (testdata/fail2ban) in the test's directory.
type realFail2ban struct {
	client, conf, sock string
}

// startFail2ban runs fail2ban-server on the jails of
// testdata/fail2ban/jail.conf.tmpl (vars fill it) and waits until it
// answers.
func startFail2ban(t *testing.T, dir string, vars map[string]string) *realFail2ban {
	t.Helper()
	server := testkit.NeedProgram(t, "fail2ban-server", "fail2ban")
	f := &realFail2ban{client: testkit.NeedProgram(t, "fail2ban-client", "fail2ban"),
		conf: filepath.Join(dir, "f2b-conf"), sock: filepath.Join(dir, "f2b.sock")}
	if err := os.MkdirAll(f.conf, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"filter.d", "action.d"} {
		if err := os.Symlink(filepath.Join("/etc/fail2ban", sub), filepath.Join(f.conf, sub)); err != nil {
			t.Fatal(err)
		}
	}
	vars["Dir"] = dir
	render(t, "fail2ban/fail2ban.conf.tmpl", filepath.Join(f.conf, "fail2ban.conf"), vars)
	render(t, "fail2ban/jail.conf.tmpl", filepath.Join(f.conf, "jail.conf"), vars)
	p := startThirdParty(t, "", dir, "fail2ban-server", server, "-f", "-x", "-c", f.conf)
	p.waitFile(t, f.sock)
	testkit.WaitFor(t, 30*time.Second, func() error {
		_, err := f.run("status")
		return err
	})
	return f
}

// run is fail2ban-client's output for args.
func (f *realFail2ban) run(args ...string) (string, error) {
	var out, stderr bytes.Buffer
	cmd := exec.Command(f.client, append([]string{"-c", f.conf, "-s", f.sock}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("fail2ban-client %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out.String(), nil
}

// TestFail2banFormatMatchesFail2ban runs the real fail2ban-server and
// logjail on the same log lines (two jails and two pipelines of the same
// names, one on a log file, one on journal files; fail2ban's dummy action
// and logjail's dry run: no firewall) and checks that `status` and
// `banned` with `--format fail2ban` print byte for byte what
// fail2ban-client prints, once both have banned the same addresses.
func TestFail2banFormatMatchesFail2ban(t *testing.T) {
	t.Parallel()
	testkit.NeedProgram(t, "fail2ban-server", "fail2ban")
	testkit.NeedFile(t, "/usr/lib/python3/dist-packages/systemd/journal.py", "python3-systemd") // fail2ban's journal backend
	jdir := filepath.Join(t.TempDir(), "journal")
	if err := os.MkdirAll(jdir, 0o755); err != nil {
		t.Fatal(err)
	}
	journal := &journalWriter{path: filepath.Join(jdir, "remote.journal")}
	journal.write(t, "ssh.service", "Server listening on 0.0.0.0 port 22.")
	s := newSetup(t, "defaults: {maxretry: 3, findtime: 10m, bantime: 1h}\npipelines:\n"+
		"  e2e:\n    enabled: true\n    ingest:\n      - file: {paths: [LOGFILE], poll: 200ms}\n    match: {filter: sshd}\n"+
		"  journal:\n    enabled: true\n    ingest:\n      - journald: {directory: "+jdir+", match: [_SYSTEMD_UNIT=ssh.service]}\n    match: {filter: sshd}\n")
	f2b := startFail2ban(t, s.dir, map[string]string{"AuthLog": s.logFile, "JournalDir": jdir})
	s.start(t, nil)

	// Three addresses at three times: two reach maxretry (their bans end
	// in that order), one stays a current failure; one failure in the
	// journal.
	now := time.Now()
	s.appendLines(t, now.Add(-50*time.Second), failures("192.0.2.7", 3)...)
	s.appendLines(t, now.Add(-40*time.Second), failures("192.0.2.9", 3)...)
	s.appendLines(t, now.Add(-30*time.Second), failures("192.0.2.11", 1)...)
	journal.write(t, "ssh.service", failureMessages("192.0.2.13", 1)...)

	commands := [][]string{
		{"status"}, {"status", "e2e"}, {"status", "journal"},
		{"banned"}, {"banned", "192.0.2.9", "192.0.2.8", "192.0.2.7"}, {"banned", "192.0.2.11"},
	}
	testkit.WaitFor(t, 30*time.Second, func() error {
		// Both banned what was due, not merely agreed before either had.
		if got, err := f2b.run("banned"); err != nil || got != "[{'e2e': ['192.0.2.7', '192.0.2.9']}, {'journal': []}]\n" {
			return fmt.Errorf("fail2ban has not banned both attackers yet: %q %v", got, err)
		}
		if got, err := f2b.run("status", "journal"); err != nil || !strings.Contains(got, "Total failed:\t1\n") {
			return fmt.Errorf("fail2ban has not read the journal's failure yet: %q %v", got, err)
		}
		for _, args := range commands {
			want, err := f2b.run(args...)
			if err != nil {
				return err
			}
			out, err := exec.Command(binary, append(args, "--format", "fail2ban", "--socket", s.socket)...).Output()
			if err != nil {
				return fmt.Errorf("logjail %s: %v", strings.Join(args, " "), err)
			}
			if string(out) != want {
				return fmt.Errorf("%s:\nfail2ban-client printed\n%q\nlogjail printed\n%q", strings.Join(args, " "), want, out)
			}
		}
		return nil
	})
}
