package fail2ban

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Fail2banVersion is the fail2ban release whose semantics this package
// follows; jails see it as %(fail2ban_version)s.
const Fail2banVersion = "1.0.2"

// Jails is a fail2ban jail configuration: jail.conf, jail.d/*.conf,
// jail.local and jail.d/*.local (with their includes) merged in that order.
// Every section but [INCLUDES] is a jail, as fail2ban sees it.
type Jails struct {
	Dir string // the configuration directory, e.g. /etc/fail2ban
	cfg *Config

	mu    sync.Mutex
	known map[string]map[string]entry // per jail, see filterKnown
}

// LoadJails reads the jail configuration under dir (e.g. /etc/fail2ban).
func LoadJails(dir string) (*Jails, error) {
	dir = filepath.Clean(dir)
	cfg, err := ReadConfig(filepath.Join(dir, "jail"))
	if err != nil {
		return nil, err
	}
	// fail2ban adds these before it interpolates anything.
	cfg.setDefault("fail2ban_version", Fail2banVersion)
	cfg.setDefault("fail2ban_confpath", dir)
	return &Jails{Dir: dir, cfg: cfg}, nil
}

// Config is the merged configuration, for lower-level access.
func (j *Jails) Config() *Config { return j.cfg }

// Files lists the files read, in merge order.
func (j *Jails) Files() []string { return j.cfg.Files() }

// Names lists the jails in order of first appearance.
func (j *Jails) Names() []string {
	var out []string
	for _, n := range j.cfg.Sections() {
		if n != includesSection {
			out = append(out, n)
		}
	}
	return out
}

func (j *Jails) isJail(name string) bool {
	return name != includesSection && !strings.HasPrefix(name, knownPrefix) && j.cfg.HasSection(name)
}

func (j *Jails) noJail(name string) error {
	return &Error{Msg: fmt.Sprintf("no jail [%s]", name), Err: ErrNoSection}
}

// Value returns a jail's option (falling back to [DEFAULT]) with %(name)s
// references resolved. As in fail2ban, the jail's filter is read first
// (except for enabled, backend and filter themselves), and %(known/name)s
// names the filter's value of name if it has one. The error wraps
// ErrNoSection or ErrNoOption if the jail or the option does not exist.
func (j *Jails) Value(jail, option string) (string, error) {
	if !j.isJail(jail) {
		return "", j.noJail(jail)
	}
	var vars map[string]entry
	switch strings.ToLower(option) {
	case "enabled", "backend", "filter":
	default:
		vars = j.filterKnown(jail)
	}
	v, _, err := j.cfg.get(jail, option, vars)
	return v, err
}

// filterKnown returns the jail's filter values as known/NAME variables (nil
// if the jail has no filter or it cannot be read), cached.
func (j *Jails) filterKnown(jail string) map[string]entry {
	j.mu.Lock()
	defer j.mu.Unlock()
	if k, ok := j.known[jail]; ok {
		return k
	}
	var vars map[string]entry
	if _, known, _, err := j.readFilter(jail); err == nil && known != nil {
		vars = lowerVars(known)
	}
	if j.known == nil {
		j.known = map[string]map[string]entry{}
	}
	j.known[jail] = vars
	return vars
}

// Get is Value without the error: ok is false if the option is unset or
// cannot be resolved.
func (j *Jails) Get(jail, option string) (string, bool) {
	v, err := j.Value(jail, option)
	return v, err == nil
}

// Where tells where a jail's option was set (in the jail's section or in
// [DEFAULT]): the file and line of the value that wins.
func (j *Jails) Where(jail, option string) (Pos, bool) {
	if !j.isJail(jail) {
		return Pos{}, false
	}
	_, pos, ok := j.cfg.Raw(jail, option)
	return pos, ok
}

// Options lists a jail's options: its own, then the [DEFAULT] ones it
// inherits.
func (j *Jails) Options(jail string) []string {
	if !j.isJail(jail) {
		return nil
	}
	return j.cfg.optionsWithDefaults(jail)
}

