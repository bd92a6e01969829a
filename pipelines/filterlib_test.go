package pipelines

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/logjail/logjail/internal/testkit"
)

// fail2banFilterDir holds the filters of the installed fail2ban package.
const fail2banFilterDir = "/etc/fail2ban/filter.d"

// notYetWritten are fail2ban filters without a shipped counterpart yet
// (issue 15, in progress). The test fails for one that is shipped now.
var notYetWritten = []string{
	"3proxy",
	"apache-badbots",
	"apache-botsearch",
	"apache-modsecurity",
	"apache-nohome",
	"apache-noscript",
	"apache-overflows",
	"apache-pass",
	"apache-shellshock",
	"assp",
	"asterisk",
	"bitwarden",
	"centreon",
	"counter-strike",
	"courier-auth",
	"courier-smtp",
	"cyrus-imap",
	"directadmin",
	"domino-smtp",
	"dropbear",
	"drupal-auth",
	"ejabberd-auth",
	"exim-spam",
	"exim",
	"freeswitch",
	"froxlor-auth",
	"gitlab",
	"grafana",
	"groupoffice",
	"gssftpd",
	"guacamole",
	"haproxy-http-auth",
	"horde",
	"kerio",
	"lighttpd-auth",
	"mongodb-auth",
	"monit",
	"monitorix",
	"mssql-auth",
	"murmur",
	"mysqld-auth",
	"nagios",
	"named-refused",
	"nginx-bad-request",
	"nsd",
	"openhab",
	"openwebmail",
	"oracleims",
	"pam-generic",
	"perdition",
	"php-url-fopen",
	"phpmyadmin-syslog",
	"portsentry",
	"proftpd",
	"pure-ftpd",
	"qmail",
	"roundcube-auth",
	"scanlogd",
	"screensharingd",
	"selinux-ssh",
	"sieve",
	"slapd",
	"softethervpn",
	"sogo-auth",
	"solid-pop3d",
	"squid",
	"squirrelmail",
	"stunnel",
	"suhosin",
	"tine20",
	"traefik-auth",
	"uwimap-auth",
	"webmin-auth",
	"wuftpd",
	"xinetd-fail",
	"znc-adminlog",
	"zoneminder",
}

// TestEveryFail2banFilterHasACounterpart requires, for every filter the
// installed fail2ban ships (its *-common.conf includes aside), a shipped
// filter of the same name or a reason in LeftOut.
func TestEveryFail2banFilterHasACounterpart(t *testing.T) {
	testkit.NeedFile(t, fail2banFilterDir, "fail2ban")
	confs, err := filepath.Glob(filepath.Join(fail2banFilterDir, "*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	shippedNames := ShippedFilters()
	var theirs []string
	for _, c := range confs {
		name := strings.TrimSuffix(filepath.Base(c), ".conf")
		if name == "common" || strings.HasSuffix(name, "-common") {
			continue
		}
		theirs = append(theirs, name)
		shipped := slices.Contains(shippedNames, name)
		_, left := LeftOut[name]
		pending := slices.Contains(notYetWritten, name)
		switch {
		case shipped && (left || pending):
			t.Errorf("%s is shipped: remove it from LeftOut / notYetWritten", name)
		case left && pending:
			t.Errorf("%s is both left out and not yet written", name)
		case !shipped && !left && !pending:
			t.Errorf("fail2ban's filter %s has no shipped counterpart: write filters/%s.yaml, or say in LeftOut why not", name, name)
		}
	}
	if len(theirs) < 80 {
		t.Fatalf("only %d filters in %s", len(theirs), fail2banFilterDir)
	}
	for name := range LeftOut {
		if !slices.Contains(theirs, name) {
			t.Errorf("LeftOut names %s, which fail2ban does not ship", name)
		}
	}
	for _, name := range notYetWritten {
		if !slices.Contains(theirs, name) {
			t.Errorf("notYetWritten names %s, which fail2ban does not ship", name)
		}
	}
	t.Logf("%d of fail2ban's %d filters shipped, %d left out, %d not yet written", len(theirs)-len(LeftOut)-len(notYetWritten), len(theirs), len(LeftOut), len(notYetWritten))
}
