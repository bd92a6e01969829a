package native

import (
	"strings"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/match/fastdate"
)

// Dates between lines, for a filter that asks for them (Rules.LastDate,
// a filter file's "undated: last_date"). Some programs write the date on a line of its own
// and the message on the next (Tomcat's catalina layout, ejabberd 2.x's
// "=INFO REPORT==== DATE ==="), so the message line has no date. As
// fail2ban's filter (filter.py, processLine) does, a line without a date
// takes the last date seen when that date is less than lastDateAge older
// than now (a later one is taken whatever it is); otherwise it takes the
// time it was read. The last date is the source's time of an entry that
// has one (journal, syslog) or the date found in a line, in log order:
// state between lines, kept by Prepare (see split.go), so a matcher
// classifies lines line by line only when given them in order (it
// KeepsState).
//
// A line's date is the program's, not the client's: the date finder looks
// for the first date anywhere in a line, so text a client chose (a user
// name such as "Nov 25 07:13:18") can date the line it is on. Such a date
// is never remembered. A date is kept for later lines only when it is
// where the program writes its own: the source's time, a date that opens
// the line (nothing but blanks and punctuation before it: a client's text
// comes after the program's header, never first on a line), or a date
// found by a datepattern anchored at the line's start ("^" or
// "{^LN-BEG}", whose literal text before the date is the program's). A
// client cannot write a line of its own either: a program that let a
// client start a line (a newline in a user name) would let it write any
// failure with any address, and no filter can stand on such a log. So a
// date in client text dates at most its own line, as it did before,
// and the lines after it take the program's last date or their read time.
const lastDateAge = 60 * time.Second

// dateFinder is one datepattern line's finder (or the automatic one) and
// whether its dates are always where the program writes them (see above).
type dateFinder struct {
	*fastdate.Finder
	anchored bool
}

// compileDates sets the date finder: the datepattern's (one pattern per
// line; of the dates they find, the one starting first in the line wins:
// see fastdate.NewPatternFinder), else the automatic one. Its dates are
// always where the program writes them when every pattern is anchored at
// the line's start.
func (m *Matcher) compileDates(loc *time.Location, datepattern string) error {
	if loc == nil {
		loc = time.Local
	}
	if strings.TrimSpace(datepattern) == "" {
		m.finder = dateFinder{Finder: fastdate.NewFinder(loc)}
		return nil
	}
	f, err := fastdate.NewPatternFinder(datepattern, loc)
	if err != nil {
		return err
	}
	anchored := true
	for _, line := range strings.Split(datepattern, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "^") && !strings.HasPrefix(line, "{^LN-BEG}") {
			anchored = false
		}
	}
	m.finder = dateFinder{Finder: f, anchored: anchored}
	return nil
}

// findDate is date's search: the date's span in the message (start ==
// end when none was searched for or found) and the time: the source's when
// it has one, else the date in the message, else the last date (see the
// top of the file), else the read time. It keeps the last date: it runs
// on the lines in log order (Match, Prepare).
func (m *Matcher) findDate(e *ingest.Entry, now time.Time) (start, end int, t time.Time) {
	if !e.Time.IsZero() {
		if m.lastDate {
			m.last = e.Time
		}
		return 0, 0, e.Time
	}
	f := &m.finder
	if dt, start, end, ok := f.Find(e.Message, now); ok {
		m.countDate(f.Name())
		if m.lastDate && (f.anchored || opensLine(e.Message, start)) {
			m.last = dt
		}
		if start < end {
			return start, end, dt
		}
		return 0, 0, dt
	}
	if m.lastDate && !m.last.IsZero() && m.last.After(now.Add(-lastDateAge)) {
		return 0, 0, m.last
	}
	return 0, 0, e.ReadAt
}

// opensLine reports whether a date at offset start of line opens it: only
// blanks and punctuation ("[", "<", "=", …) before it, no letter or digit.
func opensLine(line string, start int) bool {
	for i := range start {
		c := line[i]
		if c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= 0x80 {
			return false
		}
	}
	return true
}
