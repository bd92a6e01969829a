package fail2banimport

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/logjail/logjail/pipelines"
)

// importedJails run logjail's shipped filters; keptJails keep fail2ban's
// file, each for another reason.
var (
	importedJails = `[sshd]
enabled = true
backend = systemd

[ftp]
enabled = true
filter = vsftpd
logpath = /var/log/vsftpd.log

[exim-trap]
enabled = true
filter = exim-spam[honeypot=trap@example.org]
logpath = /var/log/exim4/mainlog

[knock]
enabled = true
filter = apache-pass[knocking_url=/open-sesame/]
logpath = /var/log/apache2/access.log

[sshd-keys]
enabled = true
filter = sshd[mode=aggressive, publickey=any]
logpath = /var/log/auth.log

[apache-syslog]
enabled = true
filter = apache-auth[logging=syslog]
logpath = /var/log/syslog

[guac]
enabled = true
filter = guacamole[logging=webapp]
logpath = /var/log/tomcat9/catalina.out

[sshd-5424]
enabled = true
filter = sshd[logtype=rfc5424]
logpath = /var/log/remote.log

[sshd-journal]
enabled = true
filter = sshd[logtype=journal]
backend = systemd
`
	keptJails = `
[own-regex]
enabled = true
filter = sshd
failregex = ^custom <HOST>$
logpath = /var/log/custom.log

[own-argument]
enabled = true
filter = sshd[mode=aggressive, publickey=sometimes]
logpath = /var/log/auth.log

[zones-regex]
enabled = true
filter = nginx-limit-req[ngx_limit_req_zones="login-\w+|api"]
logpath = /var/log/nginx/error.log

[zones-named]
enabled = true
filter = nginx-limit-req[ngx_limit_req_zones="perip|login.api"]
logpath = /var/log/nginx/error.log

[googlebot]
enabled = true
filter = apache-fakegooglebot
logpath = /var/log/apache2/access.log

[zm-syslog]
enabled = true
filter = zoneminder[logging=syslog]
logpath = /var/log/syslog

[exim-journal-file]
enabled = true
filter = exim-spam[logtype=short]
logpath = /var/log/exim4/mainlog

[named-5424]
enabled = true
filter = named-refused[logtype=rfc5424]
logpath = /var/log/remote.log

[changed]
enabled = true
filter = dovecot
logpath = /var/log/mail.log
`
)

// TestImportUsesShippedFilters: a jail whose filter logjail ships, unchanged
// and in a mode it offers, runs logjail's filter (and its journalmatch),
// and the imported configuration loads with fail2ban gone; every other
// jail keeps fail2ban's file, with the reason in a comment.
func TestImportUsesShippedFilters(t *testing.T) {
	dir := fail2banDir(t)
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("jail.local", importedJails+keptJails)
	write("filter.d/dovecot.local", "[Definition]\nfailregex = ^custom <HOST>$\n")
	text, _, err := Import(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"      filter: sshd\n      mode: normal\n",
		`journald: {match: ["_SYSTEMD_UNIT=ssh.service", "+"`,
		"      filter: vsftpd\n",
		"      filter: exim-spam\n      args:\n        honeypot: \"trap@example.org\"\n",
		"      filter: apache-pass\n      args:\n        knocking_url: \"/open-sesame/\"\n",
		"    match:\n      # fail2ban's filter file is kept: the jail sets failregex for fail2ban's filter.\n      fail2ban: \"" + dir + "/filter.d/sshd.conf\"",
		"      filter: sshd\n      mode: aggressive\n      args:\n        publickey: \"any\"\n",
		"# fail2ban's filter file is kept: logjail's sshd filter does not take the jail's value: argument publickey: \"sometimes\" is not one of any, ignore, invalid, nofail.",
		"# fail2ban's filter file is kept: logjail ships no apache-fakegooglebot filter: it decides by resolving",
		"# fail2ban's filter file is kept: the jail's ngx_limit_req_zones=login-\\w+|api is a regex in fail2ban (\"\\\\\"), and logjail's ngx_limit_req_zones argument takes literal text.",
		"      filter: nginx-limit-req\n      args:\n        ngx_limit_req_zones: \"perip|login.api\"\n",
		"      # logging=syslog is not needed: logjail's apache-auth filter reads that layout without being told.\n      filter: apache-auth\n",
		"      # logging=webapp is not needed: logjail's guacamole filter reads that layout without being told.\n      filter: guacamole\n",
		"      # logtype=rfc5424 is not needed: logjail's sshd filter reads that layout without being told.\n      filter: sshd\n",
		"      # logtype=journal is not needed: the journald source lays each entry out as HOST TAG[PID]: MESSAGE itself, which logjail's sshd filter reads.\n      filter: sshd\n",
		"# fail2ban's filter file is kept: logjail's zoneminder filter is not checked on the layout logging=syslog chooses.",
		"# fail2ban's filter file is kept: logtype=short names a log file of journal lines without dates, which logjail's exim-spam filter is not checked on.",
		"# fail2ban's filter file is kept: logjail's named-refused filter is not checked on the layout logtype=rfc5424 chooses.",
		"# fail2ban's filter file is kept: filter.d/dovecot.local changes fail2ban's dovecot filter.",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("want %q in:\n%s", want, text)
		}
	}
	loadImported(t, text)

	// Without the kept jails, the import needs nothing of fail2ban's.
	write("jail.local", importedJails)
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

