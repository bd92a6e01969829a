package pipelines

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/logjail/logjail/enforce/mail"
	"github.com/logjail/logjail/match/fail2ban"
)

// ImportFail2ban reads a fail2ban configuration (jail.conf, jail.d/*.conf,
// jail.local, jail.d/*.local under dir) and writes logjail YAML for its
// enabled jails. Whatever it cannot translate is a warning naming the jail
// (or [DEFAULT]) and the option; the YAML it returns passes Load wherever
// it is written, since every path in it is absolute.
func ImportFail2ban(dir string) (yamlText string, warnings []string, err error) {
	// The YAML is read from elsewhere: a relative dir would be taken
	// relative to the YAML's own folder.
	if dir, err = filepath.Abs(dir); err != nil {
		return "", nil, err
	}
	jails, err := fail2ban.LoadJails(dir)
	if err != nil {
		return "", nil, err
	}
	imp := &importer{jails: jails, dir: dir}
	var writers []*jailWriter
	for _, name := range jails.Enabled() {
		w := &jailWriter{importer: imp, name: name}
		if !pipelineName.MatchString(name) {
			w.warn("", "its name is not a valid pipeline name; skipped")
			continue
		}
		w.filterName, w.filterArgs, w.filterErr = w.filterRef()
		writers = append(writers, w)
	}
	// A recidive jail follows the bans of every other imported pipeline;
	// alone, it has none to follow (and only a lone jail is left out here,
	// so no other recidive jail follows it).
	var names []string
	for _, w := range writers {
		names = append(names, w.name)
	}
	writers = slices.DeleteFunc(writers, func(w *jailWriter) bool {
		if w.filterName != "recidive" {
			return false
		}
		w.follow = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == w.name })
		if len(w.follow) == 0 {
			w.warn("", "a recidive jail, but no other jail is imported, so there are no bans to follow; skipped")
			return true
		}
		return false
	})

	bodies := make([]string, len(writers))
	for i, w := range writers {
		bodies[i] = w.write()
	}
	defaults := commonDefaults(writers)

	var b strings.Builder
	fmt.Fprintf(&b, "# Imported from %s by logjail import-fail2ban.\n", dir)
	fmt.Fprintf(&b, "# Filters are read from fail2ban's files at run time; nothing of them is copied.\n")
	if len(defaults) > 0 {
		b.WriteString("defaults:                # fail2ban's [DEFAULT]\n")
		for _, s := range defaults {
			fmt.Fprintf(&b, "  %s: %s\n", s.key, s.value)
		}
	}
	b.WriteString("pipelines:\n")
	if len(jails.Enabled()) == 0 {
		imp.notes = append(imp.notes, note{msg: "no enabled jail"})
	} else if len(writers) == 0 {
		imp.notes = append(imp.notes, note{msg: "no jail imported"})
	}
	for i, w := range writers {
		b.WriteString(w.finish(bodies[i], defaults))
	}
	return b.String(), imp.warnings(), nil
}

// importer holds what the jails of one import share: the configuration and
// the warnings, gathered so that one about [DEFAULT] is given once.
type importer struct {
	jails *fail2ban.Jails
	dir   string
	notes []note
}

// note is one warning: about a jail's own option, or about a [DEFAULT]
// option (inherited), which is reported once for all the jails it affects.
type note struct {
	jail, option string
	where        string // " (file:line)" or ""
	inherited    bool
	msg          string
}

