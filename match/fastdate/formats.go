package fastdate

import "time"

// Character classes.
const (
	cDigit = 1 << iota
	cAlpha
	cUpper
	cHex
	cName  // first letter of a month or weekday name
	cAlnum = cDigit | cAlpha
)

var class = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = cDigit | cHex
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = cAlpha
		t[c-'a'+'A'] = cAlpha | cUpper
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] |= cHex
		t[c-'a'+'A'] |= cHex
	}
	for _, c := range "adfjmnostwADFJMNOSTW" {
		t[c] |= cName
	}
	return t
}()

func isDigit(c byte) bool { return c-'0' < 10 }

// boundary reports whether a date may end at i: end of line or a byte that
// is neither a letter nor a digit.
func boundary(s string, i int) bool { return i >= len(s) || class[s[i]]&cAlnum == 0 }

// digitRun counts the digits at s[i:], up to max+1.
func digitRun(s string, i, max int) int {
	k := 0
	for i+k < len(s) && k <= max && isDigit(s[i+k]) {
		k++
	}
	return k
}

// num reads exactly n digits at s[i:].
func num(s string, i, n int) (int, bool) {
	if i+n > len(s) {
		return 0, false
	}
	v := 0
	for j := i; j < i+n; j++ {
		c := s[j] - '0'
		if c > 9 {
			return 0, false
		}
		v = v*10 + int(c)
	}
	return v, true
}

// lower3 packs three lower-cased bytes.
func lower3(s string, i int) uint32 {
	return uint32(s[i]|0x20)<<16 | uint32(s[i+1]|0x20)<<8 | uint32(s[i+2]|0x20)
}

var monthFull = [13]string{"", "january", "february", "march", "april", "may", "june",
	"july", "august", "september", "october", "november", "december"}

// parseMonthName reads an English month name, abbreviated or full, case
// insensitive, at s[i:]; it returns the month (0 when none) and the end.
func parseMonthName(s string, i int) (int, int) {
	if i+3 > len(s) {
		return 0, i
	}
	var m int
	switch lower3(s, i) {
	case 'j'<<16 | 'a'<<8 | 'n':
		m = 1
	case 'f'<<16 | 'e'<<8 | 'b':
		m = 2
	case 'm'<<16 | 'a'<<8 | 'r':
		m = 3
	case 'a'<<16 | 'p'<<8 | 'r':
		m = 4
	case 'm'<<16 | 'a'<<8 | 'y':
		m = 5
	case 'j'<<16 | 'u'<<8 | 'n':
		m = 6
	case 'j'<<16 | 'u'<<8 | 'l':
		m = 7
	case 'a'<<16 | 'u'<<8 | 'g':
		m = 8
	case 's'<<16 | 'e'<<8 | 'p':
		m = 9
	case 'o'<<16 | 'c'<<8 | 't':
		m = 10
	case 'n'<<16 | 'o'<<8 | 'v':
		m = 11
	case 'd'<<16 | 'e'<<8 | 'c':
		m = 12
	default:
		return 0, i
	}
	j := i + 3
	if j < len(s) && class[s[j]]&cAlpha != 0 {
		j = wordEnd(s, j)
		if !foldEq(s[i+3:j], monthFull[m][3:]) && !(m == 9 && foldEq(s[i+3:j], "t")) {
			return 0, i
		}
	}
	return m, j
}

var dayFull = [7]string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

// parseWeekday reads an English weekday name, abbreviated or full, at s[i:]
// and returns its end, or 0 when there is none.
func parseWeekday(s string, i int) int {
	if i+3 > len(s) {
		return 0
	}
	var w int
	switch lower3(s, i) {
	case 's'<<16 | 'u'<<8 | 'n':
		w = 0
	case 'm'<<16 | 'o'<<8 | 'n':
		w = 1
	case 't'<<16 | 'u'<<8 | 'e':
		w = 2
	case 'w'<<16 | 'e'<<8 | 'd':
		w = 3
	case 't'<<16 | 'h'<<8 | 'u':
		w = 4
	case 'f'<<16 | 'r'<<8 | 'i':
		w = 5
	case 's'<<16 | 'a'<<8 | 't':
		w = 6
	default:
		return 0
	}
	j := i + 3
	if j < len(s) && class[s[j]]&cAlpha != 0 {
		j = wordEnd(s, j)
		if !foldEq(s[i+3:j], dayFull[w][3:]) {
			return 0
		}
	}
	return j
}

