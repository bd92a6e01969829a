package fail2banimport

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/logjail/logjail/match/fail2ban"
	"github.com/logjail/logjail/pipelines"
)

// regexOptions are the jail options that change what fail2ban's filter
// matches; a jail setting one keeps fail2ban's filter.
var regexOptions = []string{"failregex", "ignoreregex", "prefregex", "datepattern", "maxlines"}

// leftEmpty are, by shipped filter, the arguments whose default is empty
// where fail2ban's filter has one, with why: a jail that sets none is told
// in the imported YAML's comment.
var leftEmpty = map[string]map[string]string{
	// fail2ban's [Init] honeypot = trap@example.com: a placeholder, no
	// one's trap address.
	"exim-spam": {"honeypot": "logjail's exim-spam counts no accepted spam without a trap address of the site's own (args: {honeypot: ADDRESS})"},
}

// native is the import's choice of filter for a jail: logjail's shipped
// filter of the same name, in mode, or (why != "") fail2ban's file.
type native struct {
	decided bool
	info    pipelines.FilterInfo
	mode    string
	// args are the jail's filter arguments the shipped filter declares.
	args map[string]string
	// notes say why the layout options of the jail's filter (logging=,
	// logtype=) are not needed, for the imported YAML's comment.
	notes []string
	why   string
}

// nativeFilter decides whether the jail runs logjail's shipped filter of
// its filter's name instead of fail2ban's file: only when fail2ban's
// filter is the one fail2ban ships, unchanged (no NAME.local, no NAME.d/,
// no regex set for the jail), and its arguments are a mode the shipped
// filter offers and arguments it declares (exim-spam's honeypot), with
// values it takes. Then the imported pipeline runs with fail2ban purged.
func (w *jailWriter) nativeFilter() *native {
	n := &w.native
	if n.decided {
		return n
	}
	n.decided = true
	n.why = w.keepFail2ban()
	return n
}

// keepFail2ban says why the jail keeps fail2ban's filter file ("" when
// logjail's own filter of the name does the same job), and sets the
// shipped filter and mode found.
func (w *jailWriter) keepFail2ban() string {
	name := w.filterName
	infos, err := pipelines.ShippedFilterInfo()
	if err != nil {
		return err.Error()
	}
	i := slices.IndexFunc(infos, func(f pipelines.FilterInfo) bool { return f.Name == name })
	if i < 0 {
		if why, ok := pipelines.LeftOut[name]; ok {
			return "logjail ships no " + name + " filter: " + why
		}
		return "logjail ships no filter named " + name
	}
	w.native.info = infos[i]
	for _, local := range []string{name + ".local", name + ".d"} {
		if _, err := os.Stat(filepath.Join(w.dir, "filter.d", local)); err == nil {
			return fmt.Sprintf("filter.d/%s changes fail2ban's %s filter", local, name)
		}
	}
	for _, o := range regexOptions {
		if _, set := w.jails.Where(w.name, o); set {
			return fmt.Sprintf("the jail sets %s for fail2ban's filter", o)
		}
	}
	args := map[string]string{}
	for _, k := range sortedKeys(w.filterArgs) {
		arg := slices.IndexFunc(w.native.info.Arguments, func(a pipelines.ArgumentInfo) bool { return a.Name == k })
		switch {
		case k == "mode":
		case k == "logtype" || k == "logging":
			why, ok := w.layoutOption(name, k, w.filterArgs[k])
			if !ok {
				return why
			}
			w.native.notes = append(w.native.notes, why)
		case arg >= 0:
			if why := regexValue(w.native.info.Arguments[arg], w.filterArgs[k]); why != "" {
				return why
			}
			args[k] = w.filterArgs[k]
		default:
			return fmt.Sprintf("the filter argument %s=%s has no counterpart in logjail's %s filter", k, w.filterArgs[k], name)
		}
	}
	if err := pipelines.CheckFilterArgs(name, args); err != nil {
		return fmt.Sprintf("logjail's %s filter does not take the jail's value: %v", name, err)
	}
	w.native.args = args
	w.noteLeftEmpty(name, args)
	for k := range args {
		// A jail option of the name fed the argument ("%(knocking_url)s").
		w.handled = append(w.handled, k)
	}
	mode := w.filterArgs["mode"]
	if mode == "" {
		mode = w.native.info.DefaultMode
	}
	if !slices.Contains(w.native.info.Modes, mode) {
		return fmt.Sprintf("logjail's %s filter has no mode %s (it has %s)", name, mode, strings.Join(w.native.info.Modes, ", "))
	}
	w.native.mode = mode
	return ""
}

// noteLeftEmpty notes each argument of leftEmpty the jail does not set
// while fail2ban's filter gives it a value (read from its file, so the note
// quotes the installed default).
func (w *jailWriter) noteLeftEmpty(name string, args map[string]string) {
	for _, arg := range sortedKeys(leftEmpty[name]) {
		if _, set := args[arg]; set {
			continue
		}
		f, err := fail2ban.LoadFilter(filepath.Join(w.dir, "filter.d", name+".conf"), nil)
		if err != nil || f.Values[arg] == "" {
			continue
		}
		w.native.notes = append(w.native.notes, fmt.Sprintf("%s is not set: fail2ban's %s filter defaults to %s=%s, %s", arg, name, arg, f.Values[arg], leftEmpty[name][arg]))
	}
}

// nativeMatch writes the match block of a jail that runs logjail's filter,
// with the jail's filter arguments.
func (n *native) match() string {
	var b strings.Builder
	b.WriteString("    match:\n")
	for _, note := range n.notes {
		fmt.Fprintf(&b, "      # %s.\n", note)
	}
	fmt.Fprintf(&b, "      filter: %s\n", n.info.Name)
	if n.mode != n.info.DefaultMode || len(n.info.Modes) > 1 {
		fmt.Fprintf(&b, "      mode: %s\n", n.mode)
	}
	if len(n.args) > 0 {
		b.WriteString("      args:\n")
		for _, k := range sortedKeys(n.args) {
			fmt.Fprintf(&b, "        %s: %s\n", k, quote(n.args[k]))
		}
	}
	return b.String()
}

// regexValue says why a jail's value for argument a cannot be passed to
// logjail's filter ("" when it can): fail2ban puts an argument's value
// into its regexes as it is, so "login-\w+" names every zone it matches,
// while logjail's filters take a value as literal text unless the
// argument is a regex. A dot passes: read literally it matches the dot,
// which the regex also matches (it only narrows what a dot could be).
func regexValue(a pipelines.ArgumentInfo, value string) string {
	if a.Regex {
		return ""
	}
	meta := `\^$*+?()[]{}|`
	if a.List {
		meta = `\^$*+?()[]{}` // "|" separates the alternatives
	}
	if i := strings.IndexAny(value, meta); i >= 0 {
		return fmt.Sprintf("the jail's %s=%s is a regex in fail2ban (%q), and logjail's %s argument takes literal text", a.Name, value, value[i:i+1], a.Name)
	}
	return ""
}
