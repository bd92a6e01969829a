// Package fastdate finds and parses the timestamp inside a log line without
// configuration, or with a fail2ban-style datepattern: the fast date
// recogniser of logjail's own filters (match/native), hand-written
// scanners without regular expressions, ~40 ns and no allocation per line.
// It recognises what fail2ban's default templates do, not always exactly
// as fail2ban does; package match/fail2ban/datedetector is the
// fail2ban-exact one, for fail2ban's filters.
//
// Recognised formats (name as reported by Finder.Name):
//
//	syslog     Nov 25 07:13:18, Nov  5 07:13:18.123456, Nov 25 07:13:18 2026, Nov 25 2026 07:13:18
//	rfc3339    2026-11-25T07:13:18.123+01:00 (Z, ±hh:mm, ±hhmm, ±hh or no zone)
//	iso-space  2026-11-25 07:13:18,123 (optional zone, attached or after a blank, or UTC/GMT)
//	ymd-slash  2026/11/25 07:13:18
//	clf        25/Nov/2026:07:13:18 +0000 (the span excludes the brackets)
//	epoch      1732519998.123 at line start, inside [...] or in audit(...:
//	tai64n     @4000000069255fa81d0b1234 at line start
//	ctime      Wed Nov 25 07:13:18 2026, Wed Nov 25 07:13:18.123 CET 2026
//	rfc2822    Wed, 25 Nov 2026 07:13:18 GMT, 25 Nov 2026 07:13:18 +0100
//	dmy-mon    25-Nov-2026 07:13:18.123
//
// A zone written just before a syslog or ctime date, an abbreviation
// ZoneAbbrev knows or a numeric offset ("[PDT Apr 16 21:05:29]", as Monit
// writes), is the date's zone and part of its span. A CLF or dmy-mon month
// abbreviation may end with a dot ("02/sept./2015").
//
// Month and weekday names are English, abbreviated or full, in any case. A
// date starts at a word boundary and ends before one; the first valid date
// in the line wins. Scanners are hand-written: no regular expressions and
// no allocations per line on the common paths.
package fastdate

import (
	"strings"
	"time"
)

// Format identifiers; formatNames gives the name reported by Finder.Name.
const (
	fmtNone = iota
	fmtSyslog
	fmtRFC3339
	fmtISOSpace
	fmtYMDSlash
	fmtCLF
	fmtEpoch
	fmtTAI64N
	fmtCtime
	fmtRFC2822
	fmtDMYMon
	fmtPattern
)

var formatNames = [...]string{
	fmtNone:     "",
	fmtSyslog:   "syslog",
	fmtRFC3339:  "rfc3339",
	fmtISOSpace: "iso-space",
	fmtYMDSlash: "ymd-slash",
	fmtCLF:      "clf",
	fmtEpoch:    "epoch",
	fmtTAI64N:   "tai64n",
	fmtCtime:    "ctime",
	fmtRFC2822:  "rfc2822",
	fmtDMYMon:   "dmy-mon",
	fmtPattern:  "pattern",
}

// Sets of automatically recognised formats.
const (
	maskAll = 1<<fmtSyslog | 1<<fmtRFC3339 | 1<<fmtISOSpace | 1<<fmtYMDSlash |
		1<<fmtCLF | 1<<fmtEpoch | 1<<fmtTAI64N | 1<<fmtCtime | 1<<fmtRFC2822 | 1<<fmtDMYMon
	maskISO = 1<<fmtRFC3339 | 1<<fmtISOSpace
)

// Where a date may start.
const (
	anchorNone  = iota
	anchorStart // "^": at offset 0
	anchorLnBeg // "{^LN-BEG}": after a prefix of non-alphanumeric bytes only (and a syslog priority)
)

// syslogPrefix returns the length of the syslog priority s starts with,
// "<PRI>" or RFC 5424's "<PRI>1 " (as rsyslog writes the protocol to a
// file), 0 when none: a date after it is still at the line's beginning.
func syslogPrefix(s string) int {
	if len(s) < 3 || s[0] != '<' {
		return 0
	}
	i := 1
	for i < len(s) && i <= 3 && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 1 || i >= len(s) || s[i] != '>' {
		return 0
	}
	i++
	if i+1 < len(s) && s[i] == '1' && s[i+1] == ' ' {
		i += 2
	}
	return i
}

