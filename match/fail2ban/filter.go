package fail2ban

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Filter is a fail2ban filter definition with every %(name)s and <name>
// resolved, except fail2ban's regex tags (<HOST>, <ADDR>, <F-USER>...,
// <SKIPLINES>), which are left for the regex compiler.
type Filter struct {
	Path        string   // the .conf read (or the first file, if there is no .conf)
	Files       []string // every file merged, in order (includes, .local, NAME.d/)
	Prefregex   string   // raw, fail2ban/Python regex syntax, regex tags unexpanded
	Failregex   []string // one per line of the multi-line value, empty lines dropped
	Ignoreregex []string
	Datepattern string // raw value, "" if unset
	MaxLines    int    // maxlines, default 1
	// JournalMatch is journalmatch split into words as fail2ban does; its
	// lines are alternatives, joined here by "+" as in journalctl.
	JournalMatch []string
	Values       map[string]string // every resolved [Definition]+[Init] value, for diagnostics
	Warnings     []string          // problems fail2ban tolerates (it logs and goes on)
}

// filterOptNames are the [Definition] options fail2ban's FilterReader
// reads, in its order.
var filterOptNames = []string{"usedns", "prefregex", "ignoreregex", "failregex", "maxlines", "datepattern", "journalmatch"}

// LoadFilter reads a filter (for example /etc/fail2ban/filter.d/sshd.conf;
// the .local name or no extension work too) with its includes, its .local
// and its NAME.d/ drop-ins, applies the arguments (as in
// sshd[mode=aggressive]: they override [Init] and are visible to %(name)s)
// and resolves every value, as fail2ban does for a jail with the default
// backend (so logtype is "file" unless an argument or the filter sets it).
// See Jails.Filter for a filter as a particular jail uses it.
func LoadFilter(path string, args map[string]string) (*Filter, error) {
	r, err := newFilterReader(path, args)
	if err != nil {
		return nil, err
	}
	r.applyAutoOptions("auto")
	if err := r.getOptions(nil, true); err != nil {
		return nil, err
	}
	comb, err := r.getCombined()
	if err != nil {
		return nil, err
	}
	return r.build(comb, comb)
}

// filterReader mirrors fail2ban's FilterReader: the state it keeps between
// getOptions calls matters for jails, which call it twice.
type filterReader struct {
	path     string
	cfg      *Config
	initOpts *options // arguments, logtype, then [Init] (and known/...)
	pOpts    *options // the variables of the last getOptions call
	opts     *options // [Definition] values of the last getOptions call
	tagCache map[string]cachedTag
	all      *options // for jails: the combined values of the first reading
}

type cachedTag struct {
	value string
	pos   Pos
	found bool
}

func newFilterReader(path string, args map[string]string) (*filterReader, error) {
	base := filepath.Clean(path)
	for _, ext := range []string{".conf", ".local"} {
		base = strings.TrimSuffix(base, ext)
	}
	cfg, err := ReadConfig(base)
	if err != nil {
		return nil, err
	}
	if !cfg.HasSection("Definition") {
		return nil, &Error{Pos: Pos{File: cfg.files[len(cfg.files)-1]}, Msg: "no [Definition] section (not a filter?)"}
	}
	r := &filterReader{path: base + ".conf", cfg: cfg, initOpts: newOptions(), tagCache: map[string]cachedTag{}}
	if _, err := os.Stat(r.path); err != nil {
		r.path = cfg.files[0]
	}
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r.initOpts.set(k, entry{value: args[k], pos: Pos{File: argFile}})
	}
	return r, nil
}

// applyAutoOptions sets logtype from the backend unless an argument or the
// filter's own [Definition] sets it.
func (r *filterReader) applyAutoOptions(backend string) {
	if r.initOpts.vals["logtype"].value != "" {
		return
	}
	if _, ok := r.cfg.sections["Definition"].get("logtype"); ok {
		return
	}
	lt := "file"
	if strings.HasPrefix(backend, "systemd") {
		lt = "journal"
	}
	r.initOpts.set("logtype", entry{value: lt, pos: Pos{File: builtinFile}})
}

