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
	f := &iniFile{path: path, defaults: newSection(defaultSection)}
	byName := map[string]*section{}
	type pending struct {
		sec   *section
		key   string
		lines []string
	}
	var (
		cur         *section // nil before the first header
		curName     string
		opt         *pending // the option that continuation lines extend
		indentLevel int
		added       = map[string]bool{} // "section" and "section\x00option" seen in this file
		all         []*pending
	)
	errAt := func(line int, format string, args ...any) error {
		return &Error{Pos: Pos{File: path, Line: line}, Msg: fmt.Sprintf(format, args...)}
	}
	lines := splitLines(string(data))
	for i, line := range lines {
		lineno := i + 1
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
			if commentStart < 0 && cur != nil && opt != nil {
				opt.lines = append(opt.lines, "")
			}
			continue
		}
		indent := 0
		for _, r := range line {
			if !unicode.IsSpace(r) {
				break
			}
			indent++
		}
		if cur != nil && opt != nil && indent > indentLevel {
			opt.lines = append(opt.lines, value)
			continue
		}
		indentLevel = indent
		if name, ok := sectionHeader(value); ok {
			switch {
			case name == defaultSection:
				cur = f.defaults
			case byName[name] != nil:
				if added[name] {
					return nil, errAt(lineno, "section [%s] already exists in this file", name)
				}
				cur = byName[name]
			default:
				cur = newSection(name)
				byName[name] = cur
				f.sections = append(f.sections, cur)
			}
			added[name] = true
			curName = name
			opt = nil
			continue
		}
		if cur == nil {
			return nil, errAt(lineno, "option outside of any section: %q", value)
		}
		key, val, ok := splitOption(value)
		if !ok {
			return nil, errAt(lineno, "not a section header, option or comment: %q", value)
		}
		if key == "" {
			return nil, errAt(lineno, "option without a name: %q", value)
		}
		key = strings.ToLower(key)
		if added[curName+"\x00"+key] {
			return nil, errAt(lineno, "option %q already set in section [%s] of this file", key, curName)
		}
		added[curName+"\x00"+key] = true
		opt = &pending{sec: cur, key: key, lines: []string{val}}
		all = append(all, opt)
		cur.set(key, entry{pos: Pos{File: path, Line: lineno}})
	}
	for _, p := range all {
		e := p.sec.vals[p.key]
		e.value = strings.TrimRightFunc(strings.Join(p.lines, "\n"), unicode.IsSpace)
		p.sec.vals[p.key] = e
	}
	return f, nil
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
