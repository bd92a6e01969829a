// Package native is logjail's own dialect of filters: RE2 syntax (linear
// time), logjail's tags (<HOST>, <ADDR>, <F-USER>, <F-CONTENT>,
// <F-NOFAIL>, <F-NAME>), the fast date recogniser of match/fastdate (or a
// datepattern of strftime directives), one line at a time, no state
// between lines.
package native

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/match/asciire"
	"github.com/logjail/logjail/match/fastdate"
)

type failRegex struct {
	re                       *regexp.Regexp
	prefix                   string // literal every match starts with (see match.AnchoredPrefix)
	host, addr, user, nofail int
	extra                    []int           // other named groups, for Failure.Fields
	ascii                    *asciire.Regexp // nil when it cannot run re
}

// Matcher is a match.Matcher for logjail's dialect. It is owned by one
// goroutine: it keeps counters and a date finder cache without locks.
type Matcher struct {
	pipeline string
	pref     *regexp.Regexp
	prefCont int
	// prefHead is the prefregex without its trailing
	// (?P<content>.+)$, when it has that common shape (see headOf).
	prefHead      *regexp.Regexp
	prefHeadASCII *asciire.Regexp // prefHead for ASCII lines, nil when it cannot
	fail          []failRegex
	ignore        []*regexp.Regexp
	finder        *fastdate.Finder
	// pre keeps lines from regexes that cannot match them; nil when
	// no regex requires a literal.
	pre      *prefilter
	hits     []uint64
	dateHits map[string]uint64
	// dateName and dateRun count the dates of a run of lines in one
	// format, added to dateHits when the format changes or DateHits is
	// called: a map update per line cost more than the prefilter.
	dateName string
	dateRun  uint64
}

var _ match.Matcher = (*Matcher)(nil)