// Finder finds dates in log lines. It is built once and used by one
// goroutine: it caches zones and the reference year.
type Finder struct {
	loc    *time.Location
	mask   uint32    // automatic formats allowed
	anchor uint8     // where a date may start
	pat    *pattern  // datepattern matcher; nil for automatic detection
	alts   []*Finder // a datepattern's alternatives (one per line), or nil
	last   uint8     // format of the last match

	// Reference-date cache keyed by now's Unix second and the zone.
	nowSec   int64
	nowLoc   *time.Location
	nowYear  int
	limitKey int // yyyy*512+mm*32+dd of the day after now's date in nowLoc

	zones [8]zoneEntry // fixed-offset zones seen, to avoid allocating them again
	nz    int

	// built is build's last answer (and the fields as it left them) for
	// the fields and now it was given: lines of a log mostly come several
	// to a second.
	built struct {
		valid   bool
		fl, out fields
		now     time.Time
		t       time.Time
		ok      bool
	}
	// atStart is the last syslog date found at a line's first byte (see
	// recallStart).
	atStart struct {
		key []byte // the line's first end+startPast bytes
		now time.Time
		t   time.Time
		end int
		// fl is what the date's text gave, before build.
		fl fields
	}
	// parsed is the last date's fields before build (see atStart).
	parsed fields
}

type zoneEntry struct {
	off int
	loc *time.Location
}

// NewFinder returns a Finder that recognises the built-in formats. Dates
// without a zone are interpreted in loc (time.Local when nil).
func NewFinder(loc *time.Location) *Finder {
	if loc == nil {
		loc = time.Local
	}
	return &Finder{loc: loc, mask: maskAll, nowSec: -1 << 63}
}

// Name returns the name of the format of the last successful Find, e.g. "syslog",
// "rfc3339", "iso-space", "clf", "epoch", or "pattern" for a datepattern.
func (f *Finder) Name() string { return formatNames[f.last] }

// Find returns the first date in line, its byte span [start,end) (without
// surrounding brackets) and ok. now is the reference for dates without a
// year: the current year is taken unless that puts the date more than one
// calendar day after now, in which case the previous year is used.
func (f *Finder) Find(line string, now time.Time) (t time.Time, start, end int, ok bool) {
	if f.pat != nil {
		return f.findPattern(line, now, len(line))
	}
	if f.alts != nil {
		return f.findFirst(line, now)
	}
	if t, end, ok := f.recallStart(line, now); ok {
		return t, 0, end, true
	}
	t, start, end, ok = f.findAuto(line, now, len(line))
	if ok && start == 0 && f.last == fmtSyslog {
		f.keepStart(line, now, t, end)
	}
	return t, start, end, ok
}

// startPast is how many bytes after a syslog date the date's parsers may
// read: parseSyslogRest looks at the 6 after the clock for a year (" 2026"
// and the boundary after it). FuzzFind fails with 5. No more: the host
// name after the date is mostly 5 or 6 bytes, and lines of several
// programs in one second then share the key.
const startPast = 6

// recallStart returns the date of the last line whose date was syslog's
// at its first byte, when line begins with the same bytes up to
// startPast after that date and now is the same: findAuto would read the
// same bytes, in the same order, and find the same date. Lines of a log
// mostly come several to a second from one host, and parsing the date
// again was most of its cost.
func (f *Finder) recallStart(line string, now time.Time) (time.Time, int, bool) {
	m := &f.atStart
	if len(m.key) == 0 || len(line) < len(m.key) || now != m.now {
		return time.Time{}, 0, false
	}
	if line[:len(m.key)] != string(m.key) {
		return f.recallOtherSecond(line, now)
	}
	f.last = fmtSyslog
	return m.t, m.end, true
}

