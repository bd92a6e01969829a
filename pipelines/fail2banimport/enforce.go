package fail2banimport

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/logjail/logjail/enforce/mail"
	"github.com/logjail/logjail/match/fail2ban"
	"github.com/logjail/logjail/pipelines"
)

// enforce translates the actions: nftables in place of fail2ban's firewall
// actions, and the mail actions.
func (w *jailWriter) enforce() string {
	var b strings.Builder
	banaction, _ := w.get("banaction")
	action, _ := w.get("action")
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
	cfg := pipelines.MailSpec{To: to, From: from, SMTP: pipelines.MailSMTPSpec{Addr: mailSMTPAddr, TLS: "none"}, Whois: kind.whois, Lines: kind.lines}
	if err := mail.Validate(cfg.Config()); err != nil {
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
		case h-l+1 > pipelines.MaxPorts:
			w.warn("port", "%q: more than %d ports; all ports are banned instead", p, pipelines.MaxPorts)
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