func wordEnd(s string, j int) int {
	for j < len(s) && class[s[j]]&cAlpha != 0 {
		j++
	}
	return j
}

// foldEq compares s with the lower-case ASCII string t, ignoring case.
func foldEq(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i]|0x20 != t[i] {
			return false
		}
	}
	return true
}

// parseClock reads HH:MM:SS with an optional fraction (.ddd or ,ddd).
func parseClock(s string, i int, fl *fields) int {
	if i+8 > len(s) || s[i+2] != ':' || s[i+5] != ':' {
		return -1
	}
	h, ok1 := num(s, i, 2)
	m, ok2 := num(s, i+3, 2)
	sec, ok3 := num(s, i+6, 2)
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || sec > 60 {
		return -1
	}
	fl.hour, fl.min, fl.sec = h, m, sec
	return parseFrac(s, i+8, fl)
}

// parseFrac reads an optional fraction of a second: a '.' or ',' then
// digits, of which the first nine count.
func parseFrac(s string, i int, fl *fields) int {
	if i+1 >= len(s) || (s[i] != '.' && s[i] != ',') || !isDigit(s[i+1]) {
		return i
	}
	return fracDigits(s, i+1, fl)
}

// fracDigits reads the digits of a fraction of a second at s[i:]; the
// first nine count.
func fracDigits(s string, i int, fl *fields) int {
	ns, n := 0, 0
	for ; i < len(s) && isDigit(s[i]); i++ {
		if n < 9 {
			ns = ns*10 + int(s[i]-'0')
			n++
		}
	}
	for ; n < 9; n++ {
		ns *= 10
	}
	fl.nsec = ns
	return i
}

// parseOffset reads +hh:mm, +hhmm or, when short is set, +hh at s[i:] and
// returns the end or -1. The zone must end at a boundary.
func parseOffset(s string, i int, short bool, fl *fields) int {
	if i+3 > len(s) || (s[i] != '+' && s[i] != '-') {
		return -1
	}
	h, ok := num(s, i+1, 2)
	if !ok || h > 23 {
		return -1
	}
	j, m := i+3, 0
	if j < len(s) && s[j] == ':' {
		j++
	}
	if v, ok := num(s, j, 2); ok {
		if v > 59 {
			return -1
		}
		m, j = v, j+2
	} else if !short || j != i+3 {
		return -1
	}
	if !boundary(s, j) {
		return -1
	}
	off := h*3600 + m*60
	if s[i] == '-' {
		off = -off
	}
	if off == 0 {
		fl.zone = zoneUTC
	} else {
		fl.zone, fl.off = zoneFixed, off
	}
	return j
}

// utcName reports the end of a UTC zone name (UTC, GMT, UT, Z) at s[i:], or -1.
func utcName(s string, i int) int {
	j := wordEnd(s, i)
	switch s[i:j] {
	case "UTC", "GMT", "UT", "Z":
		if boundary(s, j) {
			return j
		}
	}
	return -1
}

// parseZone reads an optional zone after a time at s[i:]: attached Z or
// numeric offset, or after one space a numeric offset or a UTC name. It
// returns the end (i when there is no zone).
func parseZone(s string, i int, fl *fields) int {
	if i >= len(s) {
		return i
	}
	switch s[i] {
	case 'Z', 'z':
		if boundary(s, i+1) {
			fl.zone = zoneUTC
			return i + 1
		}
	case '+', '-':
		if j := parseOffset(s, i, true, fl); j > 0 {
			return j
		}
	case ' ':
		if i+1 < len(s) {
			switch c := s[i+1]; {
			case c == '+' || c == '-':
				if j := parseOffset(s, i+1, false, fl); j > 0 {
					return j
				}
			case class[c]&cUpper != 0:
				if j := utcName(s, i+1); j > 0 {
					fl.zone = zoneUTC
					return j
				}
			}
		}
	}
	return i
}

