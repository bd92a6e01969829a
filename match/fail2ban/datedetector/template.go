package datedetector

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/logjail/logjail/match/fail2ban/pyre"
)

// Template flags, as fail2ban sets them.
const (
	flagLineBegin = 8
	flagLineEnd   = 4
	flagWordBegin = 2
	flagWordEnd   = 1
)

// Where a template may start.
const (
	beginNone  = iota // no boundary
	beginWord         // at a word boundary (the default)
	beginStart        // {^LN-BEG}: at the line start, after up to two non-word characters
)

// Template kinds: how the date text becomes a time.
const (
	kindPattern   = iota // strptime-like fields
	kindEpoch            // seconds since 1970, with a fraction
	kindLongEpoch        // seconds, milliseconds or microseconds since 1970
	kindTAI64N           // @ and 24 hex digits
)

// template is one compiled date template.
type template struct {
	name    string
	pattern string // the datepattern it came from ("" for epoch templates)
	kind    uint8
	flags   uint8
	weight  float64
	re      *pyre.Regexp
	span    int // group whose span is what Python's match covers (0: the whole match)
	date    int // group of the date text (cut out of the line)
	value   int // group holding the epoch / TAI64N value
	fields  [numFields][]int
}

// Field indices of a pattern template.
const (
	fy = iota
	fY
	fm
	fB
	fb
	fd
	fH
	fI
	fp
	fM
	fS
	fA
	fa
	fw
	fj
	fU
	fW
	fz
	fZ
	numFields
)

var fieldNames = [numFields]string{
	fy: "y", fY: "Y", fm: "m", fB: "B", fb: "b", fd: "d", fH: "H", fI: "I", fp: "p",
	fM: "M", fS: "S", fA: "A", fa: "a", fw: "w", fj: "j", fU: "U", fW: "W", fz: "z", fZ: "Z",
}

// hasAlpha tells whether a pattern holds a directive of names (%a %A %b
// %B %p %c), which makes fail2ban match the whole template ignoring case.
func hasAlpha(p string) bool {
	for i := 1; i < len(p); i++ {
		if strings.IndexByte("aAbBpc", p[i]) >= 0 && p[i-1] == '%' && (i < 2 || p[i-2] != '%') {
			return true
		}
	}
	return false
}

// Pattern analysis, as fail2ban decides where a template needs word
// boundaries and whether it is anchored.

// cutGlobalFlags removes the first inline flag group "(?letters)".
func cutGlobalFlags(r string) (rest, flags string) {
	for i := 0; i+3 < len(r); i++ {
		if r[i] != '(' || r[i+1] != '?' {
			continue
		}
		j := i + 2
		for j < len(r) && r[j] >= 'a' && r[j] <= 'z' {
			j++
		}
		if j > i+2 && j < len(r) && r[j] == ')' {
			return r[:i] + r[j+1:], r[i : j+1]
		}
	}
	return r, ""
}

// flagGroupAt returns the length of an inline flag group "(?word)" at
// r[i:], or 0.
func flagGroupAt(r string, i int) int {
	if !strings.HasPrefix(r[i:], "(?") {
		return 0
	}
	j := i + 2
	for j < len(r) && isWordByte(r[j]) {
		j++
	}
	if j > i+2 && j < len(r) && r[j] == ')' {
		return j + 1 - i
	}
	return 0
}

func isWordByte(c byte) bool {
	return c == '_' || (c >= '0' && c <= '9') || (c|0x20 >= 'a' && c|0x20 <= 'z')
}

// startsBounded tells whether a pattern already says where it starts
// (^, (^, (?:^, or the ** marker), so no word boundary is added.
func startsBounded(r string) bool {
	n := 0
	for n < len(r) && r[n] == '(' {
		n++
	}
	for k := 0; k <= n; k++ {
		for _, withFlags := range []bool{false, true} {
			i := k
			if withFlags {
				f := flagGroupAt(r, i)
				if f == 0 {
					continue
				}
				i += f
			}
			rest := r[i:]
			if strings.HasPrefix(rest, "^") || strings.HasPrefix(strings.TrimLeft(rest, "("), "**") ||
				strings.HasPrefix(rest, "(^") || strings.HasPrefix(rest, "(?:^") {
				return true
			}
		}
	}
	return false
}

// endsBounded tells whether a pattern already says where it ends ($, $),
// \b, \s or the ** marker).
func endsBounded(r string) bool {
	unescaped := func(i int) bool { return i <= 0 || r[i-1] != '\\' }
	switch {
	case strings.HasSuffix(r, "$") && unescaped(len(r)-1):
		return true
	case strings.HasSuffix(r, "$)") && unescaped(len(r)-2):
		return true
	case (strings.HasSuffix(r, `\b`) || strings.HasSuffix(r, `\s`)) && unescaped(len(r)-2):
		return true
	}
	t := strings.TrimRight(r, ")")
	return strings.HasSuffix(t, "**") && unescaped(len(t)-2)
}

