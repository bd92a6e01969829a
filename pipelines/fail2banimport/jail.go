package fail2banimport

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/logjail/logjail/match/fail2ban"
	"github.com/logjail/logjail/pipelines"
)

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
	var filter *fail2ban.Filter
	if w.filterName != "" {
		var ferr error
		if filter, ferr = w.jails.Filter(w.name); ferr != nil {
			w.warn("filter", "cannot be read: %v", ferr)
		}
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
	if n := w.nativeFilter(); n.why == "" && len(n.info.JournalMatch) > 0 {
		if _, set := w.jails.Where(w.name, "journalmatch"); !set {
			terms = n.info.JournalMatch
		}
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
		b.WriteString("    match:\n      # fail2ban's recidive reads fail2ban's log; logjail's counts the bans of the\n      # pipelines its bans source follows.\n      filter: recidive\n")
	} else if w.filterName == "" && w.filterErr == nil {
		b.WriteString(w.ownRegexes())
	} else if n := w.nativeFilter(); n.why == "" {
		b.WriteString(n.match())
	} else {
		path := filepath.Join(w.dir, "filter.d", w.filterName+".conf")
		fmt.Fprintf(&b, "    match:\n      # fail2ban's filter file is kept: %s.\n", n.why)
		var argText []string
		for _, k := range sortedKeys(w.filterArgs) {
			argText = append(argText, k+"="+w.filterArgs[k])
		}
		if len(argText) > 0 {
			path += "[" + strings.Join(argText, ", ") + "]"
		}
		fmt.Fprintf(&b, "      fail2ban: %s\n", quote(path))
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
		if n, err := strconv.Atoi(v); err == nil && n >= 1 && n <= pipelines.MaxRetryLimit {
			maxretry = strconv.Itoa(n)
		} else {
			w.warn("maxretry", "%q is not a count from 1 to %d; %s is used", v, pipelines.MaxRetryLimit, maxretry)
		}
	}
	add("maxretry", "maxretry", maxretry)
	for _, o := range []string{"findtime", "bantime"} {
		value := builtinValues[o]
		if v, ok := w.get(o); ok {
			d, err := pipelines.ParseDuration(v)
			switch {
			case err != nil || (o == "findtime" && d == pipelines.Permanent):
				w.warn(o, "%q: not a duration logjail reads; %s is used", v, value)
			case d == pipelines.Permanent:
				value = "-1"
			default:
				value = pipelines.FormatDuration(d)
			}
		}
		add(o, o, value)
	}

	var ignore []string
	if v, ok := w.get("ignoreip"); ok {
		for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' || r == '\n' || r == '\t' }) {
			if err := pipelines.CheckAddress(f); err != nil {
				// A host name is kept when it resolves here: logjail
				// resolves it at load, as fail2ban does, and refuses one
				// that does not.
				if !pipelines.HostResolves(f) {
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
		if err := pipelines.CheckIgnoreCommand(v); err != nil {
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