// parseISO reads YYYY-MM-DD[T ]HH:MM:SS[.frac][zone] at s[i:].
func parseISO(s string, i int, fl *fields) (int, int) {
	if i+19 > len(s) || s[i+7] != '-' {
		return fmtNone, 0
	}
	id := fmtISOSpace
	switch s[i+10] {
	case 'T', 't':
		id = fmtRFC3339
	case ' ':
	default:
		return fmtNone, 0
	}
	return id, parseYMDRest(s, i, fl)
}

// parseYMDSlash reads YYYY/MM/DD HH:MM:SS[.frac][zone] at s[i:].
func parseYMDSlash(s string, i int, fl *fields) int {
	if i+19 > len(s) || s[i+7] != '/' || s[i+10] != ' ' {
		return 0
	}
	return parseYMDRest(s, i, fl)
}

// parseYMDRest reads the numbers of a year-month-day date whose separators
// have been checked, then the time and zone.
func parseYMDRest(s string, i int, fl *fields) int {
	y, ok1 := num(s, i, 4)
	m, ok2 := num(s, i+5, 2)
	d, ok3 := num(s, i+8, 2)
	if !ok1 || !ok2 || !ok3 {
		return 0
	}
	fl.year, fl.month, fl.day = y, m, d
	j := parseClock(s, i+11, fl)
	if j < 0 {
		return 0
	}
	j = parseZone(s, j, fl)
	if !boundary(s, j) {
		return 0
	}
	return j
}

// parseDayMonYear reads D[D]<sep>Mon<sep>YYYY<after> at s[i:] (k is the
// length of the day) and returns the index after <after>, or 0.
func parseDayMonYear(s string, i, k int, sep, after byte, fl *fields) int {
	d, _ := num(s, i, k)
	m, j := parseMonthName(s, i+k+1)
	if m != 0 && j+1 < len(s) && s[j] == '.' && s[j+1] == sep {
		j++ // an abbreviation's dot, as some locales write it: "02/sept./2015"
	}
	if m == 0 || j+6 > len(s) || s[j] != sep {
		return 0
	}
	y, ok := num(s, j+1, 4)
	if !ok || s[j+5] != after {
		return 0
	}
	fl.year, fl.month, fl.day = y, m, d
	return j + 6
}

// parseCLF reads DD/Mon/YYYY:HH:MM:SS[ +hhmm] at s[i:]; k is the length
// of the day.
func parseCLF(s string, i, k int, fl *fields) int {
	j := parseDayMonYear(s, i, k, '/', ':', fl)
	if j == 0 {
		return 0
	}
	if j = parseClock(s, j, fl); j < 0 {
		return 0
	}
	if j+1 < len(s) && s[j] == ' ' {
		if e := parseOffset(s, j+1, false, fl); e > 0 {
			j = e
		}
	}
	if !boundary(s, j) {
		return 0
	}
	return j
}

// parseDMYMon reads DD-Mon-YYYY HH:MM:SS[.frac][ zone] at s[i:].
func parseDMYMon(s string, i, k int, fl *fields) int {
	j := parseDayMonYear(s, i, k, '-', ' ', fl)
	if j == 0 {
		return 0
	}
	if j = parseClock(s, j, fl); j < 0 {
		return 0
	}
	j = parseZone(s, j, fl)
	if !boundary(s, j) {
		return 0
	}
	return j
}

// parseRFC2822 reads DD Mon YYYY HH:MM:SS[ zone] at s[i:]; wday tells
// whether a weekday came before, which allows a two-digit year.
func parseRFC2822(s string, i, k int, wday bool, fl *fields) int {
	d, _ := num(s, i, k)
	m, j := parseMonthName(s, i+k+1)
	if m == 0 || j+6 > len(s) || s[j] != ' ' {
		return 0
	}
	// Four-digit year, or after a weekday two digits as RFC 2822 §4.3 reads them.
	k = digitRun(s, j+1, 4)
	y, ok := num(s, j+1, k)
	if !ok || (k != 4 && (k != 2 || !wday)) || j+k+2 >= len(s) || s[j+k+1] != ' ' {
		return 0
	}
	if k == 2 {
		y += 1900
		if y < 1950 {
			y += 100
		}
	}
	fl.year, fl.month, fl.day = y, m, d
	if j = parseClock(s, j+k+2, fl); j < 0 {
		return 0
	}
	j = parseZone(s, j, fl)
	if !boundary(s, j) {
		return 0
	}
	return j
}

