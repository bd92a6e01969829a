package pipelines

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/logjail/logjail/match/fail2ban"
)

// ImportFail2ban reads a fail2ban configuration (jail.conf, jail.d/*.conf,
// jail.local, jail.d/*.local under dir) and writes logjail YAML for its
// enabled jails. Whatever it cannot translate is a warning naming the jail
// and the option; the YAML it returns passes Load.
func ImportFail2ban(dir string) (yamlText string, warnings []string, err error) {
	jails, err := fail2ban.LoadJails(dir)
	if err != nil {
		return "", nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Imported from %s by logjail import-fail2ban.\n", dir)
	fmt.Fprintf(&b, "# Filters are read from fail2ban's files at run time; nothing of them is copied.\n")
	b.WriteString("pipelines:\n")
	enabled := jails.Enabled()
	if len(enabled) == 0 {
		warnings = append(warnings, "no enabled jail")
	}
	for _, name := range enabled {
		w := &jailWriter{jails: jails, name: name, dir: dir}
		if !pipelineName.MatchString(name) {
			warnings = append(warnings, fmt.Sprintf("jail %s: its name is not a valid pipeline name; skipped", name))
			continue
		}
		text := w.write()
		warnings = append(warnings, w.warnings...)
		b.WriteString(text)
	}
	return b.String(), warnings, nil
}

// jailWriter translates one jail.
type jailWriter struct {
	jails    *fail2ban.Jails
	name     string
	dir      string
	warnings []string
	handled  []string // options translated or deliberately left out
}

func (w *jailWriter) warn(option, format string, args ...any) {
	where := ""
	if pos, ok := w.jails.Where(w.name, option); ok {
		where = " (" + pos.String() + ")"
	}
	w.warnings = append(w.warnings, fmt.Sprintf("jail %s: %s%s: %s", w.name, option, where, fmt.Sprintf(format, args...)))
}

func (w *jailWriter) get(option string) (string, bool) {
	w.handled = append(w.handled, option)
	v, ok := w.jails.Get(w.name, option)
	return strings.TrimSpace(v), ok
}

// options fail2ban jails commonly carry that need no translation: they
// feed the filter or action templates, which are resolved on the fail2ban
// side, or they match logjail's behaviour already.
var quietOptions = []string{
	"enabled", "mode", "chain", "usedns", "logencoding", "protocol", "port",
	"banaction_allports", "action_", "action_mw", "action_mwl", "action_xarf",
	"action_cf_mwl", "action_blocklist_de", "action_abuseipdb", "mta", "destemail",
	"sender", "sendername", "fail2ban_agent", "ignorecache", "before", "after",
	"filter", "logtimezone", "maxmatches", "dbpurgeage",
	"__name__",
}

// increment translates fail2ban's bantime.* options into a
// bantime_increment block, checked as Load checks it; one logjail cannot
// read is warned about and the block left out.
func (w *jailWriter) increment() string {
	opt := func(o string) string {
		v, _ := w.jails.Get(w.name, "bantime."+o)
		return strings.TrimSpace(v)
	}
	inc := &IncrementSpec{Factor: Text{S: opt("factor")}, Formula: Text{S: opt("formula")}, MaxTime: Text{S: opt("maxtime")}, RndTime: Text{S: opt("rndtime")}, OverallJails: fail2ban.ParseBool(opt("overalljails"))}
	if m := opt("multipliers"); m != "" {
		inc.Multipliers = []Text{{S: m}}
	}
	check := validator{decoder: &decoder{}}
	check.increment("bantime_increment", inc)
	if len(check.errs) > 0 {
		for _, err := range check.errs {
			w.warn("bantime.increment", "%v; bans are not incremented", err)
		}
		return ""
	}
	var b strings.Builder
	for _, kv := range [][2]string{{"factor", inc.Factor.S}, {"formula", inc.Formula.S}, {"maxtime", inc.MaxTime.S}, {"rndtime", inc.RndTime.S}, {"multipliers", opt("multipliers")}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, "      %s: %s\n", kv[0], quote(kv[1]))
		}
	}
	if inc.OverallJails {
		b.WriteString("      overalljails: true\n")
	}
	if b.Len() == 0 {
		return "    bantime_increment: {}\n" // on, with fail2ban's defaults
	}
	return "    bantime_increment:\n" + b.String()
}

