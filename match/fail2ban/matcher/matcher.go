// Package matcher is the fail2ban dialect of match.Matcher: fail2ban's
// filters run as fail2ban runs them (server/filter.py, processLine and
// findFailure):
//
//   - the date is found by fail2ban's templates and cut out of the line;
//     a line without a date takes the last date if it is less than 60 s
//     older than now;
//   - the line, plus "\n", must match prefregex; its <F-CONTENT>, when not
//     empty, is what the failregexes see;
//   - the first failregex that matches decides, unless an ignoreregex
//     matches too (fail2ban checks the ignoreregexes first, on the whole
//     line, when there are fewer of them than failregexes minus two);
//   - with maxlines > 1 the failregexes see the last maxlines lines joined
//     by "\n" (with ^ and $ at each line), and the lines of a match leave
//     the buffer;
//   - <F-MLFID> names a connection: the captures of its lines merge, a
//     failure without an address takes it from an earlier line, and
//     <F-NOFAIL>, <F-MLFFORGET>, <F-MLFGAINED> steer which lines count.
package matcher

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/match/fail2ban/datedetector"
)

// Matcher is a match.Matcher for fail2ban's dialect. It is owned by one
// goroutine: it keeps counters, the last date, the multi-line buffer and
// the connections seen, without locks. With maxlines 1 it is a
// match.Splitter (split.go).
type Matcher struct {
	pipeline string
	pref     *f2bRegex
	fail     []*f2bRegex
	// need holds the texts one of which the text of every failregex
	// match holds (nil: no prefilter).
	need     *litSet
	ignore   []*f2bRegex
	maxLines int
	dates    *datedetector.Detector
	// buf, buf2, preLoc and loc are Scan's: the text it searches and the
	// content, the prefregex's match and a failregex's, reused from line
	// to line (a match is read before the next line's search).
	buf      []byte
	buf2     []byte
	preLoc   []int
	loc      []int
	lines    []string // multi-line buffer (text of each line, date cut)
	lastDate time.Time
	haveLast bool
	mlf      *mlfCache
	timeouts uint64
	// failTimeouts counts timeouts per failregex.
	failTimeouts []uint64
	// lastTimeout is where the last timeout happened.
	lastTimeout match.RegexSite
	hits        []uint64
	dateHits    map[string]uint64
	// line is Match's state of the line it matches.
	line match.LineState
}

var _ match.Splitter = (*Matcher)(nil)

// Compile builds a matcher for pipeline from rules in fail2ban's dialect.
func Compile(pipeline string, r match.Rules) (*Matcher, error) {
	loc := r.Location
	if loc == nil {
		loc = time.Local
	}
	var errs []error
	f := &Matcher{pipeline: pipeline, maxLines: max(r.MaxLines, 1), dateHits: map[string]uint64{}}
	multi := f.maxLines > 1
	if r.Prefregex != "" {
		p, err := compileF2B(r.Prefregex, false, multi, r.Timeout)
		if err != nil {
			errs = append(errs, &match.RegexError{List: "prefregex", Err: err})
		}
		if p != nil {
			p.site = match.RegexSite{List: "prefregex"}
		}
		f.pref = p
	}
	if len(r.Failregex) == 0 {
		errs = append(errs, &match.RegexError{List: "failregex", Err: errors.New("no failregex given")})
	}
	for i, s := range r.Failregex {
		fr, err := compileF2B(s, multi, multi, r.Timeout)
		if err == nil && !hasIDGroup(fr) && (f.pref == nil || !hasIDGroup(f.pref)) {
			err = errNoFailureID
		}
		if err != nil {
			errs = append(errs, &match.RegexError{List: "failregex", Index: i, Err: err})
			continue
		}
		fr.site = match.RegexSite{List: "failregex", Index: i}
		f.fail = append(f.fail, fr)
	}
	for i, s := range r.Ignoreregex {
		ir, err := compileF2B(s, false, multi, r.Timeout)
		if err != nil {
			errs = append(errs, &match.RegexError{List: "ignoreregex", Index: i, Err: err})
			continue
		}
		ir.site = match.RegexSite{List: "ignoreregex", Index: i}
		f.ignore = append(f.ignore, ir)
	}
	d, err := datedetector.New(r.Datepattern, loc, time.Time{})
	if err != nil {
		errs = append(errs, &match.RegexError{List: "datepattern", Err: err})
	}
	f.dates = d
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if !multi {
		f.need = prefilter(f.fail)
	}
	f.failTimeouts = make([]uint64, len(f.fail))
	f.hits = make([]uint64, len(f.fail))
	return f, nil
}

// Regexes returns the failregexes after tag expansion, in order.
func (f *Matcher) Regexes() []string {
	out := make([]string, len(f.fail))
	for i, r := range f.fail {
		out[i] = r.re.String()
	}
	return out
}

// Engines returns, per failregex, match.EngineRE2 or match.EngineRegexp2.
func (f *Matcher) Engines() []string {
	out := make([]string, len(f.fail))
	for i, r := range f.fail {
		out[i] = r.re.Engine()
	}
	return out
}

// Dialect returns match.DialectFail2ban.
func (f *Matcher) Dialect() match.Dialect { return match.DialectFail2ban }

// Hits counts matches per failregex.
func (f *Matcher) Hits() []uint64 { return f.hits }

// DateHits counts lines per date template.
func (f *Matcher) DateHits() map[string]uint64 { return f.dateHits }