// recallOtherSecond is recallStart for a line that differs from the one
// remembered only in the seconds its date ends with ("Nov 18 00:00:17"
// after "Nov 18 00:00:16"): parseClock reads any two digits up to 60
// alike, so findAuto would take the same way through the same bytes and
// find the same fields but the second, which build then turns into a
// time (a new second in a log is mostly a new line's date).
func (f *Finder) recallOtherSecond(line string, now time.Time) (time.Time, int, bool) {
	m := &f.atStart
	sec := m.end - 2
	// The date's text ends with the clock's ":SS" (not a fraction or a
	// year after it).
	if m.end < 8 || m.key[m.end-3] != ':' || line[:sec] != string(m.key[:sec]) || line[m.end:len(m.key)] != string(m.key[m.end:]) {
		return time.Time{}, 0, false
	}
	s, ok := num(line, sec, 2)
	if !ok || s > 60 {
		return time.Time{}, 0, false
	}
	fl := m.fl
	fl.sec = s
	t, ok := f.build(&fl, now)
	if !ok {
		return time.Time{}, 0, false
	}
	m.key[sec], m.key[sec+1], m.fl.sec, m.t = line[sec], line[sec+1], s, t
	f.last = fmtSyslog
	return t, m.end, true
}

// keepStart remembers the syslog date line begins with (see recallStart),
// when line goes on for startPast bytes after it: a line that ends sooner
// has its length read too.
func (f *Finder) keepStart(line string, now, t time.Time, end int) {
	m := &f.atStart
	if len(line) < end+startPast {
		m.key = m.key[:0]
		return
	}
	m.key = append(m.key[:0], line[:end+startPast]...)
	m.now, m.t, m.end = now, t, end
	m.fl = f.parsed
}

// findFirst returns the date of the alternatives that starts first in
// line; of two starting at the same byte, the one listed first.
func (f *Finder) findFirst(s string, now time.Time) (t time.Time, start, end int, ok bool) {
	stop := len(s)
	for _, a := range f.alts {
		var at time.Time
		var as, ae int
		var found bool
		if a.pat != nil {
			at, as, ae, found = a.findPattern(s, now, stop)
		} else {
			at, as, ae, found = a.findAuto(s, now, stop)
		}
		if found {
			t, start, end, ok, stop = at, as, ae, true, as
			f.last = a.last
		}
	}
	return t, start, end, ok
}

// fields holds the parts of a date being parsed.
type fields struct {
	year, month, day int
	hour, min, sec   int
	nsec             int
	yday             int // day of year (patterns), used when month == 0
	off              int // zone offset in seconds when zone == zoneFixed
	zone             uint8
	noYear, noDate   bool
	pm, am           bool // %p
	unix             bool // Unix time in unixSec and nsec
	unixSec          int64
}

// same reports whether fl and o are equal: fl == o compared them in a
// call to the runtime's memory compare, which cost more than the date's
// parse on lines of one second.
func (fl *fields) same(o *fields) bool {
	return fl.sec == o.sec && fl.min == o.min && fl.hour == o.hour && fl.day == o.day &&
		fl.month == o.month && fl.year == o.year && fl.nsec == o.nsec && fl.yday == o.yday &&
		fl.off == o.off && fl.zone == o.zone && fl.noYear == o.noYear && fl.noDate == o.noDate &&
		fl.pm == o.pm && fl.am == o.am && fl.unix == o.unix && fl.unixSec == o.unixSec
}

const (
	zoneNone  = iota // use the Finder's location
	zoneUTC          // Z, UTC, GMT
	zoneFixed        // numeric offset in off
)

