package fail2ban

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// defaultSection is the section whose options every other section inherits.
const defaultSection = "DEFAULT"

// Pos is where a value was set: the file and the line of its option name.
// Values that come from no file have a File like "(filter argument)" and no
// Line; the zero Pos means unknown.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string {
	if p.File == "" {
		return ""
	}
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// entry is one option's raw (uninterpolated) value.
type entry struct {
	value string
	pos   Pos
}

// section is an ordered set of options; keys are lower-case option names.
type section struct {
	name string
	keys []string
	vals map[string]entry
}

func newSection(name string) *section {
	return &section{name: name, vals: map[string]entry{}}
}

func (s *section) get(key string) (entry, bool) {
	if s == nil {
		return entry{}, false
	}
	e, ok := s.vals[key]
	return e, ok
}

func (s *section) set(key string, e entry) {
	if _, ok := s.vals[key]; !ok {
		s.keys = append(s.keys, key)
	}
	s.vals[key] = e
}

func (s *section) clone() *section {
	c := &section{name: s.name, keys: append([]string(nil), s.keys...), vals: make(map[string]entry, len(s.vals))}
	for k, v := range s.vals {
		c.vals[k] = v
	}
	return c
}

// iniFile is one file as Python's configparser reads it, without includes.
type iniFile struct {
	path     string
	defaults *section
	sections []*section
}

// parseINI reads data with the rules of Python's configparser.ConfigParser
// as fail2ban configures it: delimiters '=' and ':', full-line comments '#'
// and ';', inline comments ';' after white space, blank lines kept inside
// values, option names lower-cased, strict about duplicates.
func parseINI(path string, data []byte) (*iniFile, error) {
	p := &iniParser{
		f:      &iniFile{path: path, defaults: newSection(defaultSection)},
		byName: map[string]*section{},
		added:  map[string]bool{},
	}
	for i, line := range splitLines(string(data)) {
		if err := p.line(i+1, line); err != nil {
			return nil, err
		}
	}
	for _, o := range p.all {
		e := o.sec.vals[o.key]
		e.value = strings.TrimRightFunc(strings.Join(o.lines, "\n"), unicode.IsSpace)
		o.sec.vals[o.key] = e
	}
	return p.f, nil
}

// iniParser is the state of parseINI between lines.
type iniParser struct {
	f           *iniFile
	byName      map[string]*section
	cur         *section // nil before the first header
	curName     string
	opt         *pendingOption // the option that continuation lines extend
	indentLevel int
	added       map[string]bool // "section" and "section\x00option" seen in this file
	all         []*pendingOption
}

// pendingOption is an option whose value lines are still being read.
type pendingOption struct {
	sec   *section
	key   string
	lines []string
}

func (p *iniParser) errAt(line int, format string, args ...any) error {
	return &Error{Pos: Pos{File: p.f.path, Line: line}, Msg: fmt.Sprintf(format, args...)}
}

// line reads one line: a comment, a blank, a continuation, a section
// header or an option.
func (p *iniParser) line(lineno int, line string) error {
	commentStart := inlineComment(line)
	if t := strings.TrimSpace(line); strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";") {
		commentStart = 0
	}
	value := line
	if commentStart >= 0 {
		value = line[:commentStart]
	}
	value = strings.TrimSpace(value)
	if value == "" {
		// A blank line belongs to the current value (it is dropped again
		// if nothing follows); a comment line does not.
		if commentStart < 0 && p.cur != nil && p.opt != nil {
			p.opt.lines = append(p.opt.lines, "")
		}
		return nil
	}
	indent := 0
	for _, r := range line {
		if !unicode.IsSpace(r) {
			break
		}
		indent++
	}
	if p.cur != nil && p.opt != nil && indent > p.indentLevel {
		p.opt.lines = append(p.opt.lines, value)
		return nil
	}
	p.indentLevel = indent
	if name, ok := sectionHeader(value); ok {
		return p.header(lineno, name)
	}
	return p.option(lineno, value)
}

func (p *iniParser) header(lineno int, name string) error {
	switch {
	case name == defaultSection:
		p.cur = p.f.defaults
	case p.byName[name] != nil:
		if p.added[name] {
			return p.errAt(lineno, "section [%s] already exists in this file", name)
		}
		p.cur = p.byName[name]
	default:
		p.cur = newSection(name)
		p.byName[name] = p.cur
		p.f.sections = append(p.f.sections, p.cur)
	}
	p.added[name] = true
	p.curName = name
	p.opt = nil
	return nil
}

func (p *iniParser) option(lineno int, value string) error {
	if p.cur == nil {
		return p.errAt(lineno, "option outside of any section: %q", value)
	}
	key, val, ok := splitOption(value)
	if !ok {
		return p.errAt(lineno, "not a section header, option or comment: %q", value)
	}
	if key == "" {
		return p.errAt(lineno, "option without a name: %q", value)
	}
	key = strings.ToLower(key)
	if p.added[p.curName+"\x00"+key] {
		return p.errAt(lineno, "option %q already set in section [%s] of this file", key, p.curName)
	}
	p.added[p.curName+"\x00"+key] = true
	p.opt = &pendingOption{sec: p.cur, key: key, lines: []string{val}}
	p.all = append(p.all, p.opt)
	p.cur.set(key, entry{pos: Pos{File: p.f.path, Line: lineno}})
	return nil
}

// splitLines splits on "\n", "\r\n" and "\r" (Python's universal newlines).
func splitLines(s string) []string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// inlineComment returns the offset of an inline comment (a ';' at the start
// of the line or after white space), or -1.
func inlineComment(line string) int {
	for i := 0; i < len(line); i++ {
		if line[i] != ';' {
			continue
		}
		if i == 0 {
			return 0
		}
		if r, _ := utf8.DecodeLastRuneInString(line[:i]); unicode.IsSpace(r) {
			return i
		}
	}
	return -1
}

// sectionHeader recognises "[name]" (the name runs to the last ']';
// anything after it is ignored, as Python does).
func sectionHeader(v string) (string, bool) {
	if !strings.HasPrefix(v, "[") {
		return "", false
	}
	end := strings.LastIndexByte(v, ']')
	if end < 2 {
		return "", false
	}
	return v[1:end], true
}

// splitOption splits "name = value" at the first '=' or ':'.
func splitOption(v string) (key, val string, ok bool) {
	i := strings.IndexAny(v, "=:")
	if i < 0 {
		return "", "", false
	}
	return strings.TrimSpace(v[:i]), strings.TrimSpace(v[i+1:]), true
}