// IsEnabled reports whether the jail's "enabled" is true by fail2ban's
// rules (1, on, true or yes, in any case); unset means false.
func (j *Jails) IsEnabled(jail string) (bool, error) {
	v, err := j.Value(jail, "enabled")
	if errors.Is(err, ErrNoOption) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return ParseBool(v), nil
}

// Enabled lists the enabled jails, in order. A jail whose "enabled" cannot
// be resolved counts as disabled (IsEnabled reports why).
func (j *Jails) Enabled() []string {
	var out []string
	for _, n := range j.Names() {
		if ok, err := j.IsEnabled(n); ok && err == nil {
			out = append(out, n)
		}
	}
	return out
}

// ParseBool is fail2ban's boolean: 1, on, true or yes (in any case) are
// true, anything else false.
func ParseBool(s string) bool {
	switch strings.ToLower(s) {
	case "1", "on", "true", "yes":
		return true
	}
	return false
}

// readFilter does what fail2ban does for a jail before it reads the jail's
// options: it reads the filter with the jail's enabled, backend and filter
// as variables, and returns the reader and the filter's values as
// known/NAME. It returns a nil reader if the jail has no filter.
func (j *Jails) readFilter(jail string) (r *filterReader, known *options, warn []string, err error) {
	first, err := j.jailOptions(jail, jailOpts1st, nil, &warn)
	if err != nil {
		return nil, nil, nil, err
	}
	ref := first.vals["filter"]
	if strings.TrimSpace(ref.value) == "" {
		return nil, nil, warn, nil
	}
	name, args, err := ParseRef(ref.value)
	if err != nil {
		return nil, nil, nil, &Error{Pos: ref.pos, Key: "filter", Msg: err.Error()}
	}
	r, err = newFilterReader(filepath.Join(j.Dir, "filter.d", name), args)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("jail [%s]: filter %q: %w", jail, name, err)
	}
	r.applyAutoOptions(first.vals["backend"].value)
	if err := r.getOptions(first, true); err != nil {
		return nil, nil, nil, err
	}
	if r.all, err = r.getCombined(); err != nil {
		return nil, nil, nil, err
	}
	known = newOptions()
	for _, k := range r.all.keys {
		if !strings.HasPrefix(k, "known/") {
			known.set("known/"+k, r.all.vals[k])
		}
	}
	return r, known, warn, nil
}

type optType int

const (
	optString optType = iota
	optBool
	optInt
)

type jailOpt struct {
	name string
	typ  optType
	def  *string // value when unset; nil: absent
}

func str(s string) *string { return &s }

// jailOpts1st and jailOptsAll are the options fail2ban's JailReader reads
// before and after it reads the filter.
var (
	jailOpts1st = []jailOpt{
		{"enabled", optBool, str("False")},
		{"backend", optString, str("auto")},
		{"filter", optString, str("")},
	}
	jailOptsAll = []jailOpt{
		{"enabled", optBool, str("False")},
		{"backend", optString, str("auto")},
		{"maxretry", optInt, nil},
		{"maxmatches", optInt, nil},
		{"findtime", optString, nil},
		{"bantime", optString, nil},
		{"bantime.increment", optBool, nil},
		{"bantime.factor", optString, nil},
		{"bantime.formula", optString, nil},
		{"bantime.multipliers", optString, nil},
		{"bantime.maxtime", optString, nil},
		{"bantime.rndtime", optString, nil},
		{"bantime.overalljails", optBool, nil},
		{"ignorecommand", optString, nil},
		{"ignoreself", optBool, nil},
		{"ignoreip", optString, nil},
		{"ignorecache", optString, nil},
		{"filter", optString, str("")},
		{"logtimezone", optString, nil},
		{"logencoding", optString, nil},
		{"logpath", optString, nil},
		{"action", optString, str("")},
		{"usedns", optString, nil},
		{"prefregex", optString, nil},
		{"ignoreregex", optString, nil},
		{"failregex", optString, nil},
		{"maxlines", optInt, nil},
		{"datepattern", optString, nil},
		{"journalmatch", optString, nil},
	}
)

