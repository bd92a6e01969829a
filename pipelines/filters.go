package pipelines

import (
	"cmp"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/logjail/logjail/ingest/keyerr"

	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/match/fail2ban"
	"github.com/logjail/logjail/match/filter"
)

// shipped holds the filters written for logjail (pipelines/filters/*.yaml).
//
//go:embed filters/*.yaml
var shipped embed.FS

// ShippedFilters lists the names of the filters built into logjail.
func ShippedFilters() []string {
	entries, _ := shipped.ReadDir("filters")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	return names
}

// shippedAliases are other names of shipped filters in a mode: fail2ban's
// postfix filter does several jobs, one per mode, as logjail's does; its
// auth mode was shipped as postfix-sasl first.
// A filter file of the alias's name in the configuration's filters/ folder
// wins, as for any shipped filter.
var shippedAliases = map[string]struct{ name, mode string }{
	"postfix-sasl": {"postfix", "auth"},
}

// ShippedAlias tells which shipped filter, in which mode, alias names.
func ShippedAlias(alias string) (name, mode string, ok bool) {
	to, ok := shippedAliases[alias]
	return to.name, to.mode, ok
}

// FilterRef is a filter reference with arguments: "sshd[mode=aggressive]".
type FilterRef struct {
	Name string
	Args map[string]string
}

// journalTerm is one term of a journal match: a journal field (upper-case
// letters, digits, underscores) and its value, or "+" between alternatives.
var journalTerm = regexp.MustCompile(`^(?:[A-Z0-9_]+=.*|\+)$`)

var filterRef = regexp.MustCompile(`^([^\[\]]+)(?:\[(.*)\])?$`)

// ParseFilterRef splits "name[key=value, key=value]".
func ParseFilterRef(s string) (FilterRef, error) {
	m := filterRef.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return FilterRef{}, fmt.Errorf("invalid filter reference %q (want NAME or NAME[key=value,...])", s)
	}
	ref := FilterRef{Name: m[1], Args: map[string]string{}}
	if strings.TrimSpace(m[2]) == "" {
		return ref, nil
	}
	for _, kv := range strings.Split(m[2], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return FilterRef{}, fmt.Errorf("invalid filter argument %q in %q (want key=value)", kv, s)
		}
		ref.Args[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
	}
	return ref, nil
}

// loadFilter reads a filter by name or path: a path (with a "/" or ending in
// .yaml) is read as is (relative to dir); a name is looked up in dir/filters/
// and then among the shipped filters.
func (d *decoder) loadFilter(dir, name string) (*FilterFile, error) {
	var data []byte
	var file string
	var err error
	if strings.Contains(name, "/") || strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") {
		file = name
		if !filepath.IsAbs(file) {
			file = filepath.Join(dir, file)
		}
		data, err = readConfigFile(file)
	} else {
		file = filepath.Join(dir, "filters", name+".yaml")
		data, err = readConfigFile(file)
		if errors.Is(err, os.ErrNotExist) {
			f, err := d.loadShipped(name)
			if errors.Is(err, errNotShipped) {
				return nil, fmt.Errorf("unknown filter %q (`logjail filters` lists the %d shipped ones; or a file %s)", name, len(ShippedFilters()), file)
			}
			return f, err
		}
	}
	if err != nil {
		return nil, fmt.Errorf("filter %q: %w", name, err)
	}
	return d.parseFilter(file, data, false)
}

// parseFilter decodes a filter file's data (a shipped one: not read from
// the file system).
func (d *decoder) parseFilter(file string, data []byte, shippedFile bool) (*FilterFile, error) {
	root, err := parseDocument(d, file, data)
	if err != nil {
		return nil, err
	}
	f := &FilterFile{}
	if !shippedFile {
		f.read = file
	}
	if root != nil {
		before := len(d.errs)
		d.decodeStruct(root, reflect.ValueOf(f).Elem(), "filter")
		if len(d.errs) > before {
			errs := d.errs[before:]
			d.errs = d.errs[:before] // handed to the caller, which reports them once
			return nil, errors.Join(errs...)
		}
	}
	return f, nil
}

