package datedetector

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/logjail/logjail/match/fastdate"
)

// parse turns the groups of a match into a time, with fail2ban's rules:
// a missing year is now's year (the previous one if that puts the date
// more than a day ahead), a missing day is today (yesterday if ahead), a
// two-digit year is in 2000-2099, fractions of a second of a pattern are
// dropped, a zone in the text wins over loc.
func (t *template) parse(line string, loc []int, now time.Time, tz *time.Location) (time.Time, bool) {
	val := func(g int) string {
		if g < 0 || loc[2*g] < 0 {
			return ""
		}
		return line[loc[2*g]:loc[2*g+1]]
	}
	switch t.kind {
	case kindEpoch, kindLongEpoch:
		v := asciiDigits(val(t.value))
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return time.Time{}, false
		}
		if t.kind == kindLongEpoch && len(v) >= 13 {
			if len(v) >= 16 && !strings.Contains(v, ".") {
				f /= 1e6
			} else {
				f /= 1e3
			}
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3).In(tz), true
	case kindTAI64N:
		v := val(t.value)
		if len(v) < 17 {
			return time.Time{}, false
		}
		sec, err := strconv.ParseInt(v[2:17], 16, 64)
		if err != nil {
			return time.Time{}, false
		}
		return time.Unix(sec, 0).In(tz), true
	}
	return t.parseFields(line, loc, now, tz)
}

// field returns the text of the first group of field f that took part.
func (t *template) field(f int, line string, loc []int) (string, bool) {
	for _, g := range t.fields[f] {
		if loc[2*g] >= 0 {
			return line[loc[2*g]:loc[2*g+1]], true
		}
	}
	return "", false
}

func atoi(s string) (int, bool) {
	v, err := strconv.Atoi(asciiDigits(strings.TrimSpace(s)))
	return v, err == nil
}