// jailOptions reads options of a jail with vars, converted as fail2ban
// converts them (booleans become "True"/"False"; integers that do not parse
// are dropped, with a warning).
func (j *Jails) jailOptions(jail string, list []jailOpt, vars *options, warn *[]string) (*options, error) {
	var lv map[string]entry
	if vars != nil {
		lv = lowerVars(vars)
	}
	out := newOptions()
	for _, o := range list {
		v, pos, err := j.cfg.get(jail, o.name, lv)
		if errors.Is(err, ErrNoOption) {
			if o.def != nil {
				out.set(o.name, entry{value: *o.def, pos: Pos{File: builtinFile}})
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		switch o.typ {
		case optBool:
			v = map[bool]string{false: "False", true: "True"}[ParseBool(v)]
		case optInt:
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				*warn = append(*warn, fmt.Sprintf("%s: %s: %q is not an integer, ignored", pos, o.name, v))
				continue
			}
			v = strconv.Itoa(n)
		}
		out.set(o.name, entry{value: v, pos: pos})
	}
	return out, nil
}

// addJail applies the filter options set for the jail (or in [DEFAULT]) the
// way fail2ban's server ends up with them: the jail's failregex,
// ignoreregex and journalmatch are added to what the filter still sets
// (fail2ban drops a filter's own value when the jail sets one, unless it
// comes from [Init] or an argument); its datepattern wins; its prefregex,
// maxlines and usedns apply only if the filter sets none (fail2ban sends
// them before the filter's).
func (f *Filter) addJail(jail, filter *options) error {
	for _, k := range filterOptNames {
		e, ok := jail.vals[k]
		if !ok {
			continue
		}
		f.Values[k] = e.value
		switch k {
		case "failregex":
			f.Failregex = append(f.Failregex, regexLines(e.value)...)
		case "ignoreregex":
			f.Ignoreregex = append(f.Ignoreregex, regexLines(e.value)...)
		case "journalmatch":
			prev := f.JournalMatch
			if err := f.set(&options{keys: []string{k}, vals: map[string]entry{k: e}}); err != nil {
				return err
			}
			if len(prev) > 0 && len(f.JournalMatch) > 0 {
				f.JournalMatch = append(append(prev, "+"), f.JournalMatch...)
			} else if len(f.JournalMatch) == 0 {
				f.JournalMatch = prev
			}
		case "datepattern":
			f.Datepattern = e.value
		default: // prefregex, maxlines, usedns
			if filter.has(k) {
				f.Values[k] = filter.vals[k].value
				continue
			}
			if err := f.set(&options{keys: []string{k}, vals: map[string]entry{k: e}}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Filter loads the jail's filter as fail2ban does for a jail: the "filter"
// option names filter.d/NAME under Dir, with arguments (sshd[mode=...]);
// logtype follows the backend (systemd*: journal); jail options are visible
// to the filter's %(name)s; and failregex, ignoreregex, prefregex,
// datepattern, maxlines or journalmatch set for the jail (or in [DEFAULT])
// take the filter's place (see addJail for the details), with
// %(known/failregex)s and the like naming the filter's values. It returns
// nil and no error if the jail has no filter.
func (j *Jails) Filter(jail string) (*Filter, error) {
	if !j.isJail(jail) {
		return nil, j.noJail(jail)
	}
	r, known, warn, err := j.readFilter(jail)
	if r == nil || err != nil {
		return nil, err
	}
	opts, err := j.jailOptions(jail, jailOptsAll, known, &warn)
	if err != nil {
		return nil, err
	}
	if err := r.getOptions(opts, false); err != nil {
		return nil, err
	}
	comb, err := r.getCombined()
	if err != nil {
		return nil, err
	}
	f, err := r.build(comb, r.all)
	if err != nil {
		return nil, err
	}
	if err := f.addJail(opts, comb); err != nil {
		return nil, err
	}
	f.Warnings = append(slices.Clip(warn), f.Warnings...)
	return f, nil
}