// parseSyslogRest reads what follows a month name in the BSD syslog
// format: " DD HH:MM:SS[.frac][ YYYY]" or " DD YYYY HH:MM:SS[.frac]". With
// ctime set (after a weekday) a zone name may come before the year.
func parseSyslogRest(s string, j int, fl *fields, ctime bool) int {
	// One or two spaces, then a day of one or two digits.
	if j >= len(s) || s[j] != ' ' {
		return 0
	}
	j++
	if j < len(s) && s[j] == ' ' {
		j++
	}
	k := digitRun(s, j, 2)
	if k == 0 || k > 2 || j+k >= len(s) || s[j+k] != ' ' {
		return 0
	}
	fl.day, _ = num(s, j, k)
	j += k + 1
	fl.noYear = true
	if y, ok := num(s, j, 4); ok && j+5 < len(s) && s[j+4] == ' ' {
		fl.year, fl.noYear = y, false
		j += 5
	}
	if j = parseClock(s, j, fl); j < 0 {
		return 0
	}
	if fl.noYear && j+5 <= len(s) && s[j] == ' ' {
		e, zone := j, uint8(zoneNone)
		if ctime && j+1 < len(s) && class[s[j+1]]&cUpper != 0 {
			// A zone abbreviation before the year, as date(1) prints.
			z := j + 1
			for z < len(s) && z-j <= 6 && class[s[z]]&cUpper != 0 {
				z++
			}
			if n := z - j - 1; n >= 3 && n <= 5 && z < len(s) && s[z] == ' ' {
				e, zone = z, zoneNone
				if utcName(s, j+1) > 0 {
					zone = zoneUTC
				}
			}
		}
		if y, ok := num(s, e+1, 4); ok && y >= 1900 && y < 2200 && s[e] == ' ' && boundary(s, e+5) {
			fl.year, fl.noYear, fl.zone = y, false, zone
			j = e + 5
		}
	}
	if !boundary(s, j) {
		return 0
	}
	return j
}

// parseEpoch reads ten digits of Unix seconds and an optional fraction at
// s[i:]; ctx, when not 0, is the byte that must follow.
func parseEpoch(s string, i int, ctx byte, fl *fields) int {
	sec, _ := num(s, i, 10)
	j := parseFrac(s, i+10, fl)
	if ctx != 0 {
		if j >= len(s) || s[j] != ctx {
			return 0
		}
	} else if !boundary(s, j) {
		return 0
	}
	fl.unix, fl.unixSec = true, int64(sec)
	return j
}

// parseTAI64N reads an external TAI64N label, "@" and 24 hex digits, at s[i:].
func (f *Finder) parseTAI64N(s string, i int) (time.Time, int, bool) {
	const base = 1<<62 + 10 // TAI64 label of 1970-01-01 00:00:00 UTC, as tai64nlocal
	j := i + 25
	if j > len(s) || !boundary(s, j) {
		return time.Time{}, 0, false
	}
	var v uint64
	var ns uint32
	for k := i + 1; k < j; k++ {
		c := s[k]
		var d byte
		switch {
		case c-'0' < 10:
			d = c - '0'
		case (c|0x20)-'a' < 6:
			d = (c | 0x20) - 'a' + 10
		default:
			return time.Time{}, 0, false
		}
		if k < i+17 {
			v = v<<4 | uint64(d)
		} else {
			ns = ns<<4 | uint32(d)
		}
	}
	if v < base || v-base > 1<<40 || ns >= 1e9 {
		return time.Time{}, 0, false
	}
	return time.Unix(int64(v-base), int64(ns)).In(f.loc), j, true
}