// findAuto scans line for the first date in a built-in format starting
// before stop.
func (f *Finder) findAuto(s string, now time.Time, stop int) (time.Time, int, int, bool) {
	n := len(s)
	ws := 0
	for ws < n && (s[ws] == ' ' || s[ws] == '\t') {
		ws++
	}
	limit := n
	switch f.anchor {
	case anchorStart:
		limit = 1
	case anchorLnBeg:
		limit = ws + syslogPrefix(s[ws:])
		for limit < n && class[s[limit]]&cAlnum == 0 && s[limit] != '@' {
			limit++
		}
		limit++
	}
	limit = min(limit, stop)
	if ws < limit && s[ws] == '@' && f.mask&(1<<fmtTAI64N) != 0 && (f.anchor != anchorStart || ws == 0) {
		if t, end, ok := f.parseTAI64N(s, ws); ok {
			f.last = fmtTAI64N
			return t, ws, end, true
		}
	}
	var fl fields
	for i := 0; i < n && i < limit; i++ {
		c := class[s[i]]
		if c&cAlnum == 0 {
			continue
		}
		// s[i] starts a word: try the formats that may start with it.
		var id, end int
		if c&cDigit != 0 {
			id, end = f.tryDigit(s, i, i == ws, &fl)
		} else if c&cName != 0 {
			id, end = f.tryAlpha(s, i, &fl)
		}
		if end > 0 && f.mask&(1<<id) != 0 {
			if id == fmtEpoch {
				f.last = fmtEpoch
				return time.Unix(fl.unixSec, int64(fl.nsec)).In(f.loc), i, end, true
			}
			start := i
			if (id == fmtSyslog || id == fmtCtime) && fl.zone == zoneNone {
				// A zone abbreviation may come first: "PDT Apr 16 21:05:29".
				if z := zoneBefore(s, i, &fl); z >= 0 {
					start = z
				}
			}
			f.parsed = fl
			if t, ok := f.build(&fl, now); ok {
				f.last = uint8(id)
				return t, start, end, true
			}
		}
		// Skip the rest of the word: a date starts at a word boundary.
		for i+1 < n && class[s[i+1]]&cAlnum != 0 {
			i++
		}
	}
	return time.Time{}, 0, 0, false
}

// tryDigit tries the formats starting with a digit at s[i]. lineStart tells
// whether only blanks precede i.
func (f *Finder) tryDigit(s string, i int, lineStart bool, fl *fields) (int, int) {
	k := digitRun(s, i, 11)
	*fl = fields{}
	switch k {
	case 1, 2:
		if i+k+1 >= len(s) {
			return fmtNone, 0
		}
		switch s[i+k] {
		case '/':
			return fmtCLF, parseCLF(s, i, k, fl)
		case '-':
			return fmtDMYMon, parseDMYMon(s, i, k, fl)
		case ' ':
			return fmtRFC2822, parseRFC2822(s, i, k, false, fl)
		}
	case 4:
		if i+5 >= len(s) {
			return fmtNone, 0
		}
		switch s[i+4] {
		case '-':
			return parseISO(s, i, fl)
		case '/':
			return fmtYMDSlash, parseYMDSlash(s, i, fl)
		}
	case 10:
		var ctx byte
		switch {
		case lineStart:
		case i > 0 && s[i-1] == '[' && strings.TrimLeft(s[:i-1], " \t") == "":
			// Only a bracketed epoch that opens the line: elsewhere it may
			// be text a client chose (a user name "[1234567890]" before an
			// access log's real date), and a date in the past would make
			// the failure too old to count.
			ctx = ']'
		case i >= 6 && s[i-6:i] == "audit(":
			ctx = ':'
		default:
			return fmtNone, 0
		}
		return fmtEpoch, parseEpoch(s, i, ctx, fl)
	}
	return fmtNone, 0
}

// tryAlpha tries the formats starting with a letter at s[i]: month or
// weekday names.
func (f *Finder) tryAlpha(s string, i int, fl *fields) (int, int) {
	if i+3 > len(s) {
		return fmtNone, 0
	}
	*fl = fields{}
	if m, j := parseMonthName(s, i); m > 0 {
		fl.month = m
		return fmtSyslog, parseSyslogRest(s, j, fl, false)
	}
	if j := parseWeekday(s, i); j > 0 {
		if j < len(s) && s[j] == ',' {
			j++
		}
		if j >= len(s) || s[j] != ' ' {
			return fmtNone, 0
		}
		j++
		if j < len(s) && class[s[j]]&cDigit != 0 {
			k := digitRun(s, j, 3)
			if k == 1 || k == 2 {
				return fmtRFC2822, parseRFC2822(s, j, k, true, fl)
			}
			return fmtNone, 0
		}
		m, j := parseMonthName(s, j)
		if m == 0 {
			return fmtNone, 0
		}
		fl.month = m
		return fmtCtime, parseSyslogRest(s, j, fl, true)
	}
	return fmtNone, 0
}

