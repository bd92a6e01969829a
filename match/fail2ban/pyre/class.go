package pyre

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// class reads a character class "[...]".
func (p *translator) class() error {
	start := p.i
	p.i++
	var f classForms
	f.all("[")
	if p.i < len(p.s) && p.s[p.i] == '^' {
		p.i++
		f.all("^")
	}
	for items := 0; ; items++ {
		if p.i >= len(p.s) {
			p.i = start
			return p.errorf("unterminated character set")
		}
		if p.s[p.i] == ']' && items > 0 {
			p.i++
			break
		}
		last, err := p.classItem(&f)
		if err != nil {
			return err
		}
		if last {
			break
		}
	}
	f.all("]")
	p.emit3(f.asc.String(), f.uni.String(), f.net.String())
	return nil
}

// classForms is a character class being written in its three forms.
type classForms struct{ asc, uni, net strings.Builder }

func (f *classForms) add(asc, uni, net string) {
	f.asc.WriteString(asc)
	f.uni.WriteString(uni)
	f.net.WriteString(net)
}

func (f *classForms) all(s string) { f.add(s, s, s) }

// classItem translates one item of a class: a character, a category
// escape or a range. last tells that it consumed the closing "]" too (a
// "-" just before it is a literal).
func (p *translator) classItem(f *classForms) (last bool, err error) {
	var lo rune
	isCat := false
	if p.s[p.i] == '\\' {
		if p.i+1 >= len(p.s) {
			return false, p.errorf("bad escape (end of pattern)")
		}
		switch e := p.s[p.i+1]; e {
		case 'd', 'D', 's', 'S', 'w', 'W':
			f.add(categoryInside(e))
			p.i += 2
			isCat = true
		case 'A', 'Z', 'B':
			return false, p.errorf("bad escape \\%c", e)
		}
	}
	if !isCat {
		if lo, err = p.classChar(); err != nil {
			return false, err
		}
	}
	if p.i >= len(p.s) || p.s[p.i] != '-' {
		if !isCat {
			f.all(classLit(lo))
		}
		return false, nil
	}
	// A range, or a literal "-" before the closing bracket.
	if p.i+1 < len(p.s) && p.s[p.i+1] == ']' {
		if !isCat {
			f.all(classLit(lo))
		}
		f.all(`\-`)
		p.i += 2
		return true, nil
	}
	if isCat {
		return false, p.errorf("bad character range")
	}
	p.i++
	if p.i >= len(p.s) {
		return false, p.errorf("unterminated character set")
	}
	if p.s[p.i] == '\\' && p.i+1 < len(p.s) && strings.IndexByte("dDsSwW", p.s[p.i+1]) >= 0 {
		return false, p.errorf("bad character range")
	}
	hi, err := p.classChar()
	if err != nil {
		return false, err
	}
	if hi < lo {
		return false, p.errorf("bad character range")
	}
	f.all(classLit(lo) + "-" + classLit(hi))
	return false, nil
}

// classChar reads one character of a class, written or escaped.
func (p *translator) classChar() (rune, error) {
	if p.s[p.i] == '\\' {
		r, n, err := p.charEscape(true)
		if err != nil {
			return 0, err
		}
		p.i += n
		return r, nil
	}
	r, n := utf8.DecodeRuneInString(p.s[p.i:])
	p.i += n
	return r, nil
}

// Python's classes. In the ASCII form RE2's own \d \w \D \W are exact;
// \s needs \v and \x1c-\x1f added.
const (
	pySpaceASCII = `\t-\r\x1c-\x1f `
	pySpaceUni   = `\t-\r\x1c-\x1f\x{85}\p{Z}`
	pySpaceNet   = `\t-\r\x1c-\x1f\x85\p{Z}`
	pyWordUni    = `\p{L}\p{N}_`

	netWordBoundary    = `(?:(?<=[` + pyWordUni + `])(?![` + pyWordUni + `])|(?<![` + pyWordUni + `])(?=[` + pyWordUni + `]))`
	netNotWordBoundary = `(?:(?<=[` + pyWordUni + `])(?=[` + pyWordUni + `])|(?<![` + pyWordUni + `])(?![` + pyWordUni + `]))`
)

// categoryOutside returns the three forms of \d \D \w \W \s \S outside
// a class.
func categoryOutside(c byte) (asc, uni, net string) {
	switch c {
	case 'd':
		return `\d`, `\p{Nd}`, `\d`
	case 'D':
		return `\D`, `\P{Nd}`, `\D`
	case 'w':
		return `\w`, `[` + pyWordUni + `]`, `[` + pyWordUni + `]`
	case 'W':
		return `\W`, `[^` + pyWordUni + `]`, `[^` + pyWordUni + `]`
	case 's':
		return `[` + pySpaceASCII + `]`, `[` + pySpaceUni + `]`, `[` + pySpaceNet + `]`
	default: // 'S'
		return `[^` + pySpaceASCII + `]`, `[^` + pySpaceUni + `]`, `[^` + pySpaceNet + `]`
	}
}

// categoryInside returns the three forms of a category escape as part of
// a class (a union of ranges).
func categoryInside(c byte) (asc, uni, net string) {
	switch c {
	case 'd':
		return `\d`, `\p{Nd}`, `\d`
	case 'D':
		return `\D`, `\P{Nd}`, `\D`
	case 'w':
		return `\w`, pyWordUni, pyWordUni
	case 'W':
		return `\W`, notWordRanges, notWordRangesNet
	case 's':
		return pySpaceASCII, pySpaceUni, pySpaceNet
	default: // 'S': everything but Python's spaces
		return `\x00-\x08\x0e-\x1b!-\x{10FFFF}`, notSpaceRanges, notSpaceRangesNet
	}
}

// classLit writes r for use inside a class, in a form both RE2 and .NET
// read the same way.
func classLit(r rune) string {
	switch {
	case r < utf8.RuneSelf && (isASCIILetter(byte(r)) || isDigit(byte(r)) || r == ' ' || r == '_'):
		return string(r)
	case r < ' ' || r == 0x7f:
		return fmt.Sprintf(`\x%02x`, r)
	case r < utf8.RuneSelf:
		return `\` + string(r)
	default:
		return string(r)
	}
}
