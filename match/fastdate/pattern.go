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
// %z %Z %p %j %s %T %%, also in the %Ex form), literal bytes (a backslash
// quotes the next one), blanks matching one or more blanks, and the
// prefixes "^" (at line start), "{^LN-BEG}" (at line start after
// non-alphanumeric bytes only) and "{UNB}" (no word boundaries). The values
// "Epoch", "TAI64N" and "ISO8601" select those built-in formats. Regular
// expression syntax is not supported. "{^LN-BEG}" alone anchors the
// built-in formats.
func NewPatternFinder(pat string, loc *time.Location) (*Finder, error) {
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

func (p *pattern) compile(s string) error {
	var seen [256]bool
	add := func(op uint8) { p.items = append(p.items, pitem{op: op}) }
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '%':
			i++
			if i < len(s) && s[i] == 'E' && i+1 < len(s) && s[i+1] == 'x' {
				i += 2 // %ExY, %Exb...: same as %Y, %b
			}
			if i >= len(s) {
				return errors.New("pattern ends with an incomplete % directive")
			}
			d := s[i]
			switch d {
			case 'Y':
				add(opYear)
			case 'y':
				add(opYear2)
			case 'm':
				add(opMonth)
			case 'd', 'e':
				add(opDay)
			case 'b', 'B', 'h':
				add(opMonName)
				d = 'm'
			case 'a', 'A':
				add(opWeekday)
			case 'H', 'k':
				add(opHour)
				d = 'H'
			case 'I', 'l':
				add(opHour12)
				d = 'H'
			case 'M':
				add(opMinute)
			case 'S':
				add(opSecond)
			case 'f':
				add(opFrac)
			case 'z':
				add(opZone)
			case 'Z':
				add(opZoneName)
			case 'p':
				add(opAMPM)
			case 'j':
				add(opYDay)
			case 's':
				add(opEpoch)
			case 'T':
				add(opHour)
				p.items = append(p.items, pitem{op: opLit, lit: ':'})
				add(opMinute)
				p.items = append(p.items, pitem{op: opLit, lit: ':'})
				add(opSecond)
				d = 'H'
			case '%':
				p.items = append(p.items, pitem{op: opLit, lit: '%'})
				continue
			default:
				return fmt.Errorf("unknown directive %%%c", d)
			}
			seen[d] = true
		case '\\':
			i++
			if i >= len(s) {
				return errors.New("pattern ends with a backslash")
			}
			switch e := s[i]; {
			case e == 's':
				if n := len(p.items); n == 0 || p.items[n-1].op != opSpace {
					add(opSpace)
				}
			case class[e]&cAlnum != 0:
				return fmt.Errorf("unsupported escape \\%c", e)
			default:
				p.items = append(p.items, pitem{op: opLit, lit: e})
			}
		case ' ', '\t':
			if n := len(p.items); n == 0 || p.items[n-1].op != opSpace {
				add(opSpace)
			}
		case '(', ')', '|', '*', '+', '?', '{', '}':
			return fmt.Errorf("regular expression syntax %q is not supported (quote it with a backslash)", c)
		default:
			p.items = append(p.items, pitem{op: opLit, lit: c})
		}
	}
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
		case opYear:
			if v, i = numUpTo(s, i, 4, false); i < 0 || v < 1000 {
				return -1
			}
			fl.year = v
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
		case opMonth:
			if v, i = numUpTo(s, i, 2, false); i < 0 || v < 1 || v > 12 {
				return -1
			}
			fl.month = v
		case opDay:
			if v, i = numUpTo(s, i, 2, true); i < 0 || v < 1 || v > 31 {
				return -1
			}
			fl.day = v
		case opMonName:
			if fl.month, i = parseMonthName(s, i); fl.month == 0 {
				return -1
			}
		case opWeekday:
			if i = parseWeekday(s, i); i == 0 {
				return -1
			}
		case opHour:
			if v, i = numUpTo(s, i, 2, true); i < 0 || v > 23 {
				return -1
			}
			fl.hour = v
		case opHour12:
			if v, i = numUpTo(s, i, 2, true); i < 0 || v < 1 || v > 12 {
				return -1
			}
			fl.hour = v
		case opMinute:
			if v, i = numUpTo(s, i, 2, false); i < 0 || v > 59 {
				return -1
			}
			fl.min = v
		case opSecond:
			if v, i = numUpTo(s, i, 2, false); i < 0 || v > 60 {
				return -1
			}
			fl.sec = v
		case opFrac:
			if i >= len(s) || !isDigit(s[i]) {
				return -1
			}
			i = fracDigits(s, i, fl)
		case opZone:
			if i >= len(s) {
				return -1
			}
			switch c := s[i]; {
			case c == '+' || c == '-':
				if i = parseOffset(s, i, true, fl); i < 0 {
					return -1
				}
			case c == 'Z' || c == 'U' || c == 'G':
				if i = utcName(s, i); i < 0 {
					return -1
				}
				fl.zone = zoneUTC
			default:
				return -1
			}
		case opZoneName:
			j := i
			for j < len(s) && j-i < 6 && class[s[j]]&cUpper != 0 {
				j++
			}
			if n := j - i; n == 0 || n > 5 || (n < 3 && n != 1 && s[i:j] != "UT") || (n == 1 && s[i] != 'Z') {
				return -1
			}
			if utcName(s, i) == j {
				fl.zone = zoneUTC
			}
			i = j
		case opAMPM:
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
			i += 2
		case opYDay:
			if v, i = numUpTo(s, i, 3, false); i < 0 || v < 1 || v > 366 {
				return -1
			}
			fl.yday = v
		case opEpoch:
			if v, i = numUpTo(s, i, 12, false); i < 0 {
				return -1
			}
			fl.unix, fl.unixSec = true, int64(v)
			if k+1 == len(p.items) || p.items[k+1].op != opLit {
				i = parseFrac(s, i, fl)
			}
		}
	}
	return i
}

// findPattern scans line for the first match of the Finder's pattern.
func (f *Finder) findPattern(s string, now time.Time) (time.Time, int, int, bool) {
	p := f.pat
	first, last := p.items[0], p.items[len(p.items)-1]
	bStart := !p.unb && first.op != opLit && first.op != opSpace
	bEnd := !p.unb && last.op != opLit && last.op != opSpace
	limit := len(s)
	switch f.anchor {
	case anchorStart:
		limit = 1
	case anchorLnBeg:
		limit = 0
		for limit < len(s) && class[s[limit]]&cAlnum == 0 {
			limit++
		}
		limit++
	}
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
