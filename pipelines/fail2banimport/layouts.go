package fail2banimport

import (
	"fmt"
	"strings"

	"github.com/logjail/logjail/match/fail2ban"
)

// layoutsRead are, by shipped filter and fail2ban filter option, the
// values of the options that only choose a log layout (apache-common's and
// guacamole's logging=, common.conf's logtype=) whose layout the shipped
// filter reads without being told. Each value's layout has a counted line,
// marked "# layout: OPTION=VALUE", in the filter's sample log
// (TestLayoutsReadAreInTheSamples). A value not listed keeps fail2ban's
// filter file. logtype=file, fail2ban's default (the program's own file,
// or syslog's), is read by every shipped filter, and logtype=journal or
// short by those listed here with a journald source (see layoutOption).
var layoutsRead = map[string]map[string][]string{
	// Apache's error log as its own file writes it (logfile) and as
	// ErrorLog syslog writes it (syslog; all is both).
	"apache-auth":        {"logging": {"logfile", "syslog", "all"}},
	"apache-botsearch":   {"logging": {"logfile", "syslog", "all"}},
	"apache-modsecurity": {"logging": {"logfile", "syslog", "all"}},
	"apache-nohome":      {"logging": {"logfile", "syslog", "all"}},
	"apache-noscript":    {"logging": {"logfile", "syslog", "all"}},
	"apache-overflows":   {"logging": {"logfile", "syslog", "all"}},
	"apache-shellshock":  {"logging": {"logfile", "syslog", "all"}},
	// ZoneMinder's lines in Apache's own error log only.
	"zoneminder": {"logging": {"logfile"}},
	// Tomcat's catalina.out (java.util.logging) and the web application's
	// logback layout.
	"guacamole": {"logging": {"catalina", "webapp"}},
	// rsyslog's RFC 5424 frame in a file (logtype=rfc5424), and the journal.
	"sshd":          {"logtype": {"rfc5424", "journal", "short"}},
	"znc-adminlog":  {"logtype": {"journal", "short"}},
	"murmur":        {"logtype": {"journal", "short"}},
	"named-refused": {"logtype": {"journal", "short"}},
	"mysqld-auth":   {"logtype": {"journal", "short"}},
	"asterisk":      {"logtype": {"journal", "short"}},
}

// layoutOption says whether the shipped filter name reads the layout that
// fail2ban's filter option key=value chooses: ok, with why for the
// imported YAML's comment, or not ok, with why fail2ban's file is kept.
func (w *jailWriter) layoutOption(name, key, value string) (why string, ok bool) {
	value = strings.ToLower(strings.TrimSpace(value))
	read := func() bool {
		for _, v := range layoutsRead[name][key] {
			if v == value {
				return true
			}
		}
		return false
	}
	switch {
	case key == "logtype" && value == "file":
		return "logtype=file is fail2ban's default layout, the one the shipped filter is written for", true
	case key == "logtype" && (value == "journal" || value == "short") && !w.readsJournal():
		return fmt.Sprintf("logtype=%s names a log file of journal lines without dates, which logjail's %s filter is not checked on", value, name), false
	case key == "logtype" && (value == "journal" || value == "short") && read():
		return fmt.Sprintf("logtype=%s is not needed: the journald source lays each entry out as HOST TAG[PID]: MESSAGE itself, which logjail's %s filter reads", value, name), true
	case read():
		return fmt.Sprintf("%s=%s is not needed: logjail's %s filter reads that layout without being told", key, value, name), true
	}
	return fmt.Sprintf("logjail's %s filter is not checked on the layout %s=%s chooses", name, key, value), false
}

// readsJournal tells whether the jail's source is the journal (backend =
// systemd).
func (w *jailWriter) readsJournal() bool {
	ref, _ := w.get("backend")
	backend, _, err := fail2ban.ParseRef(ref)
	return err == nil && strings.EqualFold(backend, "systemd")
}