// hasCapture tells whether r has a capturing group of its own: "(" not
// escaped, not followed by "?" and not inside "(?(".
func hasCapture(r string) bool {
	for i := 0; i < len(r); i++ {
		if r[i] != '(' || (i+1 < len(r) && r[i+1] == '?') {
			continue
		}
		if i >= 1 && r[i-1] == '\\' {
			continue
		}
		if i >= 2 && r[i-2:i] == "(?" {
			continue
		}
		return true
	}
	return false
}

// wrapGroup puts the body of r (between leading flags/^ and a trailing $)
// into a capturing group, which becomes the date text.
func wrapGroup(r string) string {
	i := flagGroupAt(r, 0)
	if i < len(r) && r[i] == '^' {
		i++
	}
	i += flagGroupAt(r, i)
	j := len(r)
	if j > i && r[j-1] == '$' {
		j--
	}
	return r[:i] + "(" + r[i:j] + ")" + r[j:]
}

// lineAnchoredStart tells whether r starts at the line start: ^, (^ or
// (?:^ not followed by |, after an optional flag group.
func lineAnchoredStart(r string) bool {
	i := flagGroupAt(r, 0)
	rest := r[i:]
	if strings.HasPrefix(rest, "^") {
		return true
	}
	for _, p := range []string{"(^", "(?:^"} {
		if strings.HasPrefix(rest, p) && !strings.HasPrefix(rest[len(p):], "|") {
			return true
		}
	}
	return false
}

// lineAnchoredEnd tells whether r ends at the line end: $ or $) not after
// \ or |.
func lineAnchoredEnd(r string) bool {
	t := strings.TrimSuffix(r, ")")
	if !strings.HasSuffix(t, "$") {
		return false
	}
	i := len(t) - 1
	return i == 0 || (t[i-1] != '\\' && t[i-1] != '|')
}

// dropMarkers removes the ** markers that disable a word boundary.
func dropMarkers(r string) string {
	n := 0
	for n < len(r) && r[n] == '(' {
		n++
	}
	i := n + flagGroupAt(r, n)
	for i < len(r) && r[i] == '(' {
		i++
	}
	if strings.HasPrefix(r[i:], "**") {
		r = r[:i] + r[i+2:]
	}
	t := strings.TrimRight(r, ")")
	if strings.HasSuffix(t, "**") && (len(t) < 3 || t[len(t)-3] != '\\') {
		r = t[:len(t)-2] + r[len(t):]
	}
	return r
}

// Boundary expressions (Python syntax). wordStart / wordEnd are what
// fail2ban adds as look-aheads; the consuming forms mean the same for the
// date's own span and run on RE2.
const (
	lookWordStart = `(?=^|\b|\W)`
	lookWordEnd   = `(?=\b|\W|$)`
	eatWordStart  = `(?:^|\b|\W)`
	eatWordEnd    = `(?:\b|\W|\Z)`
	lineStart     = `^(?:\W{0,2})?`
)

// build makes a template from a regular expression (Python syntax, %
// directives already expanded), as fail2ban's DateTemplate.setRegex does.
func build(name, regex string, begin int, end bool) (*template, error) {
	t := &template{name: name, weight: 1}
	regex = strings.TrimSpace(regex)
	regex, gflags := cutGlobalFlags(regex)
	boundBegin := begin != beginNone && !startsBounded(regex)
	boundEnd := end && !endsBounded(regex)
	if !hasCapture(regex) {
		regex = wrapGroup(regex)
	}
	py, eat := regex, regex // with look-aheads / with consuming boundaries
	eatWrapped := false
	if boundBegin {
		if begin == beginWord {
			t.flags |= flagWordBegin
			py = lookWordStart + py
			eat = eatWordStart + "(" + eat
			eatWrapped = true
		} else {
			t.flags |= flagLineBegin
			py = lineStart + py
			eat = lineStart + eat
			if !strings.HasPrefix(t.name, "{^LN-BEG}") {
				t.name = "{^LN-BEG}" + t.name
			}
		}
	}
	if boundEnd {
		t.flags |= flagWordEnd
		py += lookWordEnd
		if !eatWrapped {
			eat = "(" + eat
			eatWrapped = true
		}
		eat += ")" + eatWordEnd
	} else if eatWrapped {
		eat += ")"
	}
	if t.flags&flagLineBegin == 0 && lineAnchoredStart(py) {
		t.flags |= flagLineBegin
	}
	if t.flags&flagLineEnd == 0 && lineAnchoredEnd(py) {
		t.flags |= flagLineEnd
	}
	py, eat = dropMarkers(py), dropMarkers(eat)
	py, eat = gflags+py, gflags+eat
	re, err := compileCached(uniqueNames(eat))
	if err == nil && re.Engine() == pyre.EngineRE2 {
		t.re = re
		if eatWrapped {
			t.span, t.date = 1, 2
		} else {
			t.span, t.date = 0, 1
		}
	} else {
		if re, err = compileCached(uniqueNames(py)); err != nil {
			return nil, err
		}
		t.re, t.span, t.date = re, 0, 1
	}
	if t.re.NumSubexp() < t.date {
		return nil, errors.New("no date group")
	}
	names := t.re.SubexpNames()
	for f, fname := range fieldNames {
		for i, n := range names {
			if i > 0 && baseName(n) == fname {
				t.fields[f] = append(t.fields[f], i)
			}
		}
	}
	return t, nil
}