// build turns parsed fields into a time, inferring a missing year and
// checking the day against the month; the same fields and now as last
// time give the last time's answer (it depends on nothing else: the
// Finder's zone and the zones it keeps do not change).
func (f *Finder) build(fl *fields, now time.Time) (time.Time, bool) {
	b := &f.built
	if b.valid && fl.same(&b.fl) && now == b.now {
		*fl = b.out
		return b.t, b.ok
	}
	b.valid, b.fl, b.now = true, *fl, now
	b.t, b.ok = f.buildTime(fl, now)
	b.out = *fl
	return b.t, b.ok
}

func (f *Finder) buildTime(fl *fields, now time.Time) (time.Time, bool) {
	if fl.unix {
		return time.Unix(fl.unixSec, int64(fl.nsec)).In(f.loc), true
	}
	loc := f.loc
	switch fl.zone {
	case zoneUTC:
		loc = time.UTC
	case zoneFixed:
		loc = f.fixedZone(fl.off)
	}
	if fl.pm && fl.hour < 12 {
		fl.hour += 12
	} else if fl.am && fl.hour == 12 {
		fl.hour = 0
	}
	if fl.noDate {
		ny, nm, nd := now.In(loc).Date()
		t := time.Date(ny, nm, nd, fl.hour, fl.min, fl.sec, fl.nsec, loc)
		if t.After(now) { // later than now: yesterday's, as fail2ban's strptime has it
			t = time.Date(ny, nm, nd-1, fl.hour, fl.min, fl.sec, fl.nsec, loc)
		}
		return t, true
	}
	y := fl.year
	if fl.noYear {
		f.refDate(now, loc)
		y = f.nowYear
	}
	y, m, d, ok := resolveYear(fl, y, fl.noYear)
	if !ok {
		return time.Time{}, false
	}
	if fl.noYear && y*512+m*32+d > f.limitKey {
		if y, m, d, ok = resolveYear(fl, y-1, true); !ok {
			return time.Time{}, false
		}
	}
	fl.month, fl.day = m, d
	return time.Date(y, time.Month(fl.month), fl.day, fl.hour, fl.min, fl.sec, fl.nsec, loc), true
}

// resolveYear returns the month and day of fl in year y and whether they
// form a valid date, converting a day of year when no month is set. When
// back is set, a leap day moves y back to the previous leap year.
func resolveYear(fl *fields, y int, back bool) (int, int, int, bool) {
	if back && ((fl.month == 2 && fl.day == 29) || (fl.month == 0 && fl.yday == 366)) {
		for !isLeap(y) {
			y--
		}
	}
	if fl.month == 0 && fl.yday > 0 {
		d := fl.yday
		for m := 1; m <= 12; m++ {
			dim := daysIn(m, y)
			if d <= dim {
				return y, m, d, true
			}
			d -= dim
		}
		return y, 0, 0, false
	}
	m, d := fl.month, fl.day
	return y, m, d, m >= 1 && m <= 12 && d >= 1 && d <= daysIn(m, y)
}

// refDate caches now's year and the key of the day after now's date in loc.
func (f *Finder) refDate(now time.Time, loc *time.Location) {
	sec := now.Unix()
	if sec == f.nowSec && loc == f.nowLoc {
		return
	}
	ln := now.In(loc)
	y, m, d := ln.Date()
	f.nowYear = y
	y, m, d = time.Date(y, m, d+1, 12, 0, 0, 0, time.UTC).Date()
	f.limitKey = y*512 + int(m)*32 + d
	f.nowSec, f.nowLoc = sec, loc
}

// fixedZone returns a cached zone for a UTC offset in seconds.
func (f *Finder) fixedZone(off int) *time.Location {
	if off == 0 {
		return time.UTC
	}
	for i := 0; i < f.nz; i++ {
		if f.zones[i].off == off {
			return f.zones[i].loc
		}
	}
	loc := time.FixedZone("", off)
	if f.nz < len(f.zones) {
		f.zones[f.nz] = zoneEntry{off, loc}
		f.nz++
	} else {
		copy(f.zones[:], f.zones[1:])
		f.zones[len(f.zones)-1] = zoneEntry{off, loc}
	}
	return loc
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(m, y int) int {
	switch m {
	case 2:
		if isLeap(y) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
