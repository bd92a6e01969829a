package native

import (
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/match"
)

// A filter keeps state between lines, but only the last date (see
// lastdate.go) and, when it tracks connections, the connection table: its
// matching splits (match.Splitter) as a fail2ban filter's with maxlines 1
// does. Prepare finds the date in log order (the last date, the date
// finder's cache and counts are the owner's), Scan runs the
// prefregex and the failregexes on any matcher (no state), and Finish
// counts the hit and applies the connection's state, in log order. A
// filter with maxlines above 1 does not split: its regexes see earlier
// lines.

var _ match.Splitter = (*Matcher)(nil)

// Splits reports whether the filter reads one line at a time.
func (m *Matcher) Splits() bool { return m.maxLines <= 1 }

// PreparesApart reports whether Prepare keeps no state between lines:
// true unless the filter keeps the last date (its date finder's cache and
// counts are each matcher's own, and Test and the stream add up the
// counts of every matcher). Then only Finish, the connections and the
// hits, needs the lines in log order (see match.PreparesApart).
func (m *Matcher) PreparesApart() bool { return !m.lastDate && m.maxLines <= 1 }

// Prepare finds e's date (match.Splitter's first half).
func (m *Matcher) Prepare(e *ingest.Entry, now time.Time, l *match.LineState) {
	*l = match.LineState{Regex: -1}
	start, end, t := m.findDate(e, now)
	l.Cut, l.Time = [2]int{start, end}, t
}

// LineState.Flags between Scan and Finish: the tags that took part in
// the failregex's match besides the failure (the connection's id is
// LineState.Key, the user the Failure's, see Scan).
const (
	flagAddr uint8 = 1 << iota
	flagID
	flagForget
	flagGained
)

// Scan runs the regexes on e's message without its date (the middle).
// What Finish needs besides the failure goes in l's Key and Flags, and
// the user in l.Failure even on a <F-NOFAIL> line (Finish puts it back):
// no map a line.
func (m *Matcher) Scan(e *ingest.Entry, l *match.LineState) {
	text := e.Message
	if l.Cut[0] != l.Cut[1] {
		text = cutDate(text, l.Cut[0], l.Cut[1])
	}
	fd := &m.found
	if !m.scan(e, text, l.Time, fd) {
		l.Outcome = fd.out
		return
	}
	var flags uint8
	if fd.hasAddr {
		flags |= flagAddr
	}
	if fd.hasID {
		flags |= flagID
	}
	if fd.forget {
		flags |= flagForget
	}
	if fd.gain {
		flags |= flagGained
	}
	f := fd.f
	f.User, f.HasUser = fd.user, fd.hasUser
	l.Regex, l.Key, l.Flags, l.Failure, l.Outcome = fd.regex, fd.id, flags, f, fd.out
}

// Finish counts the line's hit and applies its connection's state (the
// last half, in log order).
func (m *Matcher) Finish(e *ingest.Entry, now time.Time, l *match.LineState) {
	if l.Regex < 0 {
		return
	}
	fd := found{regex: l.Regex, out: l.Outcome, f: l.Failure, id: l.Key}
	fd.user, fd.hasUser = l.Failure.User, l.Failure.HasUser
	if fd.out == match.NoFail {
		// scan's failure of a <F-NOFAIL> line carries no user.
		fd.f.User, fd.f.HasUser = "", false
	}
	fd.hasAddr = l.Flags&flagAddr != 0
	fd.hasID = l.Flags&flagID != 0
	fd.forget = l.Flags&flagForget != 0
	fd.gain = l.Flags&flagGained != 0
	l.Failure, l.Outcome = m.finish(&fd)
}