// uniqueNames renames repeated field groups (?P<m>…) to m__2, m__3… so a
// pattern may hold a directive in several alternatives.
func uniqueNames(r string) string {
	seen := map[string]int{}
	var b strings.Builder
	for {
		i := strings.Index(r, "(?P<")
		if i < 0 {
			b.WriteString(r)
			return b.String()
		}
		j := strings.IndexByte(r[i:], '>')
		if j < 0 {
			b.WriteString(r)
			return b.String()
		}
		name := r[i+4 : i+j]
		seen[name]++
		b.WriteString(r[:i+4])
		if n := seen[name]; n > 1 {
			name += "__" + strconv.Itoa(n)
		}
		b.WriteString(name)
		r = r[i+j:]
	}
}

func baseName(n string) string {
	if i := strings.Index(n, "__"); i > 0 {
		return n[:i]
	}
	return n
}

var cache sync.Map // expression → *pyre.Regexp

func compileCached(expr string) (*pyre.Regexp, error) {
	if v, ok := cache.Load(expr); ok {
		return v.(*pyre.Regexp), nil
	}
	re, err := pyre.Compile(expr, pyre.Options{})
	if err != nil {
		return nil, err
	}
	v, _ := cache.LoadOrStore(expr, re)
	return v.(*pyre.Regexp), nil
}

// newPattern makes a template from a datepattern (fail2ban's
// DatePatternRegex).
func newPattern(pattern string, now time.Time) (*template, error) {
	p := pattern
	begin, end := beginWord, true
	if strings.HasPrefix(p, "{UNB}") {
		p = p[len("{UNB}"):]
		begin, end = beginNone, false
	}
	if begin != beginNone && strings.HasPrefix(p, "{^LN-BEG}") {
		p = p[len("{^LN-BEG}"):]
		begin = beginStart
	}
	regex, err := expand(p, now)
	if err != nil {
		return nil, fmt.Errorf("datepattern %q: %w", pattern, err)
	}
	if hasAlpha(p) {
		regex = "(?iu)" + regex
	}
	t, err := build(p, regex, begin, end)
	if err != nil {
		return nil, fmt.Errorf("datepattern %q: %w", pattern, err)
	}
	t.pattern = pattern
	return t, nil
}

const (
	epochRE     = `\d{10,11}\b(?:\.\d{3,6})?`
	longEpochRE = `\d{10,11}(?:\d{3}(?:\.\d{1,6}|\d{3})?)?`
)

// newEpoch makes the Epoch / LEpoch templates: anywhere a Unix time may
// stand (line start, "[" at the line start, "audit(") or, with lineBegin,
// at the line start only.
func newEpoch(lineBegin, long bool) (*template, error) {
	num := epochRE
	name := "Epoch"
	kind := uint8(kindEpoch)
	if long {
		num, name, kind = longEpochRE, "LongEpoch", kindLongEpoch
	}
	var t *template
	var err error
	if lineBegin {
		t, err = build(name, "("+num+")", beginStart, true)
	} else {
		// The places an epoch may start are look-behinds in fail2ban;
		// consuming them changes nothing for the date's own span.
		t, err = build(name, `(?:^|^\[|\baudit\()(`+num+`)`, beginNone, true)
		if err == nil {
			t.span = t.date
		}
	}
	if err != nil {
		return nil, err
	}
	t.kind, t.value = kind, t.date
	return t, nil
}

// newEpochPattern makes a template from a datepattern holding {EPOCH} or
// {LEPOCH}.
func newEpochPattern(pattern string, long bool) (*template, error) {
	num := epochRE
	kind := uint8(kindEpoch)
	if long {
		num, kind = longEpochRE, kindLongEpoch
	}
	var b strings.Builder
	for i := 0; i < len(pattern); {
		if pattern[i] == '{' && (i == 0 || pattern[i-1] != '\\') {
			rest := strings.ToUpper(pattern[i:])
			if strings.HasPrefix(rest, "{EPOCH}") {
				b.WriteString("(" + num + ")")
				i += len("{EPOCH}")
				continue
			}
			if strings.HasPrefix(rest, "{LEPOCH}") {
				b.WriteString("(" + num + ")")
				i += len("{LEPOCH}")
				continue
			}
		}
		b.WriteByte(pattern[i])
		i++
	}
	t, err := build(pattern, "("+b.String()+")", beginWord, true)
	if err != nil {
		return nil, err
	}
	t.kind, t.value, t.pattern = kind, t.date+1, ""
	return t, nil
}

// newTAI64N makes the TAI64N template.
func newTAI64N(lineBegin bool) (*template, error) {
	begin := beginNone
	if lineBegin {
		begin = beginStart
	}
	t, err := build("TAI64N", "@[0-9a-f]{24}", begin, true)
	if err != nil {
		return nil, err
	}
	t.kind, t.value = kindTAI64N, t.date
	return t, nil
}