// ResolveFilter loads a filter the way `logjail test` names one: a shipped
// filter ("sshd", "sshd[mode=aggressive]"), a YAML filter file, or a
// fail2ban filter file ("/etc/fail2ban/filter.d/sshd.conf[mode=aggressive]"),
// and compiles it.
func ResolveFilter(ref string, dir string) (match.Matcher, match.Rules, error) {
	if isFail2banRef(ref) {
		p := &Pipeline{Name: "test", what: "filter " + ref}
		p.Match.Fail2ban = Text{S: ref}
		return resolvePipelineFilter(p, dir)
	}
	r, err := ParseFilterRef(ref)
	if err != nil {
		return nil, match.Rules{}, err
	}
	return resolveFilterRef(ref, r, dir)
}

// resolveFilterRef compiles a logjail filter with its arguments (mode
// among them); ref names it in errors.
func resolveFilterRef(ref string, r FilterRef, dir string) (match.Matcher, match.Rules, error) {
	p := &Pipeline{Name: "test", what: "filter " + ref}
	p.Match.Filter = Text{S: r.Name}
	for k, val := range r.Args {
		if k == "mode" {
			p.Match.Mode = Text{S: val}
			continue
		}
		if p.Match.Args == nil {
			p.Match.Args = map[string]Text{}
		}
		p.Match.Args[k] = Text{S: val}
	}
	return resolvePipelineFilter(p, dir)
}

// resolvePipelineFilter compiles the match of a pipeline of its own.
func resolvePipelineFilter(p *Pipeline, dir string) (match.Matcher, match.Rules, error) {
	v := validator{decoder: &decoder{}, dir: dir}
	m, rules := v.match(p)
	if len(v.errs) > 0 {
		errs := slices.Clone(v.errs)
		for i, err := range errs {
			// No configuration file: the message alone (it names the filter).
			if e, ok := err.(*Error); ok && e.At.File == "" {
				errs[i] = errors.New(e.Msg)
			}
		}
		return nil, match.Rules{}, errors.Join(errs...)
	}
	return m, rules, nil
}

// ruleTexts are a pipeline's match rules, each with where it was written.
type ruleTexts struct {
	dialect      match.Dialect
	maxLines     int
	lastDate     bool
	pref, date   Text
	fail, ignore []Text
	// journal is a fail2ban filter's journalmatch.
	journal []string
	// filter says what the match's filter resolved to (Plan.Filter).
	filter string
}

func (r ruleTexts) rules() match.Rules {
	return match.Rules{Dialect: r.dialect, MaxLines: r.maxLines, LastDate: r.lastDate, Prefregex: r.pref.S, Datepattern: r.date.S, Failregex: texts(r.fail), Ignoreregex: texts(r.ignore)}
}

// matchSpec is the pipeline's match block, placed at the pipeline when it
// was not written.
func (p *Pipeline) matchSpec() MatchSpec {
	ms := p.Match
	if ms.At.File == "" {
		ms.At = p.At
	}
	return ms
}

// match resolves and compiles a pipeline's match spec, reporting each bad
// regex at the place it was written.
func (v validator) match(p *Pipeline) (match.Matcher, match.Rules) {
	r, ok := v.rules(p)
	if !ok {
		return nil, match.Rules{}
	}
	rules := r.rules()
	m, err := filter.Compile(p.Name, rules)
	if err != nil {
		v.regexErrors(p, r, err)
		return nil, match.Rules{}
	}
	return m, rules
}

// rules resolves a pipeline's match spec: the filter (fail2ban's or
// logjail's, in its mode), extended or overridden by the inline settings.
// The filter file is read once per Load (see validator.read).
func (v validator) rules(p *Pipeline) (ruleTexts, bool) {
	if r, ok := v.read[p]; ok {
		return r, true
	}
	r, ok := v.readRules(p)
	if ok && v.read != nil {
		v.read[p] = r
	}
	return r, ok
}