// Compile builds a matcher for pipeline from rules in logjail's dialect.
func Compile(pipeline string, r match.Rules) (*Matcher, error) {
	if r.Dialect != match.DialectLogjail {
		return nil, fmt.Errorf("native: rules in the %s dialect", r.Dialect)
	}
	if r.MaxLines > 1 {
		return nil, &match.RegexError{List: "failregex", Err: errors.New("maxlines needs the fail2ban dialect")}
	}
	m := &Matcher{pipeline: pipeline, dateHits: map[string]uint64{}}
	var errs []error
	if r.Prefregex != "" {
		if err := m.compilePref(r.Prefregex); err != nil {
			errs = append(errs, &match.RegexError{List: "prefregex", Err: err})
		}
	}
	if len(r.Failregex) == 0 {
		errs = append(errs, &match.RegexError{List: "failregex", Err: errors.New("no failregex given")})
	}
	for i, s := range r.Failregex {
		fr, err := compileFail(s)
		if err != nil {
			errs = append(errs, &match.RegexError{List: "failregex", Index: i, Err: err})
			continue
		}
		m.fail = append(m.fail, fr)
	}
	for i, s := range r.Ignoreregex {
		p, _, err := expandTags(s)
		var re *regexp.Regexp
		if err == nil {
			re, err = regexp.Compile(p)
		}
		if err != nil {
			errs = append(errs, &match.RegexError{List: "ignoreregex", Index: i, Err: err})
			continue
		}
		m.ignore = append(m.ignore, re)
	}
	if err := m.compileDates(r); err != nil {
		errs = append(errs, &match.RegexError{List: "datepattern", Err: err})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	m.hits = make([]uint64, len(m.fail))
	m.pre = newPrefilter(m.prefPattern(), m.Regexes())
	return m, nil
}

func (m *Matcher) compilePref(s string) error {
	p, _, err := expandTags(s)
	if err == nil {
		m.pref, err = regexp.Compile(p)
	}
	if err != nil {
		return err
	}
	m.prefCont = m.pref.SubexpIndex(groupContent)
	m.prefHead = headOf(p)
	if m.prefHead != nil {
		m.prefHeadASCII = asciire.Compile(m.prefHead.String())
	}
	return nil
}

func compileFail(s string) (failRegex, error) {
	p, hasAddr, err := expandTags(s)
	if err == nil && !hasAddr {
		err = match.ErrNoAddress
	}
	var re *regexp.Regexp
	if err == nil {
		re, err = regexp.Compile(p)
	}
	if err != nil {
		return failRegex{}, err
	}
	fr := failRegex{
		re:     re,
		prefix: match.AnchoredPrefix(p),
		host:   re.SubexpIndex(groupHost),
		addr:   re.SubexpIndex(groupAddr),
		user:   re.SubexpIndex(groupUser),
		nofail: re.SubexpIndex(groupNoFail),
		ascii:  asciire.Compile(p),
	}
	for gi, name := range re.SubexpNames() {
		switch name {
		case "", groupHost, groupAddr, groupUser, groupNoFail, groupContent:
		default:
			fr.extra = append(fr.extra, gi)
		}
	}
	return fr, nil
}

// compileDates sets the date finder: the datepattern's, else the
// automatic one.
func (m *Matcher) compileDates(r match.Rules) error {
	loc := r.Location
	if loc == nil {
		loc = time.Local
	}
	if r.Datepattern == "" {
		m.finder = fastdate.NewFinder(loc)
		return nil
	}
	f, err := fastdate.NewPatternFinder(r.Datepattern, loc)
	m.finder = f
	return err
}

// prefPattern is the expanded prefregex, "" without one.
func (m *Matcher) prefPattern() string {
	if m.pref == nil {
		return ""
	}
	return m.pref.String()
}

// Regexes returns the failregexes after tag expansion, in order.
func (m *Matcher) Regexes() []string {
	out := make([]string, len(m.fail))
	for i, f := range m.fail {
		out[i] = f.re.String()
	}
	return out
}

// Engines returns match.EngineRE2 for every failregex.
func (m *Matcher) Engines() []string {
	out := make([]string, len(m.fail))
	for i := range out {
		out[i] = match.EngineRE2
	}
	return out
}

// Dialect returns match.DialectLogjail.
func (m *Matcher) Dialect() match.Dialect { return match.DialectLogjail }

// Hits counts matches per failregex.
func (m *Matcher) Hits() []uint64 { return m.hits }

// DateHits counts lines per recognised date format name.
func (m *Matcher) DateHits() map[string]uint64 {
	m.flushDates()
	return m.dateHits
}

// countDate counts a line dated in format name.
func (m *Matcher) countDate(name string) {
	if name != m.dateName || m.dateRun == 0 {
		m.flushDates()
		m.dateName = name
	}
	m.dateRun++
}

// flushDates adds the run of dates counted so far to dateHits.
func (m *Matcher) flushDates() {
	if m.dateRun > 0 {
		m.dateHits[m.dateName] += m.dateRun
		m.dateRun = 0
	}
}

// Timeouts is 0: RE2 runs in linear time and never times out.
func (m *Matcher) Timeouts() uint64 { return 0 }

// RegexTimeouts is 0 for every failregex.
func (m *Matcher) RegexTimeouts() []uint64 { return make([]uint64, len(m.fail)) }

// LastTimeout is the zero site: nothing times out.
func (m *Matcher) LastTimeout() match.RegexSite { return match.RegexSite{} }

// Match classifies e (see match.Matcher). The miss path does not allocate.
func (m *Matcher) Match(e *ingest.Entry, now time.Time) (f match.Failure, out match.Outcome) {
	text := e.Message
	t := e.Time
	if t.IsZero() {
		if dt, start, end, ok := m.finder.Find(text, now); ok {
			t = dt
			m.countDate(m.finder.Name())
			text = cutDate(text, start, end)
		} else {
			t = e.ReadAt
		}
	}
	if m.pre != nil && !m.pre.scan(text) {
		return f, match.Miss // each regex needs a literal the line lacks
	}
	scanned, ascii := text, asciire.IsASCII(text)
	text, ok := m.content(text, ascii)
	if !ok {
		return f, match.Miss
	}
	for i := range m.fail {
		fr := &m.fail[i]
		if !strings.HasPrefix(text, fr.prefix) || m.pre != nil && !m.pre.may(scanned, i) {
			continue
		}
		loc := fr.find(text, ascii) // allocates only on a match
		if loc == nil {
			continue
		}
		return m.failure(e, text, t, i, loc)
	}
	return f, match.Miss
}

// content applies the prefregex: the text the failregexes see, false when
// the prefregex does not match. ascii says text is ASCII.
func (m *Matcher) content(text string, ascii bool) (string, bool) {
	switch {
	case m.pref == nil:
		return text, true
	case m.prefCont < 0:
		return text, m.pref.MatchString(text)
	case m.prefHead != nil:
		// The content is the rest of the line: matching the header
		// alone is the same, and much cheaper than carrying the
		// capture to the end of the line.
		loc, ok := []int(nil), false
		if ascii && m.prefHeadASCII != nil {
			loc, ok = m.prefHeadASCII.Find(text)
		}
		if !ok {
			loc = m.prefHead.FindStringIndex(text)
		}
		if loc == nil || loc[1] == len(text) {
			return "", false
		}
		return text[loc[1]:], true
	}
	loc := m.pref.FindStringSubmatchIndex(text)
	if loc == nil {
		return "", false
	}
	if s, e := loc[2*m.prefCont], loc[2*m.prefCont+1]; s >= 0 {
		text = text[s:e]
	}
	return text, true
}

// failure classifies a match of failregex i at loc in text.
func (m *Matcher) failure(e *ingest.Entry, text string, t time.Time, i int, loc []int) (match.Failure, match.Outcome) {
	fr := &m.fail[i]
	addrText := group(text, loc, fr.host)
	if addrText == "" {
		addrText = group(text, loc, fr.addr)
	}
	for _, ig := range m.ignore {
		if ig.MatchString(text) {
			return match.Failure{}, match.Ignored
		}
	}
	addr, err := netip.ParseAddr(addrText)
	if err != nil || addr.Zone() != "" {
		return match.Failure{}, match.BadAddress
	}
	m.hits[i]++
	f := match.Failure{Pipeline: m.pipeline, Addr: addr.Unmap(), ID: addrText, Time: t, Line: e.Message, Regex: i, Pos: e.Pos, Attempts: 1}
	if fr.nofail >= 0 && loc[2*fr.nofail] >= 0 {
		return f, match.NoFail
	}
	for _, gi := range fr.extra {
		if loc[2*gi] >= 0 {
			if f.Fields == nil {
				f.Fields = map[string]string{}
			}
			f.Fields[fr.re.SubexpNames()[gi]] = text[loc[2*gi]:loc[2*gi+1]]
		}
	}
	f.User = group(text, loc, fr.user)
	f.HasUser = fr.user >= 0 && loc[2*fr.user] >= 0
	return f, match.Matched
}

// find is fr.re.FindStringSubmatchIndex(text), without Go's regexp where
// it can (see match/asciire; ascii says text is ASCII). The groups are read
// before the next call.
func (fr *failRegex) find(text string, ascii bool) []int {
	if ascii && fr.ascii != nil {
		if loc, ok := fr.ascii.Find(text); ok {
			return loc
		}
	}
	return fr.re.FindStringSubmatchIndex(text)
}

func group(s string, loc []int, i int) string {
	if i < 0 || 2*i+1 >= len(loc) || loc[2*i] < 0 {
		return ""
	}
	return s[loc[2*i]:loc[2*i+1]]
}

// cutDate removes the date text from a line, so patterns see the rest of
// it (as fail2ban does), with the brackets around it if any. A date at the
// start, the common case, costs no copy.
func cutDate(s string, start, end int) string {
	if start > 0 && end < len(s) && s[start-1] == '[' && s[end] == ']' {
		start, end = start-1, end+1
	}
	for end < len(s) && (s[end] == ' ' || s[end] == '\t') {
		end++ // strings.TrimLeft builds a set of the cutset every call
	}
	rest := s[end:]
	if start == 0 {
		return rest
	}
	return strings.TrimRight(s[:start], " \t") + " " + rest
}

// headOf returns the part of an expanded prefregex before a final
// "(?P<content>.+)$", compiled, or nil for any other shape. The content of
// such a prefregex is whatever follows the header up to the end of the line
// (a line holds no newline), so the header alone decides the match.
func headOf(pattern string) *regexp.Regexp {
	for _, tail := range []string{"(?P<content>.+)$", "(?P<content>.+)\\s*$"} {
		head, ok := strings.CutSuffix(pattern, tail)
		if !ok || !strings.HasPrefix(head, "^") {
			continue
		}
		re, err := regexp.Compile(head)
		if err != nil || re.NumSubexp() > 0 && re.SubexpIndex(groupContent) >= 0 {
			return nil
		}
		return re
	}
	return nil
}
