package fail2banimport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logjail/logjail/pipelines"
)

// TestImportUsesShippedFilters: a jail whose filter logjail ships, unchanged
// and in a mode it offers, runs logjail's filter (and its journalmatch),
// and the imported configuration loads with fail2ban gone; every other
// jail keeps fail2ban's file, with the reason in a comment.
func TestImportUsesShippedFilters(t *testing.T) {
	dir := fail2banDir(t)
	jails := `[sshd]
enabled = true
backend = systemd

[ftp]
enabled = true
filter = vsftpd
logpath = /var/log/vsftpd.log
`
	kept := `
[own-regex]
enabled = true
filter = sshd
failregex = ^custom <HOST>$
logpath = /var/log/custom.log

[own-argument]
enabled = true
filter = sshd[mode=aggressive, publickey=any]
logpath = /var/log/auth.log

[googlebot]
enabled = true
filter = apache-fakegooglebot
logpath = /var/log/apache2/access.log

[changed]
enabled = true
filter = nginx-limit-req
logpath = /var/log/nginx/error.log
`
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("jail.local", jails+kept)
	write("filter.d/nginx-limit-req.local", "[Definition]\nngx_limit_req_zones = perip\n")
	text, _, err := Import(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"      filter: sshd\n      mode: normal\n",
		`journald: {match: ["_SYSTEMD_UNIT=ssh.service", "+"`,
		"      filter: vsftpd\n",
		"    match:\n      # fail2ban's filter file is kept: the jail sets failregex for fail2ban's filter.\n      fail2ban: \"" + dir + "/filter.d/sshd.conf\"",
		"# fail2ban's filter file is kept: the filter argument publickey=any has no counterpart in logjail's sshd filter.",
		"# fail2ban's filter file is kept: logjail ships no apache-fakegooglebot filter: it decides by resolving",
		"# fail2ban's filter file is kept: filter.d/nginx-limit-req.local changes fail2ban's nginx-limit-req filter.",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("want %q in:\n%s", want, text)
		}
	}
	loadImported(t, text)

	// Without the kept jails, the import needs nothing of fail2ban's.
	write("jail.local", jails)
	if text, _, err = Import(dir); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text, "fail2ban:") {
		t.Errorf("a fail2ban reference left:\n%s", text)
	}
	cfgPath := filepath.Join(t.TempDir(), "imported.yaml")
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := pipelines.Load(cfgPath); err != nil {
		t.Errorf("the import does not load with fail2ban gone: %v\n%s", err, text)
	}
}