// asciiDigits replaces Unicode decimal digits (which Python's \d matches
// and int() reads) by ASCII ones.
func asciiDigits(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r >= utf8.RuneSelf && unicode.IsDigit(r) {
			r = '0' + digitValue(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// digitValue returns the value of a Unicode decimal digit: digits come in
// runs of ten from zero.
func digitValue(r rune) rune {
	for _, rg := range unicode.Nd.R16 {
		if r >= rune(rg.Lo) && r <= rune(rg.Hi) {
			return (r - rune(rg.Lo)) % 10
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if r >= rune(rg.Lo) && r <= rune(rg.Hi) {
			return (r - rune(rg.Lo)) % 10
		}
	}
	return 0
}

func indexOf(names []string, s string) int {
	for i, n := range names {
		if n != "" && strings.EqualFold(n, s) {
			return i
		}
	}
	return -1
}

func (t *template) parseFields(line string, loc []int, now time.Time, tz *time.Location) (time.Time, bool) {
	fs := fields{year: -1, month: -1, day: -1, weekday: -1, julian: -1, week: -1}
	// Python reads the fields in the order of their groups; only %y and %Y
	// could overwrite each other, which no sane pattern does.
	for f := 0; f < numFields; f++ {
		v, ok := t.field(f, line, loc)
		if !ok {
			continue
		}
		ampm := ""
		if f == fI {
			ampm, _ = t.field(fp, line, loc)
		}
		if !fs.set(f, v, ampm) {
			return time.Time{}, false
		}
	}
	return fs.time(now, tz)
}

// fields are the values of a template's groups (-1: not given).
type fields struct {
	year, month, day      int
	hour, minute, second  int
	weekday, julian, week int
	weekStartsMonday      bool
	zoneSet               bool
	zoneMin               int
}

// number returns the field that field group f sets as a plain number, or
// nil.
func (fs *fields) number(f int) *int {
	switch f {
	case fY:
		return &fs.year
	case fm:
		return &fs.month
	case fd:
		return &fs.day
	case fH:
		return &fs.hour
	case fM:
		return &fs.minute
	case fS:
		return &fs.second
	case fj:
		return &fs.julian
	}
	return nil
}

// set reads the text v of field group f (ampm: the %p text, for %I); false
// when it does not parse.
func (fs *fields) set(f int, v, ampm string) bool {
	if p := fs.number(f); p != nil {
		n, ok := atoi(v)
		*p = n
		return ok
	}
	ok := true
	switch f {
	case fy:
		var n int
		if n, ok = atoi(v); ok && n <= 2000 {
			n += 2000
		}
		fs.year = n
	case fB:
		fs.month = indexOf(monthFull[:], v)
		ok = fs.month >= 1
	case fb:
		fs.month = indexOf(monthAbbr[:], v)
		ok = fs.month >= 1
	case fI:
		fs.hour, ok = atoi(v)
		fs.hour = hour12(fs.hour, ampm)
	case fA:
		fs.weekday = indexOf(weekdayFull[:], v)
	case fa:
		fs.weekday = indexOf(weekdayAbbr[:], v)
	case fw:
		if n, ok := atoi(v); ok {
			fs.weekday = (n + 6) % 7
		}
	case fU, fW:
		fs.week, ok = atoi(v)
		fs.weekStartsMonday = f == fW
	case fz, fZ:
		fs.zoneMin, ok = 0, true
		if v != "Z" && v != "UTC" && v != "GMT" {
			fs.zoneMin, ok = zoneOffset(v)
		}
		fs.zoneSet = ok
	}
	return ok
}

// hour12 turns a %I hour into a 24-hour one by its %p text.
func hour12(hour int, ampm string) int {
	switch strings.ToLower(ampm) {
	case "", "am":
		if hour == 12 {
			return 0
		}
	case "pm":
		if hour != 12 {
			return hour + 12
		}
	}
	return hour
}

// time is the date the fields give, completed as Python's strptime and
// fail2ban complete it (the year, the day, a week day; a date without a
// year more than a day ahead is last year's).
func (fs fields) time(now time.Time, tz *time.Location) (time.Time, bool) {
	year, month, day := fs.year, fs.month, fs.day
	hour, minute, second := fs.hour, fs.minute, fs.second
	julian, zoneSet, zoneMin := fs.julian, fs.zoneSet, fs.zoneMin
	// "now" as fail2ban sees it: the local wall clock, without a zone.
	nowWall := wall(now.In(tz))
	assumeYear := false
	if year < 0 {
		year = nowWall.Year()
		assumeYear = true
	}
	if month < 0 || day < 0 {
		if julian < 0 && fs.week >= 0 && fs.weekday >= 0 {
			julian = julianFromWeek(year, fs.week, fs.weekday, fs.weekStartsMonday)
		}
		if julian >= 0 {
			d := time.Date(year, 1, julian, 0, 0, 0, 0, time.UTC)
			year, month, day = d.Year(), int(d.Month()), d.Day()
		}
	}
	assumeToday := false
	if month < 0 && day < 0 {
		month, day = int(nowWall.Month()), nowWall.Day()
		assumeToday = true
	}
	if month < 0 || day < 0 || !validDate(year, month, day, hour, minute, second) {
		return time.Time{}, false
	}
	// Naive date arithmetic, as Python's datetime without tzinfo.
	d := time.Date(year, time.Month(month), day, hour, minute, second, 0, time.UTC)
	if zoneSet {
		d = d.Add(-time.Duration(zoneMin) * time.Minute)
	}
	if assumeToday && d.After(nowWall) {
		d = d.AddDate(0, 0, -1)
	}
	if assumeYear && d.After(nowWall.Add(24*time.Hour)) {
		// The previous year, with the month and day as written.
		if !validDate(year-1, month, day, 0, 0, 0) {
			return time.Time{}, false
		}
		d = time.Date(year-1, time.Month(month), day, d.Hour(), d.Minute(), d.Second(), 0, time.UTC)
	}
	if zoneSet {
		return d, true
	}
	return time.Date(d.Year(), d.Month(), d.Day(), d.Hour(), d.Minute(), d.Second(), 0, tz), true
}

// wall returns the wall clock of t as a zone-less (UTC) time.
func wall(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

func validDate(y, m, d, h, mi, s int) bool {
	if y < 1 || y > 9999 || m < 1 || m > 12 || d < 1 || h > 23 || mi > 59 || s > 59 {
		return false
	}
	return d <= time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// julianFromWeek returns the day of the year of weekday (Monday = 0) in
// week of year (weeks starting on Monday for %W, Sunday for %U).
func julianFromWeek(year, week, weekday int, mondayFirst bool) int {
	first := (int(time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC).Weekday()) + 6) % 7 // Monday = 0
	if !mondayFirst {
		first = (first + 1) % 7
		weekday = (weekday + 1) % 7
	}
	week0 := (7 - first) % 7
	if week == 0 {
		return 1 + weekday - first
	}
	return 1 + week0 + 7*(week-1) + weekday
}

// zoneOffset reads a zone as fail2ban does: an abbreviation and/or an
// offset ±hh, ±hhmm or ±hh:mm; it returns minutes east of UTC.
func zoneOffset(z string) (int, bool) {
	i := 0
	for i < len(z) && z[i] >= 'A' && z[i] <= 'Z' {
		i++
	}
	abbr, off := z[:i], z[i:]
	if abbr != "" && (len(abbr) == 2 || len(abbr) > 5) {
		return 0, false
	}
	base, ok := 0, abbr == ""
	if !ok {
		base, ok = fastdate.ZoneAbbrev(abbr)
	}
	if !ok {
		return 0, false
	}
	if off == "" {
		return base, true
	}
	if off[0] != '+' && off[0] != '-' || len(off) < 3 || (off[1] != '0' && off[1] != '1') || !isDigitByte(off[2]) {
		return 0, false
	}
	sign := 1
	if off[0] == '-' {
		sign = -1
	}
	h := int(off[1]-'0')*10 + int(off[2]-'0')
	rest := off[3:]
	if rest == "" {
		return base + sign*h*60, true
	}
	rest = strings.TrimPrefix(rest, ":")
	if len(rest) != 2 || !isDigitByte(rest[0]) || !isDigitByte(rest[1]) {
		return 0, false
	}
	m := int(rest[0]-'0')*10 + int(rest[1]-'0')
	return base + sign*(h*60+m), true
}

func isDigitByte(c byte) bool { return c >= '0' && c <= '9' }