func (w *jailWriter) write() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %s:\n    enabled: true\n", w.name)

	// Source: the journal for backend = systemd, else the log files.
	backend, _ := w.get("backend")
	filter, ferr := w.jails.Filter(w.name)
	if ferr != nil {
		w.warn("filter", "cannot be read: %v", ferr)
	}
	b.WriteString("    ingest:\n")
	if strings.HasPrefix(backend, "systemd") {
		var terms []string
		if filter != nil {
			terms = filter.JournalMatch
		}
		if len(terms) == 0 {
			w.warn("backend", "systemd without a journalmatch in the filter: the whole journal is read")
		}
		fmt.Fprintf(&b, "      - journald: {match: [%s]}\n", quoteList(terms))
		w.handled = append(w.handled, "logpath", "journalmatch")
	} else {
		if backend != "" && backend != "auto" && backend != "polling" && backend != "pyinotify" && backend != "gamin" {
			w.warn("backend", "%q is not known; the log files are followed", backend)
		}
		logpath, _ := w.get("logpath")
		var paths []string
		for _, f := range strings.Fields(logpath) {
			switch f {
			case "head", "tail":
				continue // fail2ban's start position hint; logjail starts at the end, then resumes
			}
			if !filepath.IsAbs(f) {
				w.warn("logpath", "%q is not absolute; left out", f)
				continue
			}
			paths = append(paths, f)
		}
		if len(paths) == 0 {
			w.warn("logpath", "no log file; the pipeline gets a placeholder path that never exists")
			paths = []string{"/var/log/" + w.name + ".log"}
		}
		fmt.Fprintf(&b, "      - file: {paths: [%s]}\n", quoteList(paths))
	}

	// Filter: a reference to fail2ban's own file, with its arguments.
	ref, _ := w.get("filter")
	if ref == "" {
		ref = w.name
	}
	fname, args, err := fail2ban.ParseRef(ref)
	if err != nil {
		w.warn("filter", "%v", err)
	}
	path := filepath.Join(w.dir, "filter.d", fname+".conf")
	var argText []string
	for _, k := range sortedKeys(args) {
		argText = append(argText, k+"="+args[k])
	}
	if len(argText) > 0 {
		path += "[" + strings.Join(argText, ", ") + "]"
	}
	fmt.Fprintf(&b, "    match:\n      fail2ban: %s\n", quote(path))
	for _, o := range []string{"failregex", "ignoreregex", "prefregex", "datepattern", "maxlines", "journalmatch"} {
		if ownOption(w.jails, w.name, o) && !slices.Contains(w.handled, o) {
			w.warn(o, "set in the jail; logjail reads the filter file only, so this override is not imported")
		}
		w.handled = append(w.handled, o)
	}

	// Policy.
	if v, ok := w.get("maxretry"); ok {
		if n, err := strconv.Atoi(v); err == nil && n >= 1 && n <= maxMaxRetry {
			fmt.Fprintf(&b, "    maxretry: %d\n", n)
		} else {
			w.warn("maxretry", "%q is not a count from 1 to %d; the default is used", v, maxMaxRetry)
		}
	}
	for _, o := range []string{"findtime", "bantime"} {
		v, ok := w.get(o)
		if !ok {
			continue
		}
		d, err := ParseDuration(v)
		if err != nil || (o == "findtime" && d == Permanent) {
			w.warn(o, "%q: not a duration logjail reads; the default is used", v)
			continue
		}
		if d == Permanent {
			fmt.Fprintf(&b, "    %s: -1\n", o)
		} else {
			fmt.Fprintf(&b, "    %s: %s\n", o, FormatDuration(d))
		}
	}
	if v, ok := w.get("ignoreip"); ok && v != "" {
		var list []string
		for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' || r == '\n' || r == '\t' }) {
			if _, err := parsePrefix(f); err != nil {
				w.warn("ignoreip", "%q is not an address or CIDR (host names are not resolved yet); left out", f)
				continue
			}
			list = append(list, f)
		}
		if len(list) > 0 {
			fmt.Fprintf(&b, "    ignoreip: [%s]\n", quoteList(list))
		}
	}
	if v, ok := w.get("ignoreself"); ok && !fail2ban.ParseBool(v) {
		b.WriteString("    ignoreself: false\n")
	}
	if v, ok := w.get("ignorecommand"); ok && v != "" {
		// logjail runs it without a shell; a command that needs one is
		// left out rather than run differently.
		if _, err := ignoreArgv(v); err != nil {
			w.warn("ignorecommand", "%q cannot run without a shell here (%v); left out", v, err)
		} else {
			fmt.Fprintf(&b, "    ignorecommand: %s\n", quote(v))
		}
	}
	for _, o := range w.jails.Options(w.name) {
		if strings.HasPrefix(o, "bantime.") {
			w.handled = append(w.handled, o)
		}
	}
	if v, _ := w.jails.Get(w.name, "bantime.increment"); fail2ban.ParseBool(v) {
		b.WriteString(w.increment())
	}

	// Enforcement: nftables in place of fail2ban's firewall actions.
	banaction, _ := w.get("banaction")
	action, _ := w.get("action")
	w.handled = append(w.handled, "banaction", "action")
	var mails []string
	for _, a := range fail2ban.SplitRefs(action) {
		an, args, _ := fail2ban.ParseRef(a)
		switch {
		case an == "" || an == banaction || strings.HasPrefix(an, "nftables") || strings.HasPrefix(an, "iptables"):
		case isMailAction(an):
			if m, ok := w.mail(an, args); ok {
				mails = append(mails, m)
			}
		case strings.Contains(an, "mail"):
			w.warn("action", "%s: this mail action is not translated (logjail translates mail[-whois[-lines]] and sendmail[-whois[-lines|-matches]]); left out", an)
		default:
			w.warn("action", "%s: not translated; left out", an)
		}
	}
	if !strings.HasPrefix(banaction, "nftables") && !strings.HasPrefix(banaction, "iptables") {
		w.warn("banaction", "%q: translated to logjail's nftables enforcer", banaction)
	}
	b.WriteString("    enforce:\n")
	nft := []string{}
	if !strings.Contains(banaction, "allports") {
		port, _ := w.jails.Get(w.name, "port")
		ports, all := w.ports(port)
		if !all && len(ports) > 0 {
			nft = append(nft, "ports: ["+quoteList(ports)+"]")
		}
	}
	if proto, _ := w.jails.Get(w.name, "protocol"); proto == "udp" {
		nft = append(nft, "protocol: udp")
	} else if proto != "" && proto != "tcp" {
		w.warn("protocol", "%q: logjail bans tcp or udp ports; tcp is used", proto)
	}
	fmt.Fprintf(&b, "      - nftables: {%s}\n", strings.Join(nft, ", "))
	if len(mails) > 0 {
		b.WriteString("      # fail2ban's mail actions: through the MTA on localhost:25, as a local\n" +
			"      # sendmail cannot deliver under logjail's service unit. fail2ban also\n" +
			"      # mailed when the jail started and stopped: add on: [ban, start, stop].\n")
		for _, m := range mails {
			b.WriteString(m)
		}
	}

	for _, o := range fail2banOwnOptions(w.jails, w.name) {
		if !slices.Contains(w.handled, o) && !slices.Contains(quietOptions, o) {
			w.warn(o, "not translated")
		}
	}
	return b.String()
}

