package fastdate

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Pattern operations.
const (
	opLit      = iota // one literal byte
	opSpace           // one or more blanks
	opYear            // %Y: four digits
	opYear2           // %y: two digits, 69-99 → 19xx, else 20xx
	opMonth           // %m: 1-2 digits
	opDay             // %d %e: optional blank, 1-2 digits
	opMonName         // %b %B %h: month name
	opWeekday         // %a %A: weekday name (not checked)
	opHour            // %H %k: optional blank, 1-2 digits, 0-23
	opHour12          // %I %l: optional blank, 1-2 digits, 1-12
	opMinute          // %M
	opSecond          // %S
	opFrac            // %f: digits of a fraction of a second
	opZone            // %z: Z, UTC, GMT, ±hh[:mm]
	opZoneName        // %Z: Z or 1-5 letters; UTC/GMT/UT → UTC, others → the Finder's location
	opAMPM            // %p: AM or PM
	opYDay            // %j: day of year
	opEpoch           // %s: Unix seconds
)

type pitem struct {
	op  uint8
	lit byte
}

// pattern is a compiled datepattern.
type pattern struct {
	items  []pitem
	unb    bool // {UNB}: no word boundary checks
	noYear bool
	noDate bool
	dayOne bool // month without day: first of the month
}

// NewPatternFinder returns a Finder for a fail2ban-style datepattern:
// strftime directives (%Y %y %m %d %e %b %B %h %a %A %H %k %I %l %M %S %f
// %z %Z %p %j %s %T %%, also in the %Ex form; a month name may end with
// an abbreviation's dot, "sept."; %Z sets the offset of the abbreviations
// ZoneAbbrev knows), literal bytes (a backslash
// quotes the next one), blanks matching one or more blanks, and the
// prefixes "^" (at line start), "{^LN-BEG}" (at line start after
// non-alphanumeric bytes, and a syslog priority, only) and "{UNB}" (no word boundaries). The values
// "Epoch", "TAI64N" and "ISO8601" select those built-in formats. Regular
// expression syntax is not supported. "{^LN-BEG}" alone anchors the
// built-in formats.
//
// A datepattern of several lines lists alternatives, each line a pattern
// as above (blank lines are skipped): the date that starts first in the
// line wins, and of two starting at the same byte the one listed first.
// That is the built-in formats' rule (the first date in the line), so a
// date the program writes before any client text cannot be displaced by
// a date in that text; anchor ("^") the alternatives that must not be
// looked for where a client's text comes first.
func NewPatternFinder(pat string, loc *time.Location) (*Finder, error) {
	if strings.Contains(pat, "\n") {
		return newAlternatives(pat, loc)
	}
	f := NewFinder(loc)
	p := &pattern{}
	rest := pat
	for {
		switch {
		case strings.HasPrefix(rest, "{^LN-BEG}"):
			f.anchor, rest = anchorLnBeg, rest[len("{^LN-BEG}"):]
			continue
		case strings.HasPrefix(rest, "^"):
			f.anchor, rest = anchorStart, rest[1:]
			continue
		case strings.HasPrefix(rest, "{UNB}"):
			p.unb, rest = true, rest[len("{UNB}"):]
			continue
		}
		break
	}
	switch rest {
	case "":
		if f.anchor == anchorLnBeg {
			// "{^LN-BEG}" alone, as fail2ban's: the built-in formats,
			// only at the line's start.
			return f, nil
		}
	case "Epoch":
		f.mask = 1 << fmtEpoch
		return f, nil
	case "TAI64N":
		f.mask = 1 << fmtTAI64N
		return f, nil
	case "ISO8601":
		f.mask = maskISO
		return f, nil
	}
	if err := p.compile(rest); err != nil {
		return nil, fmt.Errorf("dates: datepattern %q: %w", pat, err)
	}
	f.pat = p
	return f, nil
}

