package pyre

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// translation is the result of reading a Python pattern: the same pattern
// in Go's RE2 syntax (when it has no construct RE2 lacks) and in the .NET
// syntax of regexp2.
//
// Python's \d \w \s \b are Unicode-aware; RE2's are ASCII (and RE2's \s
// lacks \v and \x1c-\x1f, which Python's has). So there are two RE2
// forms: asc, exact on ASCII text, with RE2's fast classes; uni, exact on
// any text, with Unicode classes — except \b and \B, which RE2 cannot
// write for Unicode words, so uniBT sends non-ASCII text to the
// backtracking engine.
type translation struct {
	asc       string
	uni       string
	net       string
	needsBT   bool     // a construct only the backtracking engine has
	uniBT     bool     // the Unicode form needs the backtracking engine
	why       string   // the first such construct, for messages
	names     []string // Python group number → name ("" when unnamed); [0] = ""
	maxRepeat int      // the largest counted repetition
}

// cutBuilder is a strings.Builder that can cut its end.
type cutBuilder struct{ b []byte }

func (c *cutBuilder) WriteString(s string) { c.b = append(c.b, s...) }
func (c *cutBuilder) Len() int             { return len(c.b) }
func (c *cutBuilder) Cut(n int)            { c.b = c.b[:n] }
func (c *cutBuilder) String() string       { return string(c.b) }

// btGroupName names an unnamed group for regexp2, which numbers named
// groups after unnamed ones: naming every group keeps Python's numbering.
func btGroupName(i int) string { return "__g" + strconv.Itoa(i) }

type translator struct {
	s     string
	i     int
	asc   cutBuilder
	uni   strings.Builder
	net   strings.Builder
	t     translation
	lines bool
	// Flag state: multiline per open group (Python's local flags are
	// scoped to their group, as RE2's are).
	mline  bool
	stack  []bool
	open   []int // group numbers of open capturing groups (0 for others)
	byName map[string]int
}

// emit writes re2 to both RE2 forms and net to the .NET form.
func (p *translator) emit(re2, net string) { p.emit3(re2, re2, net) }

func (p *translator) emit3(asc, uni, net string) {
	p.asc.WriteString(asc)
	p.uni.WriteString(uni)
	p.net.WriteString(net)
}

func (p *translator) both(s string) { p.emit3(s, s, s) }

func (p *translator) fallback(why string) {
	if !p.t.needsBT {
		p.t.needsBT, p.t.why = true, why
	}
}

func (p *translator) errorf(format string, args ...any) error {
	return fmt.Errorf("at offset %d: %s", p.i, fmt.Sprintf(format, args...))
}

// translate reads the Python pattern src. multiline is re.MULTILINE; lines
// tells whether the searched text may hold more than one line (it always
// ends with a newline or holds none), which decides how a non-multiline $
// is written for RE2.
func translate(src string, multiline, lines bool) (translation, error) {
	p := &translator{s: src, lines: lines, mline: multiline, byName: map[string]int{}}
	p.t.names = []string{""}
	if multiline {
		p.asc.WriteString("(?m)")
		p.uni.WriteString("(?m)")
	}
	// Global flags: only at the start of the pattern (Python 3.11).
	for strings.HasPrefix(p.s[p.i:], "(?") {
		j := p.i + 2
		for j < len(p.s) && strings.IndexByte("aiLmsux", p.s[j]) >= 0 {
			j++
		}
		if j == p.i+2 || j >= len(p.s) || p.s[j] != ')' {
			break
		}
		if err := p.globalFlags(p.s[p.i+2 : j]); err != nil {
			return p.t, err
		}
		p.i = j + 1
	}
	if err := p.seq(0); err != nil {
		return p.t, err
	}
	p.t.asc, p.t.uni, p.t.net = p.asc.String(), p.uni.String(), p.net.String()
	return p.t, nil
}

func (p *translator) globalFlags(f string) error {
	var re2, net string
	for _, c := range f {
		switch c {
		case 'i', 's':
			re2 += string(c)
			net += string(c)
		case 'm':
			p.mline = true
			re2 += "m"
			net += "m"
		case 'a', 'u':
			// ASCII / Unicode classes: RE2's are ASCII, Python 3's and
			// .NET's Unicode; neither flag has an equivalent to write.
		case 'x':
			return errors.New("the verbose flag (?x) is not supported")
		case 'L':
			return errors.New("the locale flag (?L) is not supported")
		}
	}
	if re2 != "" {
		p.emit("(?"+re2+")", "(?"+net+")")
	}
	return nil
}