// TestImportPassesFilterArguments: a jail's filter arguments that the
// shipped filter declares go to its match.args; an argument it does not
// declare, or a value it does not take, keeps fail2ban's filter file.
func TestImportPassesFilterArguments(t *testing.T) {
	dir := fail2banDir(t)
	for _, tc := range []struct {
		jail, filter string
		want         string // in the jail's match block
		wantRule     string // in the loaded pipeline's failregexes ("" for a kept one)
	}{
		{"trap", "exim-spam[honeypot=trap@example.org]",
			"      filter: exim-spam\n      args:\n        honeypot: \"trap@example.org\"\n", `trap@example\.org`},
		{"trap-file", "exim-spam[honeypot=trap@example.org, logtype=file]",
			"      filter: exim-spam\n      args:\n        honeypot: \"trap@example.org\"\n", `trap@example\.org`},
		{"knock", "apache-pass[knocking_url=/open-sesame/]",
			"      filter: apache-pass\n      args:\n        knocking_url: \"/open-sesame/\"\n", `/open-sesame/`},
		{"zones", `nginx-limit-req[ngx_limit_req_zones="perip|login"]`,
			"      filter: nginx-limit-req\n      args:\n        ngx_limit_req_zones: \"perip|login\"\n", `(?:perip|login)`},
		{"zones-bad", `nginx-limit-req[ngx_limit_req_zones="per ip"]`,
			"# fail2ban's filter file is kept: logjail's nginx-limit-req filter does not take the jail's value: argument ngx_limit_req_zones: \"per ip\" does not match", ""},
		// jail.conf's own: filter = apache-pass[knocking_url="%(knocking_url)s"].
		{"pass2allow-ftp", "\nknocking_url = /open-sesame/",
			"      filter: apache-pass\n      args:\n        knocking_url: \"/open-sesame/\"\n", `/open-sesame/`},
		{"webroot", "apache-botsearch[webroot=/srv/site/]",
			"      filter: apache-botsearch\n      args:\n        webroot: \"/srv/site/\"\n", `/srv/site/`},
		{"block-tag", "nginx-botsearch[block=<webmail>|cgi-bin]",
			"# fail2ban's filter file is kept: logjail's nginx-botsearch filter does not take the jail's value: argument block: \"<webmail>|cgi-bin\" holds", ""},
		{"unknown", "exim-spam[honeypot=trap@example.org, other=1]",
			"# fail2ban's filter file is kept: the filter argument other=1 has no counterpart in logjail's exim-spam filter.", ""},
		{"hostile", "exim-spam[honeypot=<HOST>@x]",
			"# fail2ban's filter file is kept: logjail's exim-spam filter does not take the jail's value: argument honeypot: \"<HOST>@x\" does not match", ""},
	} {
		t.Run(tc.jail, func(t *testing.T) {
			jail := "[" + tc.jail + "]\nenabled = true\nfilter = " + tc.filter + "\nlogpath = /var/log/x.log\n"
			if rest, ok := strings.CutPrefix(tc.filter, "\n"); ok { // jail.conf's filter, and options
				jail = "[" + tc.jail + "]\nenabled = true\n" + rest + "\nlogpath = /var/log/x.log\n"
			}
			if err := os.WriteFile(filepath.Join(dir, "jail.local"), []byte(jail), 0o644); err != nil {
				t.Fatal(err)
			}
			text, warnings, err := Import(dir)
			if err != nil {
				t.Fatal(err)
			}
			if w := fmt.Sprint(warnings); strings.Contains(w, "knocking_url") {
				t.Errorf("a warning about the argument: %s", w)
			}
			if !strings.Contains(text, tc.want) {
				t.Fatalf("want %q in:\n%s", tc.want, text)
			}
			if tc.wantRule == "" {
				return
			}
			if strings.Contains(text, "fail2ban:") {
				t.Errorf("a fail2ban reference left:\n%s", text)
			}
			p := loadImported(t, text)[tc.jail]
			if p == nil || !slices.ContainsFunc(p.Plan.Rules.Failregex, func(re string) bool { return strings.Contains(re, tc.wantRule) }) {
				t.Errorf("no failregex with %q in the imported pipeline", tc.wantRule)
			}
		})
	}
}

// TestImportNotesArgumentsLeftEmpty: a jail that leaves out an argument
// whose default fail2ban's filter sets and logjail's leaves empty is told
// so in the imported YAML, with fail2ban's installed default; a jail that
// sets it is not.
func TestImportNotesArgumentsLeftEmpty(t *testing.T) {
	dir := fail2banDir(t)
	const note = "      # honeypot is not set: fail2ban's exim-spam filter defaults to honeypot=trap@example.com, logjail's exim-spam counts no accepted spam without a trap address of the site's own (args: {honeypot: ADDRESS}).\n      filter: exim-spam\n"
	for _, tc := range []struct {
		name, filter string
		want         bool
	}{
		{"default", "exim-spam", true},
		{"mode only", "exim-spam[mode=normal]", true},
		{"trap set", "exim-spam[honeypot=trap@example.org]", false},
		{"other filter", "vsftpd", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jail := "[spam]\nenabled = true\nfilter = " + tc.filter + "\nlogpath = /var/log/x.log\n"
			if err := os.WriteFile(filepath.Join(dir, "jail.local"), []byte(jail), 0o644); err != nil {
				t.Fatal(err)
			}
			text, _, err := Import(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(text, note); got != tc.want {
				t.Errorf("note %v, want %v:\n%s", got, tc.want, text)
			}
			if strings.Contains(text, "fail2ban:") {
				t.Errorf("a fail2ban reference left:\n%s", text)
			}
		})
	}
}