// warnings renders the notes in order of first appearance; identical notes
// about a [DEFAULT] option become one that lists its jails.
func (imp *importer) warnings() []string {
	var out []string
	index := map[string]int{}
	jailsOf := map[string][]string{}
	for _, n := range imp.notes {
		switch {
		case n.jail == "":
			out = append(out, n.msg)
		case !n.inherited:
			opt := ""
			if n.option != "" {
				opt = " " + n.option + n.where + ":"
			}
			out = append(out, fmt.Sprintf("jail %s:%s %s", n.jail, opt, n.msg))
		default:
			key := fmt.Sprintf("[DEFAULT] %s%s: %s", n.option, n.where, n.msg)
			if _, seen := index[key]; !seen {
				index[key] = len(out)
				out = append(out, key)
			}
			if !slices.Contains(jailsOf[key], n.jail) {
				jailsOf[key] = append(jailsOf[key], n.jail)
			}
		}
	}
	for key, i := range index {
		word := "jails"
		if len(jailsOf[key]) == 1 {
			word = "jail"
		}
		out[i] = fmt.Sprintf("%s (%s %s)", key, word, strings.Join(jailsOf[key], ", "))
	}
	return out
}

// jailWriter translates one jail.
type jailWriter struct {
	*importer
	name    string
	handled []string // options translated or deliberately left out

	filterName string            // the filter's name, e.g. sshd
	filterArgs map[string]string // its arguments
	filterErr  error
	follow     []string // for a recidive jail: the pipelines whose bans it counts

	policy []setting
}

// setting is one policy key of a pipeline as flow YAML. inherited: the
// jail takes it from [DEFAULT] rather than setting it itself.
type setting struct {
	key, value string
	inherited  bool
}

// builtinValues are Load's values of the policy keys when neither the
// pipeline nor defaults set them (fail2ban's own defaults, or "none").
var builtinValues = map[string]string{
	"maxretry":          strconv.Itoa(DefaultMaxRetry),
	"findtime":          FormatDuration(DefaultFindTime),
	"bantime":           FormatDuration(DefaultBanTime),
	"ignoreip":          "[]",
	"ignoreself":        "true",
	"ignorecommand":     `""`,
	"bantime_increment": "null",
}

// alwaysDefault are the keys a [DEFAULT] value is written for even when it
// equals the built-in value, as a reminder of the policy in force.
var alwaysDefault = []string{"maxretry", "findtime", "bantime"}

// commonDefaults gathers the defaults block: each policy key that the jails
// inheriting it from [DEFAULT] all translate alike. A key whose [DEFAULT]
// value means something else per jail (through %(__name__)s, say) stays
// in each pipeline.
func commonDefaults(writers []*jailWriter) []setting {
	var out []setting
	if len(writers) == 0 {
		return nil
	}
	for _, s := range writers[0].policy {
		var value string
		any, agree := false, true
		for _, w := range writers {
			ws := w.setting(s.key)
			if !ws.inherited {
				continue
			}
			if !any {
				value, any = ws.value, true
			} else if ws.value != value {
				agree = false
			}
		}
		if any && agree && (value != builtinValues[s.key] || slices.Contains(alwaysDefault, s.key)) {
			out = append(out, setting{key: s.key, value: value})
		}
	}
	return out
}

func (w *jailWriter) setting(key string) setting {
	for _, s := range w.policy {
		if s.key == key {
			return s
		}
	}
	return setting{key: key, value: builtinValues[key]}
}

// warn records a warning about option ("" for the jail as a whole).
func (w *jailWriter) warn(option, format string, args ...any) {
	where := ""
	if option != "" {
		if pos, ok := w.jails.Where(w.name, option); ok {
			where = " (" + pos.String() + ")"
		}
	}
	w.notes = append(w.notes, note{jail: w.name, option: option, where: where, inherited: option != "" && w.inherited(option), msg: fmt.Sprintf(format, args...)})
}

