package fail2ban

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
)

const (
	includesSection = "INCLUDES"
	knownPrefix     = "KNOWN/"
	// maxInterpolationDepth is Python configparser's MAX_INTERPOLATION_DEPTH.
	maxInterpolationDepth = 10
	// maxIncludeDepth guards against include loops that path comparison
	// cannot see (for example through symbolic links).
	maxIncludeDepth = 64
)

var (
	// conditionalRE matches conditional names such as "Init?family=inet6".
	conditionalRE = regexp.MustCompile(`^([\p{L}\p{N}_]+)(\?.+)$`)
	// keyRE is a %(name)s reference.
	keyRE = regexp.MustCompile(`^%\(([^)]+)\)s`)
	// sectionRefRE finds %(section/name)s references inside a value.
	sectionRefRE = regexp.MustCompile(`%\(([\p{L}\p{N}_\-]+/([^)]+))\)s`)
	// sectionOptRE is a "section/name" option name.
	sectionOptRE = regexp.MustCompile(`^([\p{L}\p{N}_\-]+)/([^\s>]+)$`)
)

// Config is a set of fail2ban configuration files merged the way fail2ban
// merges them (see the package documentation).
type Config struct {
	files    []string
	defaults *section
	sections map[string]*section
	order    []string // section names in order of first appearance
}

func newConfig() *Config {
	return &Config{defaults: newSection(defaultSection), sections: map[string]*section{}}
}

// ReadConfig reads base.conf, base.d/*.conf, base.local and base.d/*.local
// (those that exist, in that order), each with its includes, as fail2ban
// reads "jail" or "filter.d/sshd" under its configuration directory. It
// fails if none of them exists.
func ReadConfig(base string) (*Config, error) {
	base = filepath.Clean(base)
	files := []string{base + ".conf"}
	files = append(files, globFiles(base+".d", ".conf")...)
	files = append(files, base+".local")
	files = append(files, globFiles(base+".d", ".local")...)
	var existing []string
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && !st.IsDir() {
			existing = append(existing, f)
		}
	}
	if len(existing) == 0 {
		return nil, fmt.Errorf("fail2ban: no %s.conf or %s.local: %w", base, base, fs.ErrNotExist)
	}
	return ReadFiles(existing...)
}

// ReadFiles reads the given files in order, each with its includes and its
// .local companion, and merges them. Unlike includes, the files given must
// exist.
func ReadFiles(files ...string) (*Config, error) {
	var list []string
	for _, f := range files {
		f = filepath.Clean(f)
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("fail2ban: %w", err)
		}
		list = append(list, f)
	}
	r := &reader{parsed: map[string]*iniFile{}}
	all, err := r.includes(list, nil)
	if err != nil {
		return nil, err
	}
	c := newConfig()
	for _, f := range all {
		if p := r.parsed[f]; p != nil {
			c.files = append(c.files, f)
			c.merge(p)
		}
	}
	return c, nil
}

// globFiles lists dir/*ext sorted, skipping hidden files as Python's glob does.
func globFiles(dir, ext string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, ".") || !strings.HasSuffix(n, ext) {
			continue
		}
		out = append(out, filepath.Join(dir, n))
	}
	sort.Strings(out)
	return out
}

// reader resolves includes; it parses each file once.
type reader struct {
	parsed map[string]*iniFile // nil: the file could not be read (ignored)
}