// newAlternatives returns a Finder for a datepattern of several lines.
func newAlternatives(pat string, loc *time.Location) (*Finder, error) {
	f := NewFinder(loc)
	for _, line := range strings.Split(pat, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		a, err := NewPatternFinder(line, loc)
		if err != nil {
			return nil, err
		}
		f.alts = append(f.alts, a)
	}
	if len(f.alts) == 0 {
		return nil, fmt.Errorf("dates: datepattern %q: no pattern", pat)
	}
	f.mask = 0
	return f, nil
}

func (p *pattern) compile(s string) error {
	var seen [256]bool
	for i := 0; i < len(s); i++ {
		var err error
		switch c := s[i]; c {
		case '%':
			i, err = p.directive(s, i+1, &seen)
		case '\\':
			i, err = p.escape(s, i+1)
		case ' ', '\t':
			p.space()
		case '(', ')', '|', '*', '+', '?', '{', '}':
			return fmt.Errorf("regular expression syntax %q is not supported (quote it with a backslash)", c)
		default:
			p.items = append(p.items, pitem{op: opLit, lit: c})
		}
		if err != nil {
			return err
		}
	}
	return p.check(&seen)
}

// directives maps a strftime directive to its items and the directive it
// counts as in check.
var directives = map[byte]struct {
	items []pitem
	as    byte
}{
	'Y': {[]pitem{{op: opYear}}, 'Y'},
	'y': {[]pitem{{op: opYear2}}, 'y'},
	'm': {[]pitem{{op: opMonth}}, 'm'},
	'd': {[]pitem{{op: opDay}}, 'd'},
	'e': {[]pitem{{op: opDay}}, 'e'},
	'b': {[]pitem{{op: opMonName}}, 'm'},
	'B': {[]pitem{{op: opMonName}}, 'm'},
	'h': {[]pitem{{op: opMonName}}, 'm'},
	'a': {[]pitem{{op: opWeekday}}, 'a'},
	'A': {[]pitem{{op: opWeekday}}, 'A'},
	'H': {[]pitem{{op: opHour}}, 'H'},
	'k': {[]pitem{{op: opHour}}, 'H'},
	'I': {[]pitem{{op: opHour12}}, 'H'},
	'l': {[]pitem{{op: opHour12}}, 'H'},
	'M': {[]pitem{{op: opMinute}}, 'M'},
	'S': {[]pitem{{op: opSecond}}, 'S'},
	'f': {[]pitem{{op: opFrac}}, 'f'},
	'z': {[]pitem{{op: opZone}}, 'z'},
	'Z': {[]pitem{{op: opZoneName}}, 'Z'},
	'p': {[]pitem{{op: opAMPM}}, 'p'},
	'j': {[]pitem{{op: opYDay}}, 'j'},
	's': {[]pitem{{op: opEpoch}}, 's'},
	'T': {[]pitem{{op: opHour}, {op: opLit, lit: ':'}, {op: opMinute}, {op: opLit, lit: ':'}, {op: opSecond}}, 'H'},
}

// directive adds the items of the directive at s[i:] (after its "%") and
// returns the index of its last byte.
func (p *pattern) directive(s string, i int, seen *[256]bool) (int, error) {
	if i < len(s) && s[i] == 'E' && i+1 < len(s) && s[i+1] == 'x' {
		i += 2 // %ExY, %Exb...: same as %Y, %b
	}
	if i >= len(s) {
		return i, errors.New("pattern ends with an incomplete % directive")
	}
	if s[i] == '%' {
		p.items = append(p.items, pitem{op: opLit, lit: '%'})
		return i, nil
	}
	d, ok := directives[s[i]]
	if !ok {
		return i, fmt.Errorf("unknown directive %%%c", s[i])
	}
	p.items = append(p.items, d.items...)
	seen[d.as] = true
	return i, nil
}

// escape adds the escape at s[i:] (after its backslash): \s a blank, any
// other non-alphanumeric byte itself.
func (p *pattern) escape(s string, i int) (int, error) {
	if i >= len(s) {
		return i, errors.New("pattern ends with a backslash")
	}
	switch e := s[i]; {
	case e == 's':
		p.space()
	case class[e]&cAlnum != 0:
		return i, fmt.Errorf("unsupported escape \\%c", e)
	default:
		p.items = append(p.items, pitem{op: opLit, lit: e})
	}
	return i, nil
}