// mailKind is what a fail2ban mail action puts in its mail besides the
// address.
type mailKind struct{ whois, lines bool }

// mailActions are the fail2ban mail actions the mail enforcer covers: the
// mail-* ones pipe into mail(1), the sendmail-* ones into sendmail; both
// end up at the local MTA. *-matches mails the lines that matched, which
// is what logjail's lines are.
var mailActions = map[string]mailKind{
	"mail":                   {},
	"sendmail":               {},
	"mail-whois":             {whois: true},
	"sendmail-whois":         {whois: true},
	"mail-whois-lines":       {whois: true, lines: true},
	"sendmail-whois-lines":   {whois: true, lines: true},
	"sendmail-whois-matches": {whois: true, lines: true},
}

func isMailAction(name string) bool {
	_, ok := mailActions[name]
	return ok
}

// mailSMTPAddr is the MTA the imported mail enforcers send through.
const mailSMTPAddr = "localhost:25"

// mail translates one fail2ban mail action (name with its arguments, as
// the jail's action option resolved them) into a mail enforcer entry.
// Recipient and sender are the action's dest and sender arguments (what
// action_mw and action_mwl pass: the jail's destemail and sender), else
// the jail's destemail and sender, else fail2ban's default, root.
func (w *jailWriter) mail(name string, args map[string]string) (string, bool) {
	kind := mailActions[name]
	pick := func(arg, option string) string {
		if v := strings.TrimSpace(args[arg]); v != "" {
			return v
		}
		if v, ok := w.jails.Get(w.name, option); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
		return "root"
	}
	// fail2ban's <fq-hostname> and <sh-hostname> tags, as in jail.conf's
	// sender = root@<fq-hostname>.
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	short, _, _ := strings.Cut(host, ".")
	tags := strings.NewReplacer("<fq-hostname>", host, "<sh-hostname>", short)
	// A bare local part ("root", fail2ban's default) is qualified as the
	// local MTA would qualify it.
	qualify := func(a string) string {
		if !strings.Contains(a, "@") && !strings.ContainsAny(a, "<>") {
			return a + "@" + host
		}
		return a
	}
	var to []string
	for _, d := range strings.FieldsFunc(tags.Replace(pick("dest", "destemail")), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		to = append(to, qualify(d))
	}
	from := qualify(tags.Replace(pick("sender", "sender")))
	if n := strings.TrimSpace(args["sendername"]); n != "" && !strings.ContainsAny(n, "<>\"\\") {
		from = n + " <" + from + ">"
	}
	cfg := MailSpec{To: to, From: from, SMTP: MailSMTPSpec{Addr: mailSMTPAddr, TLS: "none"}, Whois: kind.whois, Lines: kind.lines}
	if _, err := cfg.Build(nil); err != nil {
		w.warn("action", "%s: %v; left out", name, err)
		return "", false
	}
	var b strings.Builder
	fmt.Fprintf(&b, "      - mail: {to: [%s], from: %s, smtp: {addr: %s, tls: none}", quoteList(to), quote(from), quote(mailSMTPAddr))
	if kind.whois {
		b.WriteString(", whois: true")
	}
	if kind.lines {
		b.WriteString(", lines: true")
	}
	b.WriteString("}\n")
	return b.String(), true
}