// seq reads until the end of the pattern (depth 0) or the ")" closing the
// current group.
func (p *translator) seq(depth int) error {
	atomStart := true // nothing to repeat yet
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case ')':
			if depth == 0 {
				return p.errorf("unbalanced parenthesis")
			}
			return nil
		case '|':
			p.i++
			p.both("|")
			atomStart = true
			continue
		case '*', '+', '?', '{':
			var err error
			if atomStart, err = p.repeat(c, atomStart); err != nil {
				return err
			}
			continue
		}
		repeatable, err := p.atom(depth)
		if err != nil {
			return err
		}
		atomStart = !repeatable
	}
	if depth > 0 {
		return p.errorf("missing ), unterminated subpattern")
	}
	return nil
}

// repeat translates a repetition operator (c is '*', '+', '?' or '{') and
// what may follow it; a '{' that starts no counted repetition is a literal.
// It returns whether what follows starts a new atom (nothing to repeat).
func (p *translator) repeat(c byte, atomStart bool) (bool, error) {
	if c == '{' {
		lo, hi, n, ok := quantifier(p.s[p.i:])
		if !ok {
			p.i++
			p.both(`\{`)
			return false, nil
		}
		if atomStart {
			return true, p.errorf("nothing to repeat")
		}
		if l, h := atoiOr(lo), atoiOr(hi); hi != "" && h < l {
			return true, p.errorf("min repeat greater than max repeat")
		}
		p.i += n
		p.counted(lo, hi)
	} else {
		if atomStart {
			return true, p.errorf("nothing to repeat")
		}
		p.i++
		p.both(string(c))
	}
	if p.i < len(p.s) && p.s[p.i] == '?' {
		p.i++
		p.both("?")
	} else if p.i < len(p.s) && p.s[p.i] == '+' {
		return true, p.errorf("possessive quantifiers are not supported")
	}
	if p.i < len(p.s) && strings.IndexByte("*+?", p.s[p.i]) >= 0 {
		return true, p.errorf("multiple repeat")
	}
	if p.i < len(p.s) && p.s[p.i] == '{' {
		if _, _, _, ok := quantifier(p.s[p.i:]); ok {
			return true, p.errorf("multiple repeat")
		}
	}
	return true, nil // a repeated atom cannot be repeated again
}

// counted writes the counted repetition {lo,hi} in RE2's syntax and notes
// its largest bound.
func (p *translator) counted(lo, hi string) {
	var q string
	switch {
	case lo == hi:
		q = "{" + lo + "}"
	case hi == "":
		q = "{" + lo + ",}"
	default:
		q = "{" + lo + "," + hi + "}"
	}
	for _, v := range []string{lo, hi} {
		if k, err := strconv.Atoi(v); err == nil && k > p.t.maxRepeat {
			p.t.maxRepeat = k
		}
	}
	p.both(q)
}

// quantifier reads a Python counted repetition at the start of s: {m},
// {m,}, {,n}, {m,n}, {,}. It returns the bounds as written (lo defaults to
// 0, hi empty when unbounded), its length and whether it is one; otherwise
// "{" is a literal.
func quantifier(s string) (lo, hi string, n int, ok bool) {
	j := 1
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	lo = s[1:j]
	if j < len(s) && s[j] == ',' {
		k := j + 1
		for k < len(s) && isDigit(s[k]) {
			k++
		}
		hi = s[j+1 : k]
		j = k
		if j >= len(s) || s[j] != '}' {
			return "", "", 0, false
		}
		if lo == "" {
			lo = "0"
		}
		return trimZeros(lo), trimZeros(hi), j + 1, true
	}
	if j >= len(s) || s[j] != '}' || lo == "" {
		return "", "", 0, false
	}
	lo = trimZeros(lo)
	return lo, lo, j + 1, true
}

func atoiOr(s string) int {
	v, _ := strconv.Atoi(s)
	return v
}

