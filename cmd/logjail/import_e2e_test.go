package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
)

// installedFail2ban copies the installed /etc/fail2ban to dir/fail2ban.
func installedFail2ban(t *testing.T, dir string) string {
	t.Helper()
	testkit.NeedFile(t, "/etc/fail2ban/jail.conf", "fail2ban")
	to := filepath.Join(dir, "fail2ban")
	if out, err := exec.Command("cp", "-r", "/etc/fail2ban", to).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	return to
}

// A fail2ban configuration with sshd on journal files and recidive, as an
// operator moves it: `logjail import-fail2ban fail2ban` run in /etc (a
// relative DIR), the YAML saved elsewhere and validated from yet another
// directory; then logjail runs it, reads the journal file, bans, and the
// recidive pipeline bans the address again from sshd's ban decision, with
// fail2ban's files removed.
func TestImportFail2banRuns(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	etc, out, elsewhere, jdir := filepath.Join(root, "etc"), filepath.Join(root, "out"), filepath.Join(root, "elsewhere"), filepath.Join(root, "journal")
	for _, d := range []string{etc, out, elsewhere, jdir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f2b := installedFail2ban(t, etc)
	w := &journalWriter{path: filepath.Join(jdir, "sshd.journal")}
	w.write(t, "sshd.service", "Server listening on 0.0.0.0 port 22.")
	local, err := os.ReadFile("testdata/import-fail2ban/jail.local")
	if err != nil {
		t.Fatal(err)
	}
	writeConfig(t, filepath.Join(f2b, "jail.local"), strings.ReplaceAll(string(local), "@JOURNAL@", w.path))

	imp := exec.Command(binary, "import-fail2ban", "fail2ban")
	imp.Dir = etc
	var stderr strings.Builder
	imp.Stderr = &stderr
	yamlText, err := imp.Output()
	if err != nil {
		t.Fatalf("logjail import-fail2ban: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{
		`journald: {match: ["_SYSTEMD_UNIT=ssh.service", "+", "_SYSTEMD_UNIT=sshd.service", "+", "_COMM=sshd", "+", "_COMM=sshd-session"], files: ["` + w.path + `"]}`,
		"filter: sshd\n      mode: normal\n",
		`bans: {pipelines: ["sshd"]}`,
		"filter: recidive",
	} {
		if !strings.Contains(string(yamlText), want) {
			t.Errorf("the imported YAML lacks %s:\n%s", want, yamlText)
		}
	}
	if strings.Contains(string(yamlText), "fail2ban.log") {
		t.Errorf("recidive still reads fail2ban's log:\n%s", yamlText)
	}
	config := filepath.Join(out, "imported.yaml")
	writeConfig(t, config, string(yamlText))
	// The jails' filters are logjail's own: the configuration runs with
	// fail2ban's files gone, as after purging its package.
	if err := os.RemoveAll(f2b); err != nil {
		t.Fatal(err)
	}

	val := exec.Command(binary, "validate", "--config", "../out/imported.yaml")
	val.Dir = elsewhere
	vout, err := val.CombinedOutput()
	if err != nil || !strings.Contains(string(vout), "OK (2 pipelines, enabled: recidive, sshd)") {
		t.Fatalf("logjail validate: %v\n%s\nof:\n%s", err, vout, yamlText)
	}

	s := newSetup(t, "")
	writeConfig(t, s.config, string(yamlText))
	s.pipeline = "sshd"
	s.warm = func(t testing.TB) { w.write(t, "sshd.service", "Server listening on :: port 22.") }
	s.start(t, nil)
	w.write(t, "sshd.service", failureMessages("203.0.113.7", 2)...)
	waitBanOf(t, 10*time.Second, s.socket, "sshd", "203.0.113.7")
	waitBanOf(t, 10*time.Second, s.socket, "recidive", "203.0.113.7")
}
