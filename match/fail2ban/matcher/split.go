package matcher

import (
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/match/fail2ban/pyre"
)

// A filter that reads one line at a time (maxlines 1) splits fail2ban's
// processLine where its state between lines is: the date detector (its
// template order and last match decide which template finds a line's
// date and where it is cut) and the last date are Prepare's; prefregex,
// failregexes and ignoreregexes then see one prepared text and nothing
// else (Scan: no state); the connections of <F-MLFID>, the counters and
// the failure's assembly are Finish's. A failregex whose groups give no
// failure id lets the next one try: Scan knows it from the groups alone
// (idless), so the regex Scan hands on is the one Match would use.

// Splits reports whether the filter reads one line at a time (maxlines 1):
// with more, the failregexes see earlier lines.
func (f *Matcher) Splits() bool { return f.maxLines <= 1 }

// Prepare finds e's date (match.Splitter's first half).
func (f *Matcher) Prepare(e *ingest.Entry, now time.Time, l *match.LineState) {
	*l = match.LineState{TimedOut: l.TimedOut[:0], Regex: -1}
	before := f.dates.Timeouts
	start, end, t := f.date(e, now)
	l.Cut, l.Time, l.DateTimeouts = [2]int{start, end}, t, f.dates.Timeouts-before
}

// Scan runs the regexes on e's text without its date, plus "\n" (fail2ban
// searches the line so), built without allocating. It finds the
// failregex that decides, or that an ignoreregex matches.
func (f *Matcher) Scan(e *ingest.Entry, l *match.LineState) {
	line := e.Message
	ascii := pyre.IsASCII(line)
	f.buf = append(append(append(f.buf[:0], line[:l.Cut[0]]...), line[l.Cut[1]:]...), '\n')
	buf := f.buf
	if len(f.ignore) > 0 && len(f.ignore) < len(f.fail)-2 && f.ignored(buf, ascii, l) {
		return
	}
	if f.need != nil && !f.need.in(buf) {
		return // no failregex can match: the prefregex need not run either
	}
	content := buf
	var preLoc []int
	if f.pref != nil {
		preLoc = f.find(f.pref, &f.preLoc, buf, ascii, l)
		if preLoc == nil {
			return
		}
		if ci := f.pref.content; ci > 0 && preLoc[2*ci] >= 0 && preLoc[2*ci+1] > preLoc[2*ci] {
			f.buf2 = append(append(f.buf2[:0], buf[preLoc[2*ci]:preLoc[2*ci+1]]...), '\n')
			content = f.buf2
		}
	}
	for i, fr := range f.fail {
		loc := f.find(fr, &f.loc, content, ascii, l)
		if loc == nil {
			continue
		}
		if f.ignored(content, ascii, l) {
			return
		}
		g := map[string]string{}
		text := string(buf) // one copy for every group's value
		if preLoc != nil {
			f.pref.groups(text, preLoc, g)
			delete(g, groupContent)
		}
		fr.groups(contentText(text, content, preLoc, f.pref), loc, g)
		if idless(g) {
			continue
		}
		l.Regex, l.Groups = i, g
		return
	}
}

// find is search into *buf (kept for the next search), noting a timeout
// in l.
func (f *Matcher) find(r *f2bRegex, buf *[]int, text []byte, ascii bool, l *match.LineState) []int {
	loc, timedOut := search(r, *buf, text, ascii)
	if loc != nil {
		*buf = loc
	}
	if timedOut {
		l.TimedOut = append(l.TimedOut, r.site)
	}
	return loc
}

// ignored tells whether an ignoreregex matches text; then l's outcome is
// Ignored.
func (f *Matcher) ignored(text []byte, ascii bool, l *match.LineState) bool {
	for _, ig := range f.ignore {
		ok, timedOut := matches(ig, text, ascii)
		if timedOut {
			l.TimedOut = append(l.TimedOut, ig.site)
		}
		if ok {
			l.Outcome = match.Ignored
			return true
		}
	}
	return false
}

// Finish counts the line's timeouts and turns the groups Scan found into
// the failure (match.Splitter's last half).
func (f *Matcher) Finish(e *ingest.Entry, now time.Time, l *match.LineState) {
	for _, site := range l.TimedOut {
		f.timedOut(site)
	}
	if l.DateTimeouts > 0 {
		f.lastTimeout = match.RegexSite{List: "datepattern"}
	}
	if l.Regex >= 0 {
		// ok: Scan handed on no idless groups.
		fl, out, _ := f.failure(l.Groups, 1, l.Regex, l.Time, now)
		f.hits[l.Regex]++
		fl.Line, fl.Pos = e.Message, e.Pos
		l.Failure, l.Outcome = fl, out
	}
	if l.Outcome == match.Miss && l.Timeouts() > 0 {
		l.Outcome = match.Timeout
	}
}