// inherited tells whether the jail takes option from [DEFAULT] rather than
// setting it in its own section. bantime.increment stands for all the
// bantime.* options.
func (w *jailWriter) inherited(option string) bool {
	own := w.jails.Config().Options(w.name)
	if option == "bantime.increment" {
		if slices.ContainsFunc(own, func(o string) bool { return strings.HasPrefix(o, "bantime.") }) {
			return false
		}
	} else if slices.Contains(own, option) {
		return false
	}
	_, ok := w.jails.Where(w.name, option)
	return ok
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

// filterRef reads the jail's filter option: the filter's name and
// arguments (fail2ban's default is the jail's name).
func (w *jailWriter) filterRef() (string, map[string]string, error) {
	ref, _ := w.get("filter")
	if ref == "" {
		ref = w.name
	}
	return fail2ban.ParseRef(ref)
}

// increment translates fail2ban's bantime.* options into a
// bantime_increment value, checked as Load checks it; one logjail cannot
// read is warned about and the value is null (off).
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
		return "null"
	}
	var parts []string
	for _, kv := range [][2]string{{"factor", inc.Factor.S}, {"formula", inc.Formula.S}, {"maxtime", inc.MaxTime.S}, {"rndtime", inc.RndTime.S}, {"multipliers", opt("multipliers")}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+": "+quote(kv[1]))
		}
	}
	if inc.OverallJails {
		parts = append(parts, "overalljails: true")
	}
	return "{" + strings.Join(parts, ", ") + "}" // {}: on, with fail2ban's defaults
}

// write translates the jail: its source, filter, policy (kept in w.policy
// for finish) and enforcers, in that order.
func (w *jailWriter) write() string {
	var b strings.Builder
	b.WriteString("    ingest:\n")
	b.WriteString(w.ingest())
	b.WriteString(w.match())
	w.policy = w.readPolicy()
	b.WriteString("\x00") // where finish puts the policy keys
	b.WriteString(w.enforce())
	for _, o := range fail2banOwnOptions(w.jails, w.name) {
		if !slices.Contains(w.handled, o) && !slices.Contains(quietOptions, o) {
			w.warn(o, "not translated")
		}
	}
	return b.String()
}

// finish lays out the pipeline, with the policy keys whose value is not
// what defaults (or Load's built-in values) give already.
func (w *jailWriter) finish(body string, defaults []setting) string {
	var p strings.Builder
	for _, s := range w.policy {
		base := builtinValues[s.key]
		if i := slices.IndexFunc(defaults, func(d setting) bool { return d.key == s.key }); i >= 0 {
			base = defaults[i].value
		}
		if s.value != base {
			fmt.Fprintf(&p, "    %s: %s\n", s.key, s.value)
		}
	}
	return fmt.Sprintf("  %s:\n    enabled: true\n", w.name) + strings.Replace(body, "\x00", p.String(), 1)
}

