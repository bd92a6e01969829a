// Package fail2banimport translates a fail2ban configuration (jail.conf,
// jail.local, jail.d) into logjail YAML: `logjail import-fail2ban`.
package fail2banimport

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/logjail/logjail/ingest/keyerr"
	"github.com/logjail/logjail/match/fail2ban"
	"github.com/logjail/logjail/pipelines"
)

// Import reads a fail2ban configuration (jail.conf, jail.d/*.conf,
// jail.local, jail.d/*.local under dir) and writes logjail YAML for its
// enabled jails. Whatever it cannot translate is a warning naming the jail
// (or [DEFAULT]) and the option; the YAML it returns passes Load wherever
// it is written, since every path in it is absolute.
func Import(dir string) (yamlText string, warnings []string, err error) {
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
		if !pipelines.ValidPipelineName(name) {
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
	fmt.Fprintf(&b, "# A jail whose filter logjail ships (unchanged, in a mode and with arguments it offers)\n# runs logjail's own filter; the others read fail2ban's filter files at run time (nothing\n# of them is copied).\n")
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
	native     native   // the choice of logjail's filter (nativeFilter)
	follow     []string // for a recidive jail: the pipelines whose bans it counts
	// disabled says why the pipeline is written disabled ("" when not).
	disabled string

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
	"maxretry":          strconv.Itoa(pipelines.DefaultMaxRetry),
	"findtime":          pipelines.FormatDuration(pipelines.DefaultFindTime),
	"bantime":           pipelines.FormatDuration(pipelines.DefaultBanTime),
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
	ref, set := w.get("filter")
	if set && ref == "" {
		return "", nil, nil // "filter =": the jail's own regexes are the filter
	}
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
	inc := &pipelines.IncrementSpec{Factor: pipelines.Text{S: opt("factor")}, Formula: pipelines.Text{S: opt("formula")}, MaxTime: pipelines.Text{S: opt("maxtime")}, RndTime: pipelines.Text{S: opt("rndtime")}, OverallJails: fail2ban.ParseBool(opt("overalljails"))}
	if m := opt("multipliers"); m != "" {
		inc.Multipliers = []pipelines.Text{{S: m}}
	}
	if err := pipelines.CheckIncrement(*inc); err != nil {
		for _, err := range keyerr.Each(err) {
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
	enabled := "    enabled: true\n"
	if w.disabled != "" {
		enabled = fmt.Sprintf("    # Disabled: %s.\n    enabled: false\n", w.disabled)
	}
	return fmt.Sprintf("  %s:\n", w.name) + enabled + strings.Replace(body, "\x00", p.String(), 1)
}

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