// ports translates fail2ban's port option ("ssh", "http,https",
// "8000:8100", "0:65535"); all reports every port.
func (w *jailWriter) ports(v string) (ports []string, all bool) {
	for _, p := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
		lo, hi, isRange := strings.Cut(p, ":")
		if !isRange {
			ports = append(ports, p)
			continue
		}
		l, err1 := strconv.Atoi(lo)
		h, err2 := strconv.Atoi(hi)
		switch {
		case err1 != nil || err2 != nil || l > h:
			w.warn("port", "%q: not a port range; left out", p)
		case l <= 1 && h >= 65535:
			return nil, true
		case h-l+1 > maxPorts:
			w.warn("port", "%q: more than %d ports; all ports are banned instead", p, maxPorts)
			return nil, true
		default:
			for n := max(l, 1); n <= h; n++ {
				ports = append(ports, strconv.Itoa(n))
			}
		}
	}
	return ports, false
}

// fail2banOwnOptions lists the options set in the jail's own section.
func fail2banOwnOptions(j *fail2ban.Jails, jail string) []string {
	return j.Config().Options(jail)
}

func ownOption(j *fail2ban.Jails, jail, option string) bool {
	return slices.Contains(j.Config().Options(jail), option)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func quoteList(items []string) string {
	out := make([]string, len(items))
	for i, s := range items {
		out[i] = quote(s)
	}
	return strings.Join(out, ", ")
}

// quote writes a YAML double-quoted scalar.
func quote(s string) string { return strconv.Quote(s) }