// Timeouts counts the regexes' and the date templates' timeouts.
func (f *Matcher) Timeouts() uint64 { return f.allTimeouts() }

// RegexTimeouts counts timeouts per failregex.
func (f *Matcher) RegexTimeouts() []uint64 { return f.failTimeouts }

// LastTimeout names the regex (or "datepattern") of the last timeout.
func (f *Matcher) LastTimeout() match.RegexSite { return f.lastTimeout }

// prefilter returns the texts one of which every failregex requires, or
// nil when a failregex requires none. What a failregex searches (the
// line, or its prefregex <F-CONTENT> and "\n") lies within the line, so
// a line holding none of them matches no failregex.
func prefilter(fail []*f2bRegex) *litSet {
	var all []string
	for _, r := range fail {
		req := r.re.Required()
		if req == nil || slices.ContainsFunc(req, func(s string) bool { return strings.Contains(s, "\n") }) {
			// (A failregex may see the content and a "\n" the line lacks
			// there: no newline in what the line is searched for.)
			return nil
		}
		all = append(all, req...)
	}
	return newLitSet(all)
}

func hasIDGroup(r *f2bRegex) bool {
	for _, g := range f2bIDGroups {
		if r.has(g) {
			return true
		}
	}
	return false
}

// search runs r over text (ASCII or not), the match in dst's array when
// it can (nil: a new one); timedOut tells that it ran out of time, and
// searched no further (no match).
func search(r *f2bRegex, dst []int, text []byte, ascii bool) (loc []int, timedOut bool) {
	if !hasPrefix(text, r.prefixes) || !holdsAny(text, r.need) {
		return nil, false
	}
	loc, err := r.re.FindSubmatchIndexInto(dst, text, ascii)
	return loc, err != nil
}

func matches(r *f2bRegex, text []byte, ascii bool) (ok, timedOut bool) {
	if !hasPrefix(text, r.prefixes) || !holdsAny(text, r.need) {
		return false, false
	}
	ok, err := r.re.MatchHint(text, ascii)
	return ok, err != nil
}

// timedOut counts a timeout of the regex at site.
func (f *Matcher) timedOut(site match.RegexSite) {
	f.timeouts++
	f.lastTimeout = site
	if site.List == "failregex" {
		f.failTimeouts[site.Index]++
	}
}

// allTimeouts counts the regexes' and the date templates' timeouts.
func (f *Matcher) allTimeouts() uint64 { return f.timeouts + f.dates.Timeouts }

// recent tells whether the last date seen is less than 60 s older than now.
func (f *Matcher) recent(now time.Time) bool {
	return f.haveLast && f.lastDate.After(now.Add(-60*time.Second))
}

// Match classifies e (see match.Matcher): the halves of match.Splitter
// one after the other, or with maxlines > 1 the multi-line buffer; with
// Timeout for a line that matched nothing because a regex ran out of time
// on it. A line whose date is found costs one allocation (RE2's match
// positions).
func (f *Matcher) Match(e *ingest.Entry, now time.Time) (match.Failure, match.Outcome) {
	if f.maxLines > 1 {
		return f.matchLines(e, now)
	}
	l := &f.line
	f.Prepare(e, now, l)
	f.Scan(e, l)
	f.Finish(e, now, l)
	return l.Failure, l.Outcome
}

// matchLines is Match with the multi-line buffer.
func (f *Matcher) matchLines(e *ingest.Entry, now time.Time) (match.Failure, match.Outcome) {
	before, dateBefore := f.allTimeouts(), f.dates.Timeouts
	start, end, t := f.date(e, now)
	fl, out := f.multi(e, e.Message[:start]+e.Message[end:], t, now)
	if f.dates.Timeouts != dateBefore {
		f.lastTimeout = match.RegexSite{List: "datepattern"}
	}
	if out == match.Miss && f.allTimeouts() != before {
		out = match.Timeout
	}
	return fl, out
}

// contentText is content as a string: the text's own bytes when content
// is the prefregex's <F-CONTENT> followed by the text's "\n".
func contentText(text string, content []byte, preLoc []int, pref *f2bRegex) string {
	if preLoc == nil || pref.content <= 0 {
		return text
	}
	c0, c1 := preLoc[2*pref.content], preLoc[2*pref.content+1]
	if c0 >= 0 && c1 > c0 && c1 < len(text) && text[c1] == '\n' && len(content) == c1+1-c0 {
		return text[c0 : c1+1]
	}
	return string(content)
}

// date finds the time of e and where its date is in the line, to be cut
// out (start == end: none).
func (f *Matcher) date(e *ingest.Entry, now time.Time) (start, end int, t time.Time) {
	line := e.Message
	if !e.Time.IsZero() {
		// The source knows the time (journal, syslog): no date parsing.
		f.lastDate, f.haveLast = e.Time, true
		return 0, 0, e.Time
	}
	// No date, a date that does not parse, or a template that matches no
	// text ({NONE}): the last date if recent, else the read time.
	if r := f.dates.Find(line, now); r.Found && r.Start < r.End {
		start, end = r.Start, r.End
		if r.OK {
			f.lastDate, f.haveLast = r.Time, true
			f.dateHits[r.Template]++
			return start, end, r.Time
		}
	}
	if f.recent(now) {
		return start, end, f.lastDate
	}
	return start, end, readTime(e, now)
}

func readTime(e *ingest.Entry, now time.Time) time.Time {
	if !e.ReadAt.IsZero() {
		return e.ReadAt
	}
	return now
}