// readRules reads and resolves a pipeline's match spec (see rules).
func (v validator) readRules(p *Pipeline) (ruleTexts, bool) {
	ms := p.matchSpec()
	r, ok := ruleTexts{dialect: match.DialectLogjail}, true
	switch {
	case ms.Fail2ban.S != "":
		r, ok = v.fail2banRules(p, ms)
	case ms.Filter.S != "":
		r, ok = v.filterRules(p, ms)
	case ms.Mode.S != "":
		v.fail(ms.Mode.At, "%s: mode without a filter", p.label())
	}
	if !ok {
		return r, false
	}
	// Inline settings extend or override the filter, as a fail2ban .local does.
	if ms.Prefregex.S != "" {
		r.pref = ms.Prefregex
	}
	if d := datepatterns(ms.Datepattern); d.S != "" {
		r.date = d
	}
	r.fail = append(r.fail, ms.Failregex...)
	r.ignore = append(r.ignore, ms.Ignoreregex...)
	if len(r.fail) == 0 {
		v.fail(ms.At, "%s: match needs a filter or failregex", p.label())
		return r, false
	}
	return r, true
}

// fail2banRules reads the fail2ban filter file the match spec names.
func (v validator) fail2banRules(p *Pipeline, ms MatchSpec) (ruleTexts, bool) {
	if ms.Filter.S != "" {
		v.fail(ms.Fail2ban.At, "%s: filter and fail2ban exclude each other", p.label())
		return ruleTexts{}, false
	}
	f, err := loadFail2banFilter(v.dir, ms.Fail2ban.S, ms.Mode.S, ms.Args)
	if err != nil {
		v.fail(ms.Fail2ban.At, "%s: %v", p.label(), err)
		return ruleTexts{}, false
	}
	at := ms.Fail2ban.At
	r := ruleTexts{dialect: match.DialectFail2ban, maxLines: f.MaxLines, journal: f.JournalMatch,
		pref: Text{S: f.Prefregex, At: at}, date: Text{S: f.Datepattern, At: at}}
	for _, re := range f.Failregex {
		r.fail = append(r.fail, Text{S: re, At: at})
	}
	for _, re := range f.Ignoreregex {
		r.ignore = append(r.ignore, Text{S: re, At: at})
	}
	return r, true
}

// filterRules reads the logjail filter the match spec names, in its mode.
func (v validator) filterRules(p *Pipeline, ms MatchSpec) (ruleTexts, bool) {
	name, mode := ms.Filter.S, ms.Mode.S
	if a, ok := shippedAliases[name]; ok {
		if _, err := os.Stat(filepath.Join(v.dir, "filters", name+".yaml")); errors.Is(err, os.ErrNotExist) {
			if mode != "" && mode != a.mode {
				v.fail(ms.Mode.At, "%s: filter %q is %s[mode=%s]; it has no mode %q", p.label(), name, a.name, a.mode, mode)
				return ruleTexts{}, false
			}
			name, mode = a.name, a.mode
		}
	}
	f, err := v.loadFilter(v.dir, name)
	if err != nil {
		var cfgErr *Error
		if errors.As(err, &cfgErr) {
			v.errs = append(v.errs, err)
		} else {
			v.fail(ms.Filter.At, "%s: %v", p.label(), err)
		}
		return ruleTexts{}, false
	}
	if f.MaxLines < 0 {
		v.fail(ms.Filter.At, "%s: filter %q: maxlines %d (want 1 or more)", p.label(), name, f.MaxLines)
		return ruleTexts{}, false
	}
	switch f.Undated.S {
	case "", "read_time", "last_date":
	default:
		v.fail(cmp.Or(f.Undated.At, ms.Filter.At), "%s: filter %q: undated %q (want read_time or last_date)", p.label(), name, f.Undated.S)
		return ruleTexts{}, false
	}
	r := ruleTexts{dialect: match.DialectLogjail, maxLines: f.MaxLines, lastDate: f.Undated.S == "last_date", pref: f.Prefregex, date: datepatterns(f.Datepattern), fail: slices.Clone(f.Failregex), ignore: slices.Clone(f.Ignoreregex)}
	for _, term := range f.JournalMatch {
		if !journalTerm.MatchString(term.S) {
			v.fail(cmp.Or(term.At, ms.Filter.At), "%s: filter %q: journalmatch term %q (want FIELD=value or +)", p.label(), name, term.S)
			return ruleTexts{}, false
		}
		r.journal = append(r.journal, term.S)
	}
	r.filter = "shipped filter " + name
	if f.read != "" {
		r.filter = "filter file " + f.read
	}
	if mode != ms.Mode.S { // an alias's mode
		r.filter += ", mode " + mode
	}
	if mode == "" {
		mode = cmp.Or(f.DefaultMode.S, "normal")
	}
	extra, ok := f.Modes[mode]
	if !ok && (len(f.Modes) > 0 || mode != "normal") {
		v.fail(cmp.Or(ms.Mode.At, ms.Filter.At), "%s: filter %q has no mode %q (known: %s)", p.label(), name, mode, strings.Join(modeNames(f), ", "))
		return ruleTexts{}, false
	}
	r.fail = append(r.fail, extra...)
	file := "pipelines/filters/" + name + ".yaml"
	if f.read != "" {
		file = f.read
	}
	if errs := applyArgs(file, f, ms.Args, &r, ms.Filter.At); len(errs) > 0 {
		for _, e := range errs {
			v.fail(e.at, "%s: %s", p.label(), e.msg)
		}
		return ruleTexts{}, false
	}
	if len(ms.Args) > 0 {
		var args []string
		for _, k := range sortedTextKeys(ms.Args) {
			args = append(args, k+"="+ms.Args[k].S)
		}
		r.filter += ", " + strings.Join(args, ", ")
	}
	return r, true
}