func (r *reader) parse(path string) (*iniFile, error) {
	if f, ok := r.parsed[path]; ok {
		return f, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || isDir(path) {
			r.parsed[path] = nil
			return nil, nil
		}
		return nil, fmt.Errorf("fail2ban: %w", err)
	}
	f, err := parseINI(path, data)
	if err != nil {
		return nil, err
	}
	r.parsed[path] = f
	return f, nil
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// withLocal adds NAME.local after each NAME.ext that has one (and is not
// listed already).
func withLocal(files []string) []string {
	var out []string
	for _, f := range files {
		out = append(out, f)
		local := strings.TrimSuffix(f, filepath.Ext(f)) + ".local"
		if !slices.Contains(files, local) {
			if st, err := os.Stat(local); err == nil && st.Mode().IsRegular() {
				out = append(out, local)
			}
		}
	}
	return out
}

// includes returns files with their includes expanded: for each file, its
// "before" includes, the file, its "after" includes (recursively).
func (r *reader) includes(files []string, seen []string) ([]string, error) {
	var out []string
	for _, f := range withLocal(files) {
		l, err := r.includesOf(f, seen)
		if err != nil {
			return nil, err
		}
		out = append(out, l...)
	}
	return out, nil
}

func (r *reader) includesOf(path string, seen []string) ([]string, error) {
	f, err := r.parse(path)
	if err != nil || f == nil {
		return nil, err
	}
	if len(seen) > maxIncludeDepth {
		return nil, &Error{Pos: Pos{File: path}, Msg: "includes nested too deeply (include loop?)"}
	}
	var has bool
	for _, s := range f.sections {
		if s.name == includesSection {
			has = true
		}
	}
	if !has {
		return []string{path}, nil
	}
	one := newConfig()
	one.merge(f)
	dir := filepath.Dir(path)
	var lists [2][]string
	for i, opt := range []string{"before", "after"} {
		v, err := one.Get(includesSection, opt, nil)
		if errors.Is(err, ErrNoOption) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, inc := range strings.Split(v, "\n") {
			if inc == "" {
				continue
			}
			if !filepath.IsAbs(inc) {
				inc = filepath.Join(dir, inc)
			}
			inc = filepath.Clean(inc)
			if slices.Contains(seen, inc) {
				continue
			}
			l, err := r.includes([]string{inc}, append(slices.Clip(seen), path))
			if err != nil {
				return nil, err
			}
			lists[i] = append(lists[i], l...)
		}
	}
	out := append(lists[0], path)
	return append(out, lists[1]...), nil
}

// merge adds one file's options: defaults override defaults, sections are
// merged option by option, and the values a section loses are kept in
// "KNOWN/section" for %(known/name)s.
func (c *Config) merge(f *iniFile) {
	for _, k := range f.defaults.keys {
		c.defaults.set(k, f.defaults.vals[k])
	}
	for _, s := range f.sections {
		name := s.name
		if m := conditionalRE.FindStringSubmatch(name); m != nil {
			name = m[1]
			cs := newSection(name)
			for _, k := range s.keys {
				cs.set(k+m[2], s.vals[k])
			}
			s = cs
		}
		old := c.sections[name]
		if old == nil {
			cs := s.clone()
			cs.name = name
			c.sections[name] = cs
			c.order = append(c.order, name)
			continue
		}
		known := c.section(knownPrefix + name)
		for _, k := range old.keys {
			if _, ok := s.vals[k]; ok {
				known.set(k, old.vals[k])
			}
		}
		for _, k := range s.keys {
			old.set(k, s.vals[k])
		}
	}
}

// section returns the named section, creating it if needed.
func (c *Config) section(name string) *section {
	s := c.sections[name]
	if s == nil {
		s = newSection(name)
		c.sections[name] = s
		c.order = append(c.order, name)
	}
	return s
}

// setDefault sets a [DEFAULT] option that comes from no file.
func (c *Config) setDefault(key, value string) {
	c.defaults.set(strings.ToLower(key), entry{value: value, pos: Pos{File: builtinFile}})
}

// Files lists the files read, in the order they were merged (a file can
// appear more than once if it is included more than once).
func (c *Config) Files() []string { return slices.Clone(c.files) }

// Sections lists the sections in order of first appearance, without
// [DEFAULT] and without fail2ban's internal KNOWN/ sections.
func (c *Config) Sections() []string {
	var out []string
	for _, n := range c.order {
		if !strings.HasPrefix(n, knownPrefix) {
			out = append(out, n)
		}
	}
	return out
}

// HasSection reports whether the section exists ([DEFAULT] does not count).
func (c *Config) HasSection(name string) bool { return c.sections[name] != nil }

// Options lists a section's own options (not those it inherits from
// [DEFAULT]); Options("DEFAULT") lists the defaults.
func (c *Config) Options(sec string) []string {
	if sec == defaultSection {
		return slices.Clone(c.defaults.keys)
	}
	if s := c.sections[sec]; s != nil {
		return slices.Clone(s.keys)
	}
	return nil
}

// optionsWithDefaults lists a section's own options, then the defaults it
// does not override.
func (c *Config) optionsWithDefaults(sec string) []string {
	out := c.Options(sec)
	for _, k := range c.defaults.keys {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// Raw returns an option's uninterpolated value and where it was set,
// falling back to [DEFAULT].
func (c *Config) Raw(sec, option string) (string, Pos, bool) {
	key := strings.ToLower(option)
	if s := c.sections[sec]; s != nil {
		if e, ok := s.get(key); ok {
			return e.value, e.pos, true
		}
	} else if sec != defaultSection {
		return "", Pos{}, false
	}
	e, ok := c.defaults.get(key)
	return e.value, e.pos, ok
}

// Get returns an option of a section, falling back to [DEFAULT], with
// %(name)s references resolved. vars, if given, take precedence over both
// (fail2ban passes filter arguments this way). The error wraps ErrNoSection
// or ErrNoOption if the section or option does not exist.
func (c *Config) Get(sec, option string, vars map[string]string) (string, error) {
	v, _, err := c.get(sec, option, argVars(vars))
	return v, err
}

// argVars turns plain values into lower-cased lookup entries.
func argVars(vars map[string]string) map[string]entry {
	if len(vars) == 0 {
		return nil
	}
	out := make(map[string]entry, len(vars))
	for k, v := range vars {
		out[strings.ToLower(k)] = entry{value: v, pos: Pos{File: argFile}}
	}
	return out
}

func (c *Config) get(secName, option string, vars map[string]entry) (string, Pos, error) {
	var sec *section
	if secName != defaultSection {
		sec = c.sections[secName]
		if sec == nil {
			return "", Pos{}, &Error{Msg: fmt.Sprintf("no section [%s]", secName), Err: ErrNoSection}
		}
	}
	key := strings.ToLower(option)
	l := &lookup{c: c, section: secName, sec: sec, vars: vars}
	e, ok := l.find(key)
	if !ok {
		return "", Pos{}, &Error{Key: key, Msg: fmt.Sprintf("no such option in [%s]", secName), Err: ErrNoOption}
	}
	// The section's name is a literal: a '%' in it is not a reference
	// (found by FuzzINI: a section named "[%]").
	l.extra = map[string]entry{"__name__": {value: strings.ReplaceAll(secName, "%", "%%"), pos: Pos{File: builtinFile}}}
	var b strings.Builder
	if err := l.interpolate(key, e, 1, []string{key}, &b); err != nil {
		var ce *Error
		if errors.As(err, &ce) && ce.Key != key {
			ce.Msg += fmt.Sprintf(" (resolving [%s] %s)", secName, key)
		}
		return "", e.pos, err
	}
	return b.String(), e.pos, nil
}

// lookup is the name space of one interpolation: vars, then the section,
// then the defaults; extra holds __name__ and section/name references.
type lookup struct {
	c       *Config
	section string
	sec     *section
	vars    map[string]entry
	extra   map[string]entry
}

func (l *lookup) find(key string) (entry, bool) {
	if e, ok := l.extra[key]; ok {
		return e, true
	}
	if e, ok := l.vars[key]; ok {
		return e, true
	}
	if e, ok := l.sec.get(key); ok {
		return e, true
	}
	return l.c.defaults.get(key)
}

// interpolate writes e.value (the value of option key) with its %(name)s
// references resolved. stack holds the names being resolved, to report
// loops.
func (l *lookup) interpolate(key string, e entry, depth int, stack []string, out *strings.Builder) error {
	if depth > maxInterpolationDepth {
		return &Error{Pos: e.pos, Key: key, Msg: fmt.Sprintf("%%(...)s references nested more than %d levels deep", maxInterpolationDepth)}
	}
	l.mapSectionRefs(e.value)
	rest := e.value
	for rest != "" {
		p := strings.IndexByte(rest, '%')
		if p < 0 {
			out.WriteString(rest)
			return nil
		}
		out.WriteString(rest[:p])
		rest = rest[p:]
		switch {
		case strings.HasPrefix(rest, "%%"):
			out.WriteByte('%')
			rest = rest[2:]
		case strings.HasPrefix(rest, "%("):
			m := keyRE.FindStringSubmatchIndex(rest)
			if m == nil {
				return &Error{Pos: e.pos, Key: key, Msg: fmt.Sprintf("bad %%(name)s reference: %q", clip(rest))}
			}
			name := rest[m[2]:m[3]]
			rest = rest[m[1]:]
			v := strings.ToLower(name)
			ve, ok := l.find(v)
			if !ok {
				return &Error{Pos: e.pos, Key: key, Msg: fmt.Sprintf("%%(%s)s: no such option", name), Err: ErrUndefined, ref: v}
			}
			if !strings.Contains(ve.value, "%") {
				out.WriteString(ve.value)
				continue
			}
			if slices.Contains(stack, v) {
				return &Error{Pos: e.pos, Key: key, Msg: fmt.Sprintf("%%(%s)s: recursive reference (%s -> %s)", name, strings.Join(stack, " -> "), v)}
			}
			if err := l.interpolate(v, ve, depth+1, append(slices.Clip(stack), v), out); err != nil {
				return err
			}
		default:
			return &Error{Pos: e.pos, Key: key, Msg: fmt.Sprintf("'%%' must be followed by '%%' or '(' (write %%%% for a literal %%): %q", clip(rest))}
		}
	}
	return nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// mapSectionRefs makes the %(section/name)s references in value resolvable:
// known/name is the value the option had before the last file that set it
// (else the default), default/name the default, section/name the raw value
// in that section (else the default). As in fail2ban, the name space is
// case-sensitive here, so only lower-case references resolve.
func (l *lookup) mapSectionRefs(value string) {
	if !strings.Contains(value, "/") || !strings.Contains(value, "%(") {
		return
	}
	for _, m := range sectionRefRE.FindAllStringSubmatch(value, -1) {
		ref, opt := m[1], m[2]
		if l.has(ref) {
			continue
		}
		sec := ref[:len(ref)-len(opt)-1]
		useDefault := true
		var e entry
		switch strings.ToLower(sec) {
		case "default":
		case "known":
			e, useDefault = l.c.sections[knownPrefix+l.section].get(opt)
			useDefault = !useDefault
		default:
			s := l.c.sections[sec]
			if s == nil {
				continue
			}
			e, useDefault = s.get(opt)
			useDefault = !useDefault
		}
		if useDefault {
			var ok bool
			if e, ok = l.c.defaults.get(opt); !ok {
				continue
			}
		}
		l.extra[ref] = e
	}
}

func (l *lookup) has(key string) bool {
	_, ok := l.find(key)
	return ok
}

// getEx is fail2ban's get_ex: an option name of the form "section/name"
// reads that section ("known/name": the value before the last override,
// else the current one; "default/name": [DEFAULT]); otherwise, and as a
// fallback, the option is read from sec with vars. found is false (and err
// nil) if nothing has that name.
func (c *Config) getEx(sec, option string, vars map[string]entry) (v string, pos Pos, found bool, err error) {
	if m := sectionOptRE.FindStringSubmatch(option); m != nil {
		var secs []string
		switch strings.ToLower(m[1]) {
		case "known":
			secs = []string{knownPrefix + sec, sec}
		case "default":
			secs = []string{defaultSection}
		default:
			secs = []string{m[1]}
		}
		for _, s := range secs {
			v, pos, err := c.get(s, m[2], nil)
			if err == nil {
				return v, pos, true, nil
			}
			if !errors.Is(err, ErrNoSection) && !errors.Is(err, ErrNoOption) {
				return "", pos, false, err
			}
		}
	}
	v, pos, err = c.get(sec, option, vars)
	if errors.Is(err, ErrNoSection) || errors.Is(err, ErrNoOption) {
		return "", Pos{}, false, nil
	}
	return v, pos, err == nil, err
}