// ingest translates the jail's source: the bans of the other pipelines for
// a recidive jail, the journal for backend = systemd[...], else the log
// files.
func (w *jailWriter) ingest() string {
	backendRef, _ := w.get("backend")
	// journalmatch is the journal's (and the filter's, with the jail's
	// added); a file source has no use for it.
	w.handled = append(w.handled, "journalmatch")
	if w.filterName == "recidive" {
		w.handled = append(w.handled, "logpath")
		// fail2ban's recidive reads fail2ban's own log, which stops
		// growing once fail2ban is gone; logjail hands its pipelines' ban
		// decisions to a bans source instead.
		return fmt.Sprintf("      - bans: {pipelines: [%s]}\n", quoteList(w.follow))
	}
	backend, args, err := fail2ban.ParseRef(backendRef)
	if err != nil {
		w.warn("backend", "%v; the log files are followed", err)
		backend = ""
	}
	filter, ferr := w.jails.Filter(w.name)
	if ferr != nil {
		w.warn("filter", "cannot be read: %v", ferr)
	}
	switch strings.ToLower(backend) {
	case "systemd":
		w.handled = append(w.handled, "logpath")
		return w.journal(filter, args)
	case "", "auto", "polling", "pyinotify", "gamin":
	default:
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
	return fmt.Sprintf("      - file: {paths: [%s]}\n", quoteList(paths))
}

// journal translates backend = systemd[...]: the filter's journalmatch,
// and the journal fail2ban's arguments name (journalfiles, journalpath,
// namespace) instead of the system journal.
func (w *jailWriter) journal(filter *fail2ban.Filter, args map[string]string) string {
	var terms []string
	if filter != nil {
		terms = filter.JournalMatch
	}
	if len(terms) == 0 {
		w.warn("backend", "systemd without a journalmatch in the filter: the whole journal is read")
	}
	parts := []string{"match: [" + quoteList(terms) + "]"}
	var where []string // what names the journal, for the exclusion check
	if v, ok := args["journalfiles"]; ok {
		if files := w.journalFiles(v); len(files) > 0 {
			parts = append(parts, "files: ["+quoteList(files)+"]")
			where = append(where, "journalfiles")
		} else {
			w.warn("backend", "journalfiles=%q: no journal file left; the system journal is read, as fail2ban does", v)
		}
	}
	if v, ok := args["journalpath"]; ok {
		switch {
		case !filepath.IsAbs(v):
			w.warn("backend", "journalpath=%q is not absolute; left out", v)
		case len(where) > 0:
			w.warn("backend", "journalpath=%q: logjail reads journalfiles or journalpath, not both; journalfiles is used", v)
		default:
			parts = append(parts, "directory: "+quote(filepath.Clean(v)))
			where = append(where, "journalpath")
		}
	}
	if v, ok := args["namespace"]; ok && v != "" {
		if len(where) > 0 {
			w.warn("backend", "namespace=%q: logjail reads one of journalfiles, journalpath and namespace; %s is used", v, where[0])
		} else {
			parts = append(parts, "namespace: "+quote(v))
		}
	}
	if v, ok := args["journalflags"]; ok {
		w.warn("backend", "journalflags=%s is not translated: logjail opens the journal as journalctl does (local, system and user journals), or the files or directory given", v)
	}
	for _, k := range sortedKeys(args) {
		switch k {
		case "journalfiles", "journalpath", "namespace", "journalflags":
		default:
			w.warn("backend", "systemd argument %s=%q is not translated", k, args[k])
		}
	}
	return fmt.Sprintf("      - journald: {%s}\n", strings.Join(parts, ", "))
}

// journalFiles reads fail2ban's journalfiles: paths or glob patterns,
// separated by spaces, commas or new lines. fail2ban expands the patterns
// each time the jail starts; the import expands them now.
func (w *jailWriter) journalFiles(v string) []string {
	var files []string
	for _, p := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' || r == '\n' }) {
		if !filepath.IsAbs(p) {
			w.warn("backend", "journalfiles: %q is not absolute; left out", p)
			continue
		}
		if !strings.ContainsAny(p, "*?[") {
			files = append(files, filepath.Clean(p))
			continue
		}
		m, err := filepath.Glob(p)
		if err != nil || len(m) == 0 {
			w.warn("backend", "journalfiles: %q matches no file now; left out", p)
			continue
		}
		w.warn("backend", "journalfiles: %q is expanded now to %d files; fail2ban expands it at each start, so import again when the files change (or use journalpath=)", p, len(m))
		files = append(files, m...)
	}
	slices.Sort(files)
	return slices.Compact(files)
}

// match translates the filter: a reference to fail2ban's own file, with its
// arguments, or the shipped recidive filter for a recidive jail.
func (w *jailWriter) match() string {
	if w.filterErr != nil {
		w.warn("filter", "%v", w.filterErr)
	}
	var b strings.Builder
	if w.filterName == "recidive" {
		// The bans source hands over decisions already recognised; the
		// shipped recidive filter reads logjail's own log, as fail2ban's
		// reads fail2ban's.
		// jail.conf passes mode to every filter; fail2ban's recidive has none.
		if len(w.filterArgs) > 1 || (len(w.filterArgs) == 1 && w.filterArgs["mode"] == "") {
			w.warn("filter", "arguments of fail2ban's recidive filter are not imported; the shipped recidive filter counts the bans of the pipelines listed")
		}
		b.WriteString("    match:\n      filter: recidive\n")
	} else {
		path := filepath.Join(w.dir, "filter.d", w.filterName+".conf")
		var argText []string
		for _, k := range sortedKeys(w.filterArgs) {
			argText = append(argText, k+"="+w.filterArgs[k])
		}
		if len(argText) > 0 {
			path += "[" + strings.Join(argText, ", ") + "]"
		}
		fmt.Fprintf(&b, "    match:\n      fail2ban: %s\n", quote(path))
	}
	for _, o := range []string{"failregex", "ignoreregex", "prefregex", "datepattern", "maxlines", "journalmatch"} {
		if _, set := w.jails.Where(w.name, o); set && !slices.Contains(w.handled, o) {
			w.warn(o, "set for the jail; logjail reads the filter file only, so this override is not imported")
		}
		w.handled = append(w.handled, o)
	}
	return b.String()
}