// regexErrors reports each regex that does not compile at the place it
// was written (the filter's reference for a fail2ban filter's).
func (v validator) regexErrors(p *Pipeline, r ruleTexts, err error) {
	ms := p.matchSpec()
	for _, e := range keyerr.Each(err) {
		var re *match.RegexError
		if !errors.As(e, &re) {
			v.fail(ms.At, "%s: %v", p.label(), e)
			continue
		}
		at := ms.At
		switch {
		case re.List == "prefregex" && r.pref.At.File != "":
			at = r.pref.At
		case re.List == "datepattern" && r.date.At.File != "":
			at = r.date.At
		case re.List == "failregex" && re.Index < len(r.fail):
			at = r.fail[re.Index].At
		case re.List == "ignoreregex" && re.Index < len(r.ignore):
			at = r.ignore[re.Index].At
		}
		if at.File == "" {
			at = ms.At
		}
		v.fail(at, "%s: %v", p.label(), re)
	}
}

// datepatterns joins a datepattern's list into the one text match.Rules
// takes, a pattern per line (the form of fail2ban's datepattern): the date
// finder tries them together (fastdate.NewPatternFinder). It is placed at
// the first pattern.
func datepatterns(ts []Text) Text {
	if len(ts) == 0 {
		return Text{}
	}
	return Text{S: strings.Join(texts(ts), "\n"), At: ts[0].At}
}

func texts(ts []Text) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.S
	}
	return out
}

// loadFail2banFilter reads a fail2ban filter file reference
// ("/etc/fail2ban/filter.d/sshd.conf[mode=aggressive]"); mode and more,
// when given (match.mode, match.args), are more arguments. A relative path
// is relative to dir.
func loadFail2banFilter(dir, ref, mode string, more map[string]Text) (*fail2ban.Filter, error) {
	path, args, err := fail2ban.ParseRef(ref)
	if err != nil {
		return nil, err
	}
	if args == nil {
		args = map[string]string{}
	}
	for k, v := range more {
		args[k] = v.S
	}
	if mode != "" {
		args["mode"] = mode
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	return fail2ban.LoadFilter(path, args)
}

// isFail2banRef tells a fail2ban filter file from a logjail filter.
func isFail2banRef(ref string) bool {
	name, _, _ := strings.Cut(ref, "[")
	return strings.HasSuffix(name, ".conf") || strings.HasSuffix(name, ".local")
}
