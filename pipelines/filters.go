package pipelines

import (
	"cmp"
	"embed"
	"errors"
	"fmt"
	"github.com/logjail/logjail/ingest/keyerr"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"

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
// postfix filter does several jobs, one per mode, and logjail's postfix
// filter offers its auth mode, which logjail shipped as postfix-sasl first.
// A filter file of the alias's name in the configuration's filters/ folder
// wins, as for any shipped filter.
var shippedAliases = map[string]struct{ name, mode string }{
	"postfix-sasl": {"postfix", "auth"},
}

// FilterRef is a filter reference with arguments: "sshd[mode=aggressive]".
type FilterRef struct {
	Name string
	Args map[string]string
}

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
			file = "pipelines/filters/" + name + ".yaml"
			data, err = shipped.ReadFile("filters/" + name + ".yaml")
			if err != nil {
				return nil, fmt.Errorf("unknown filter %q (shipped: %s; or a file %s)", name, strings.Join(ShippedFilters(), ", "), filepath.Join(dir, "filters", name+".yaml"))
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("filter %q: %w", name, err)
	}
	root, err := parseDocument(d, file, data)
	if err != nil {
		return nil, err
	}
	f := &FilterFile{}
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
	p := &Pipeline{Name: "test", what: "filter " + ref}
	if isFail2banRef(ref) {
		p.Match.Fail2ban = Text{S: ref}
	} else {
		r, err := ParseFilterRef(ref)
		if err != nil {
			return nil, match.Rules{}, err
		}
		p.Match.Filter = Text{S: r.Name}
		for k, val := range r.Args {
			switch k {
			case "mode":
				p.Match.Mode = Text{S: val}
			default:
				return nil, match.Rules{}, fmt.Errorf("filter %q: unknown argument %q (known: mode)", ref, k)
			}
		}
	}
	v := validator{decoder: &decoder{}, dir: dir}
	m := v.match(p)
	if len(v.errs) > 0 {
		return nil, match.Rules{}, errors.Join(v.errs...)
	}
	return m, p.Rules, nil
}

// match resolves and compiles a pipeline's match spec into p.Rules, reporting
// each bad regex at the place it was written.
func (v validator) match(p *Pipeline) match.Matcher {
	ms := p.Match
	if ms.At.File == "" {
		ms.At = p.At
	}
	var pref, date Text
	var fail, ignore []Text
	dialect, maxLines := match.DialectLogjail, 0
	if ms.Fail2ban.S != "" {
		if ms.Filter.S != "" {
			v.fail(ms.Fail2ban.At, "%s: filter and fail2ban exclude each other", p.label())
			return nil
		}
		f, err := loadFail2banFilter(v.dir, ms.Fail2ban.S, ms.Mode.S)
		if err != nil {
			v.fail(ms.Fail2ban.At, "%s: %v", p.label(), err)
			return nil
		}
		at := ms.Fail2ban.At
		dialect, maxLines = match.DialectFail2ban, f.MaxLines
		pref, date = Text{S: f.Prefregex, At: at}, Text{S: f.Datepattern, At: at}
		for _, r := range f.Failregex {
			fail = append(fail, Text{S: r, At: at})
		}
		for _, r := range f.Ignoreregex {
			ignore = append(ignore, Text{S: r, At: at})
		}
		p.JournalMatch = f.JournalMatch
	} else if ms.Filter.S != "" {
		name, mode := ms.Filter.S, ms.Mode.S
		if a, ok := shippedAliases[name]; ok {
			if _, err := os.Stat(filepath.Join(v.dir, "filters", name+".yaml")); errors.Is(err, os.ErrNotExist) {
				if mode != "" && mode != a.mode {
					v.fail(ms.Mode.At, "%s: filter %q is %s[mode=%s]; it has no mode %q", p.label(), name, a.name, a.mode, mode)
					return nil
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
			return nil
		}
		pref, date, fail, ignore = f.Prefregex, f.Datepattern, slices.Clone(f.Failregex), slices.Clone(f.Ignoreregex)
		if mode == "" {
			mode = "normal"
		}
		extra, ok := f.Modes[mode]
		if !ok && (len(f.Modes) > 0 || mode != "normal") {
			var known []string
			for k := range f.Modes {
				known = append(known, k)
			}
			slices.Sort(known)
			v.fail(cmp.Or(ms.Mode.At, ms.Filter.At), "%s: filter %q has no mode %q (known: %s)", p.label(), name, mode, strings.Join(known, ", "))
			return nil
		}
		fail = append(fail, extra...)
	} else if ms.Mode.S != "" {
		v.fail(ms.Mode.At, "%s: mode without a filter", p.label())
	}
	// Inline settings extend or override the filter, as a fail2ban .local does.
	if ms.Prefregex.S != "" {
		pref = ms.Prefregex
	}
	if ms.Datepattern.S != "" {
		date = ms.Datepattern
	}
	fail = append(fail, ms.Failregex...)
	ignore = append(ignore, ms.Ignoreregex...)
	if len(fail) == 0 {
		v.fail(ms.At, "%s: match needs a filter or failregex", p.label())
		return nil
	}
	p.Rules = match.Rules{Dialect: dialect, MaxLines: maxLines, Prefregex: pref.S, Datepattern: date.S, Failregex: texts(fail), Ignoreregex: texts(ignore)}
	m, err := filter.Compile(p.Name, p.Rules)
	if err != nil {
		for _, e := range keyerr.Each(err) {
			var re *match.RegexError
			if !errors.As(e, &re) {
				v.fail(ms.At, "%s: %v", p.label(), e)
				continue
			}
			at := ms.At
			switch {
			case re.List == "prefregex" && pref.At.File != "":
				at = pref.At
			case re.List == "datepattern" && date.At.File != "":
				at = date.At
			case re.List == "failregex" && re.Index < len(fail):
				at = fail[re.Index].At
			case re.List == "ignoreregex" && re.Index < len(ignore):
				at = ignore[re.Index].At
			}
			if at.File == "" {
				at = ms.At
			}
			v.fail(at, "%s: %v", p.label(), re)
		}
		return nil
	}
	return m
}

func texts(ts []Text) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.S
	}
	return out
}

// loadFail2banFilter reads a fail2ban filter file reference
// ("/etc/fail2ban/filter.d/sshd.conf[mode=aggressive]"); mode, when given,
// is one more argument. A relative path is relative to dir.
func loadFail2banFilter(dir, ref, mode string) (*fail2ban.Filter, error) {
	path, args, err := fail2ban.ParseRef(ref)
	if err != nil {
		return nil, err
	}
	if args == nil {
		args = map[string]string{}
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