// readPolicy translates the policy options, each to its value as flow
// YAML (Load's built-in value when unset or unreadable).
func (w *jailWriter) readPolicy() []setting {
	var out []setting
	add := func(key, option, value string) {
		out = append(out, setting{key: key, value: value, inherited: w.inherited(option)})
	}

	maxretry := builtinValues["maxretry"]
	if v, ok := w.get("maxretry"); ok {
		if n, err := strconv.Atoi(v); err == nil && n >= 1 && n <= maxMaxRetry {
			maxretry = strconv.Itoa(n)
		} else {
			w.warn("maxretry", "%q is not a count from 1 to %d; %s is used", v, maxMaxRetry, maxretry)
		}
	}
	add("maxretry", "maxretry", maxretry)
	for _, o := range []string{"findtime", "bantime"} {
		value := builtinValues[o]
		if v, ok := w.get(o); ok {
			d, err := ParseDuration(v)
			switch {
			case err != nil || (o == "findtime" && d == Permanent):
				w.warn(o, "%q: not a duration logjail reads; %s is used", v, value)
			case d == Permanent:
				value = "-1"
			default:
				value = FormatDuration(d)
			}
		}
		add(o, o, value)
	}

	var ignore []string
	if v, ok := w.get("ignoreip"); ok {
		for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' || r == '\n' || r == '\t' }) {
			if _, err := parsePrefix(f); err != nil {
				// A host name is kept when it resolves here: logjail
				// resolves it at load, as fail2ban does, and refuses one
				// that does not.
				if !resolves(f) {
					w.warn("ignoreip", "%q is neither an address, a CIDR nor a host name that resolves here; left out", f)
					continue
				}
			}
			ignore = append(ignore, f)
		}
	}
	add("ignoreip", "ignoreip", "["+quoteList(ignore)+"]")
	self := "true"
	if v, ok := w.get("ignoreself"); ok && !fail2ban.ParseBool(v) {
		self = "false"
	}
	add("ignoreself", "ignoreself", self)
	command := `""`
	if v, ok := w.get("ignorecommand"); ok && v != "" {
		// logjail runs it without a shell; a command that needs one is
		// left out rather than run differently.
		if _, err := ignoreArgv(v); err != nil {
			w.warn("ignorecommand", "%q cannot run here: %v; left out", v, err)
		} else {
			command = quote(v)
		}
	}
	add("ignorecommand", "ignorecommand", command)

	for _, o := range w.jails.Options(w.name) {
		if strings.HasPrefix(o, "bantime.") {
			w.handled = append(w.handled, o)
		}
	}
	increment := "null"
	if v, _ := w.jails.Get(w.name, "bantime.increment"); fail2ban.ParseBool(v) {
		increment = w.increment()
	}
	add("bantime_increment", "bantime.increment", increment)
	return out
}

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
	cfg := MailSpec{To: to, From: from, SMTP: MailSMTPSpec{Addr: mailSMTPAddr, TLS: "none"}, Whois: kind.whois, Lines: kind.lines}
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

// resolves reports whether name is a host name that resolves on this host,
// as Load will require of it.
func resolves(name string) bool {
	if !isHostName(name) {
		return false
	}
	addrs, err := lookupHost(name)
	return err == nil && len(addrs) > 0
}