func trimZeros(s string) string {
	if s == "" {
		return s
	}
	t := strings.TrimLeft(s, "0")
	if t == "" {
		return "0"
	}
	return t
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isASCIILetter(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }

// atom reads one element at p.i and reports whether a quantifier may
// follow it.
func (p *translator) atom(depth int) (bool, error) {
	c := p.s[p.i]
	switch c {
	case '(':
		return p.group(depth)
	case '[':
		return true, p.class()
	case '\\':
		return p.escape()
	case '^':
		p.i++
		p.both("^")
		return false, nil
	case '$':
		p.i++
		switch {
		case p.mline:
			p.emit("$", "$")
		case p.lines:
			// Python's $ matches at the end or before a final newline.
			p.emit(`(?:\n?\z)`, "$")
		default:
			// The text holds at most one newline, at its end.
			p.emit(`(?m:$)`, "$")
		}
		return false, nil
	case '.':
		p.i++
		p.both(".")
		return true, nil
	}
	// A literal character (one rune).
	r, n := utf8.DecodeRuneInString(p.s[p.i:])
	p.i += n
	p.literal(r)
	return true, nil
}

// literal writes rune r as a literal outside a class.
func (p *translator) literal(r rune) {
	switch {
	case r < utf8.RuneSelf && strings.ContainsRune(`\.+*?()|[]{}^$`, r):
		p.both(`\` + string(r))
	case r == utf8.RuneError:
		p.emit(`\x{FFFD}`, `\uFFFD`)
	case r < ' ' || r == 0x7f:
		p.both(fmt.Sprintf(`\x%02x`, r))
	default:
		p.both(string(r))
	}
}

// escape reads a backslash sequence outside a class.
func (p *translator) escape() (bool, error) {
	if p.i+1 >= len(p.s) {
		return false, p.errorf("bad escape (end of pattern)")
	}
	c := p.s[p.i+1]
	switch c {
	case 'A':
		p.i += 2
		p.both(`\A`)
		return false, nil
	case 'Z':
		p.i += 2
		p.both(`\z`)
		return false, nil
	case 'b', 'B':
		// .NET's \b knows other word characters than Python's: write
		// Python's with look-arounds.
		p.i += 2
		net := netWordBoundary
		if c == 'B' {
			net = netNotWordBoundary
		}
		p.emit3(`\`+string(c), `\`+string(c), net)
		p.t.uniBT = true
		return false, nil
	case 'd', 'D', 's', 'S', 'w', 'W':
		p.i += 2
		a, u, n := categoryOutside(c)
		p.emit3(a, u, n)
		return true, nil
	}
	if isDigit(c) && c != '0' {
		// A group reference, unless three octal digits.
		if p.i+3 < len(p.s) && isOct(c) && isOct(p.s[p.i+2]) && isOct(p.s[p.i+3]) {
			v, _ := strconv.ParseUint(p.s[p.i+1:p.i+4], 8, 32)
			if v > 0o377 {
				return false, p.errorf("octal escape value outside of range 0-0o377")
			}
			p.i += 4
			p.literal(rune(v))
			return true, nil
		}
		j := p.i + 2
		if j < len(p.s) && isDigit(p.s[j]) {
			j++
		}
		num, _ := strconv.Atoi(p.s[p.i+1 : j])
		if num >= len(p.t.names) {
			return false, p.errorf("invalid group reference %d", num)
		}
		if p.isOpen(num) {
			return false, p.errorf("cannot refer to an open group")
		}
		p.i = j
		p.fallback(`back-reference \` + strconv.Itoa(num))
		p.emit(`(?s:.*)`, `\k<`+p.btName(num)+`>`)
		return true, nil
	}
	r, n, err := p.charEscape(false)
	if err != nil {
		return false, err
	}
	p.i += n
	p.literal(r)
	return true, nil
}

func isOct(c byte) bool { return c >= '0' && c <= '7' }

// charEscape reads an escape at p.i that stands for one character and
// returns it with the length read. In a class, \b is a backspace.
func (p *translator) charEscape(inClass bool) (rune, int, error) {
	s := p.s[p.i:]
	c := s[1]
	switch c {
	case 'a':
		return '\a', 2, nil
	case 'f':
		return '\f', 2, nil
	case 'n':
		return '\n', 2, nil
	case 'r':
		return '\r', 2, nil
	case 't':
		return '\t', 2, nil
	case 'v':
		return '\v', 2, nil
	case '\\':
		return '\\', 2, nil
	case 'b':
		if inClass {
			return '\b', 2, nil
		}
	case 'x', 'u', 'U':
		w := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
		if len(s) < 2+w {
			return 0, 0, p.errorf("incomplete escape \\%c", c)
		}
		v, err := strconv.ParseUint(s[2:2+w], 16, 32)
		if err != nil || v > utf8.MaxRune {
			return 0, 0, p.errorf("bad escape \\%c", c)
		}
		return rune(v), 2 + w, nil
	case '0':
		j := 2
		for j < len(s) && j < 4 && isOct(s[j]) {
			j++
		}
		v, _ := strconv.ParseUint("0"+s[2:j], 8, 32)
		return rune(v), j, nil
	}
	if inClass && isOct(c) {
		j := 2
		for j < len(s) && j < 4 && isOct(s[j]) {
			j++
		}
		v, _ := strconv.ParseUint(s[1:j], 8, 32)
		if v > 0o377 {
			return 0, 0, p.errorf("octal escape value outside of range 0-0o377")
		}
		return rune(v), j, nil
	}
	if c < utf8.RuneSelf && (isASCIILetter(c) || isDigit(c)) {
		return 0, 0, p.errorf("bad escape \\%c", c)
	}
	r, n := utf8.DecodeRuneInString(s[1:])
	return r, 1 + n, nil
}