// getOptions reads the [Definition] options with pOpts (and the arguments)
// as variables, then [Init]; with all, every other [Definition] and
// [DEFAULT] option too.
func (r *filterReader) getOptions(pOpts *options, all bool) error {
	if pOpts == nil {
		pOpts = newOptions()
	}
	pOpts = pOpts.merged(r.initOpts)
	vars := lowerVars(pOpts)
	r.pOpts = pOpts
	r.opts = newOptions()
	for _, name := range filterOptNames {
		if pOpts.has(name) {
			continue
		}
		v, pos, err := r.cfg.get("Definition", name, vars)
		if errors.Is(err, ErrNoOption) {
			continue
		}
		if err != nil {
			return err
		}
		r.opts.set(name, entry{value: v, pos: pos})
	}
	if r.cfg.HasSection("Init") {
		for _, opt := range r.cfg.Options("Init") {
			v, pos, err := r.cfg.get("Init", opt, nil)
			if err != nil {
				return err
			}
			e := entry{value: v, pos: pos}
			if !strings.HasPrefix(opt, "known/") {
				r.initOpts.set("known/"+opt, e)
			}
			if !r.initOpts.has(opt) {
				r.initOpts.set(opt, e)
			}
		}
	}
	if all {
		for _, opt := range r.cfg.optionsWithDefaults("Definition") {
			if r.opts.has(opt) {
				continue
			}
			v, pos, err := r.cfg.get("Definition", opt, nil)
			if err != nil {
				return err
			}
			r.opts.set(opt, entry{value: v, pos: pos})
		}
	}
	return nil
}

// getCombined merges the [Definition] values with the [Init] ones and the
// arguments, and substitutes <name> tags.
func (r *filterReader) getCombined() (*options, error) {
	comb := r.opts.merged(r.initOpts)
	ignore := map[string]bool{}
	for _, k := range comb.keys {
		if m := conditionalRE.FindStringSubmatch(k); m != nil {
			ignore[m[1]] = true
		}
	}
	vars := lowerVars(r.pOpts)
	return substituteTags(comb, ignore, func(name string) (string, bool, error) {
		if c, ok := r.tagCache[name]; ok {
			return c.value, c.found, nil
		}
		v, pos, found, err := r.cfg.getEx("Definition", name, vars)
		if err != nil {
			return "", false, err
		}
		r.tagCache[name] = cachedTag{value: v, pos: pos, found: found}
		return v, found, nil
	})
}

func lowerVars(o *options) map[string]entry {
	out := make(map[string]entry, len(o.keys))
	for _, k := range o.keys {
		out[strings.ToLower(k)] = o.vals[k]
	}
	return out
}

// build makes the Filter from the combined options; values holds what
// Values reports.
func (r *filterReader) build(comb, values *options) (*Filter, error) {
	f := &Filter{Path: r.path, Files: r.cfg.Files(), MaxLines: 1, Values: map[string]string{}}
	for _, k := range values.keys {
		f.Values[k] = values.vals[k].value
	}
	for _, k := range comb.keys {
		f.Values[k] = comb.vals[k].value
	}
	if err := f.set(comb); err != nil {
		return nil, err
	}
	return f, nil
}

// set applies the filter options present in o.
func (f *Filter) set(o *options) error {
	if e, ok := o.vals["prefregex"]; ok {
		f.Prefregex = e.value
	}
	if e, ok := o.vals["failregex"]; ok {
		f.Failregex = regexLines(e.value)
	}
	if e, ok := o.vals["ignoreregex"]; ok {
		f.Ignoreregex = regexLines(e.value)
	}
	if e, ok := o.vals["datepattern"]; ok {
		f.Datepattern = e.value
	}
	if e, ok := o.vals["maxlines"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(e.value))
		if err != nil {
			f.Warnings = append(f.Warnings, fmt.Sprintf("%s: maxlines: %q is not an integer, using 1", e.pos, e.value))
		}
		f.MaxLines = max(n, 1)
	}
	if e, ok := o.vals["journalmatch"]; ok {
		f.JournalMatch = nil
		for _, line := range strings.Split(e.value, "\n") {
			if line == "" {
				continue
			}
			words, err := ShellSplit(line)
			if err != nil {
				return &Error{Pos: e.pos, Key: "journalmatch", Msg: err.Error()}
			}
			if len(f.JournalMatch) > 0 && len(words) > 0 {
				f.JournalMatch = append(f.JournalMatch, "+")
			}
			f.JournalMatch = append(f.JournalMatch, words...)
		}
	}
	return nil
}

func regexLines(v string) []string {
	var out []string
	for _, l := range strings.Split(v, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}