// space adds one blank item (blanks in a row are one).
func (p *pattern) space() {
	if n := len(p.items); n == 0 || p.items[n-1].op != opSpace {
		p.items = append(p.items, pitem{op: opSpace})
	}
}

// check refuses patterns that cannot give a date, and notes what the
// date takes from now.
func (p *pattern) check(seen *[256]bool) error {
	hasMonth, hasDay, hasYDay := seen['m'], seen['d'] || seen['e'], seen['j']
	switch {
	case seen['s']:
	case hasDay && !hasMonth:
		return errors.New("day without a month directive (%m or %b)")
	case seen['Y'] || seen['y']:
		if !hasMonth && !hasYDay {
			return errors.New("year without a month (%m, %b) or day of year (%j)")
		}
	case !hasMonth && !hasYDay && !seen['H']:
		return errors.New("no date or time directive")
	}
	p.noYear = !seen['Y'] && !seen['y'] && !seen['s']
	p.noDate = !hasMonth && !hasYDay && !seen['s']
	p.dayOne = hasMonth && !hasDay
	return nil
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// numUpTo reads 1 to max digits at s[i:], after one optional blank when
// blank is set; it returns the value and the end, or -1.
func numUpTo(s string, i, max int, blank bool) (int, int) {
	if blank && i < len(s) && s[i] == ' ' {
		i++
	}
	v, j := 0, i
	for j < len(s) && j-i < max && isDigit(s[j]) {
		v = v*10 + int(s[j]-'0')
		j++
	}
	if j == i {
		return 0, -1
	}
	return v, j
}

// matchAt matches the pattern at s[i:] and returns the end, or -1.
func (p *pattern) matchAt(s string, i int, fl *fields) int {
	*fl = fields{noYear: p.noYear, noDate: p.noDate}
	if p.dayOne {
		fl.day = 1
	}
	var v int
	for k, it := range p.items {
		switch it.op {
		case opLit:
			if i >= len(s) || s[i] != it.lit {
				return -1
			}
			i++
		case opSpace:
			if i >= len(s) || !isBlank(s[i]) {
				return -1
			}
			for i < len(s) && isBlank(s[i]) {
				i++
			}
		case opYear, opMonth, opDay, opHour, opHour12, opMinute, opSecond, opYDay:
			n := &numOps[it.op]
			if v, i = numUpTo(s, i, n.digits, n.blank); i < 0 || v < n.lo || v > n.hi {
				return -1
			}
			*fl.number(it.op) = v
		case opYear2:
			v, ok := num(s, i, 2)
			if !ok {
				return -1
			}
			i += 2
			if v < 69 {
				v += 100
			}
			fl.year = 1900 + v
		case opMonName:
			if fl.month, i = parseMonthName(s, i); fl.month == 0 {
				return -1
			}
			if i < len(s) && s[i] == '.' && (k+1 == len(p.items) || p.items[k+1] != pitem{op: opLit, lit: '.'}) {
				i++ // an abbreviation's dot, as some locales write it: "sept."
			}
		case opWeekday:
			if i = parseWeekday(s, i); i == 0 {
				return -1
			}
		case opFrac:
			if i >= len(s) || !isDigit(s[i]) {
				return -1
			}
			i = fracDigits(s, i, fl)
		case opZone:
			i = matchZone(s, i, fl)
		case opZoneName:
			i = matchZoneName(s, i, fl)
		case opAMPM:
			i = matchAMPM(s, i, fl)
		case opEpoch:
			if v, i = numUpTo(s, i, 12, false); i < 0 {
				return -1
			}
			fl.unix, fl.unixSec = true, int64(v)
			if k+1 == len(p.items) || p.items[k+1].op != opLit {
				i = parseFrac(s, i, fl)
			}
		}
		if i < 0 {
			return -1
		}
	}
	return i
}

// numOps describes the ops that read a number into a field: at most
// digits digits, after an optional blank when blank, within [lo, hi].
var numOps = [opEpoch + 1]struct {
	digits int
	blank  bool
	lo, hi int
}{
	opYear:   {4, false, 1000, 9999},
	opMonth:  {2, false, 1, 12},
	opDay:    {2, true, 1, 31},
	opHour:   {2, true, 0, 23},
	opHour12: {2, true, 1, 12},
	opMinute: {2, false, 0, 59},
	opSecond: {2, false, 0, 60},
	opYDay:   {3, false, 1, 366},
}

// number returns the field a numOps op sets.
func (fl *fields) number(op uint8) *int {
	switch op {
	case opYear:
		return &fl.year
	case opMonth:
		return &fl.month
	case opDay:
		return &fl.day
	case opHour, opHour12:
		return &fl.hour
	case opMinute:
		return &fl.min
	case opSecond:
		return &fl.sec
	}
	return &fl.yday
}

// matchZone reads %z: a numeric offset, or Z, UTC, GMT. It returns the
// end, or -1.
func matchZone(s string, i int, fl *fields) int {
	if i >= len(s) {
		return -1
	}
	switch c := s[i]; {
	case c == '+' || c == '-':
		return parseOffset(s, i, true, fl)
	case c == 'Z' || c == 'U' || c == 'G':
		if i = utcName(s, i); i >= 0 {
			fl.zone = zoneUTC
		}
		return i
	}
	return -1
}

// matchZoneName reads %Z: Z or 3 to 5 capitals (UT too); an abbreviation
// of ZoneAbbrev's table sets its offset, others leave the Finder's location.
func matchZoneName(s string, i int, fl *fields) int {
	j := i
	for j < len(s) && j-i < 6 && class[s[j]]&cUpper != 0 {
		j++
	}
	if n := j - i; n == 0 || n > 5 || (n < 3 && n != 1 && s[i:j] != "UT") || (n == 1 && s[i] != 'Z') {
		return -1
	}
	if m, ok := zoneAbbrev[s[i:j]]; ok {
		fl.setZone(m * 60)
	} else if s[i:j] == "UT" {
		fl.zone = zoneUTC
	}
	return j
}

// matchAMPM reads %p: AM or PM, in any case.
func matchAMPM(s string, i int, fl *fields) int {
	if i+2 > len(s) || s[i+1]|0x20 != 'm' {
		return -1
	}
	switch s[i] | 0x20 {
	case 'a':
		fl.am = true
	case 'p':
		fl.pm = true
	default:
		return -1
	}
	return i + 2
}

// findPattern scans line for the first match of the Finder's pattern
// starting before stop.
func (f *Finder) findPattern(s string, now time.Time, stop int) (time.Time, int, int, bool) {
	p := f.pat
	first, last := p.items[0], p.items[len(p.items)-1]
	bStart := !p.unb && first.op != opLit && first.op != opSpace
	bEnd := !p.unb && last.op != opLit && last.op != opSpace
	limit := len(s)
	switch f.anchor {
	case anchorStart:
		limit = 1
	case anchorLnBeg:
		limit = syslogPrefix(s)
		for limit < len(s) && class[s[limit]]&cAlnum == 0 {
			limit++
		}
		limit++
	}
	limit = min(limit, stop)
	var fl fields
	for i := 0; i < len(s) && i < limit; i++ {
		if first.op == opLit && s[i] != first.lit {
			k := strings.IndexByte(s[i:min(len(s), limit)], first.lit)
			if k < 0 {
				break
			}
			i += k
		}
		if (bStart && i > 0 && class[s[i-1]]&cAlnum != 0) || (first.op != opSpace && isBlank(s[i])) {
			continue
		}
		end := p.matchAt(s, i, &fl)
		if end < 0 || (bEnd && !boundary(s, end)) {
			continue
		}
		if t, ok := f.build(&fl, now); ok {
			f.last = fmtPattern
			return t, i, end, true
		}
	}
	return time.Time{}, 0, 0, false
}
