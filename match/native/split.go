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

// Prepare finds e's date (match.Splitter's first half).
func (m *Matcher) Prepare(e *ingest.Entry, now time.Time, l *match.LineState) {
	*l = match.LineState{Regex: -1}
	start, end, t := m.findDate(e, now)
	l.Cut, l.Time = [2]int{start, end}, t
}

// Groups keys of a LineState between Scan and Finish: what scan found
// besides the failure.
const (
	stateAddr   = "addr"
	stateUser   = "user"
	stateID     = "mlfid"
	stateForget = "mlfforget"
	stateGained = "mlfgained"
)

// Scan runs the regexes on e's message without its date (the middle).
func (m *Matcher) Scan(e *ingest.Entry, l *match.LineState) {
	text := e.Message
	if l.Cut[0] != l.Cut[1] {
		text = cutDate(text, l.Cut[0], l.Cut[1])
	}
	var fd found
	if !m.scan(e, text, l.Time, &fd) {
		l.Outcome = fd.out
		return
	}
	g := map[string]string{}
	if fd.hasAddr {
		g[stateAddr] = ""
	}
	if fd.hasUser {
		g[stateUser] = fd.user
	}
	if fd.hasID {
		g[stateID] = fd.id
	}
	if fd.forget {
		g[stateForget] = ""
	}
	if fd.gain {
		g[stateGained] = ""
	}
	l.Regex, l.Groups, l.Failure, l.Outcome = fd.regex, g, fd.f, fd.out
}

// Finish counts the line's hit and applies its connection's state (the
// last half, in log order).
func (m *Matcher) Finish(e *ingest.Entry, now time.Time, l *match.LineState) {
	if l.Regex < 0 {
		return
	}
	fd := found{regex: l.Regex, out: l.Outcome, f: l.Failure}
	_, fd.hasAddr = l.Groups[stateAddr]
	fd.user, fd.hasUser = l.Groups[stateUser]
	fd.id, fd.hasID = l.Groups[stateID]
	_, fd.forget = l.Groups[stateForget]
	_, fd.gain = l.Groups[stateGained]
	l.Failure, l.Outcome = m.finish(&fd)
}
