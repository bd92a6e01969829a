// Package native is logjail's own dialect of filters: RE2 syntax (linear
// time), logjail's tags (<HOST>, <ADDR>, <F-USER>, <F-CONTENT>,
// <F-NOFAIL>, <F-NAME>), the fast date recogniser of match/fastdate (or a
// datepattern of strftime directives, a template per line). A filter reads
// one line at a time; between lines it keeps the last date (a line without
// a date takes it, as in fail2ban: see lastdate.go), and, when it tracks
// connections (<F-MLFID>, <F-MLFFORGET>, <F-MLFGAINED>: see conn.go) or
// reads several lines at once (maxlines: see multi.go), their state.
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
)

type failRegex struct {
	re                       *regexp.Regexp
	prefix                   string // literal every match starts with (see match.AnchoredPrefix)
	host, addr, user, nofail int
	// mlfid, forget and gained are the connection tags' groups (-1: none).
	mlfid, forget, gained int
	extra                 []int           // other named groups, for Failure.Fields
	ascii                 *asciire.Regexp // nil when it cannot run re
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
	// finder is the datepattern's date finder (all its lines), or the
	// automatic one; last is the last date a line of the program gave
	// (see lastdate.go).
	finder dateFinder
	last   time.Time
	// pre keeps lines from regexes that cannot match them; nil when
	// no regex requires a literal. With prefixFirst, scan does not
	// consult it (the first words are the prefilter); the tests read
	// from it the literals each filter requires.
	pre *prefilter
	// found is what scan found on the line in hand (see scan).
	found found
	// prefixFirst: every failregex starts with literal text and the
	// prefregex's header alone gives the content, so a line whose
	// content starts with no failregex's first words is a miss before
	// any literal is searched for (many regexes of distinct words cost
	// a search each). The first words are then the whole prefilter: a
	// regex anchored at them fails at its first word that differs,
	// sooner than its other literals are searched for in the content
	// (sshd's lines took 8% less time without the search).
	prefixFirst bool
	// byFirst: the failregexes by their first byte (see firstbyte.go),
	// nil when not all start with literal text; every: all of them.
	byFirst  [][]int
	every    []int
	hits     []uint64
	dateHits map[string]uint64
	// dateName and dateRun count the dates of a run of lines in one
	// format, added to dateHits when the format changes or DateHits is
	// called: a map update per line cost more than the prefilter.
	dateName string
	dateRun  uint64
	// prefID is the prefregex's <F-MLFID> group (-1: none), prefHeadID
	// the same group in prefHead.
	prefID, prefHeadID int
	// tracks tells that the filter tracks connections (an <F-MLFID> in
	// the prefregex or a failregex); conns is its table (see conn.go).
	tracks bool
	conns  *connTable
	// transient is the state of a connection's only line (one that
	// ends a connection not known), kept to spare an allocation.
	transient conn
	// maxLines is the filter's maxlines; with more than one, lines
	// keeps the last ones (see multi.go).
	maxLines int
	// lastDate: a line without a date takes the last date (lastdate.go).
	lastDate bool
	lines    []bufLine
}

var _ match.Matcher = (*Matcher)(nil)

// Compile builds a matcher for pipeline from rules in logjail's dialect.
func Compile(pipeline string, r match.Rules) (*Matcher, error) {
	if r.Dialect != match.DialectLogjail {
		return nil, fmt.Errorf("native: rules in the %s dialect", r.Dialect)
	}
	if r.MaxLines > maxMaxLines {
		return nil, &match.RegexError{List: "maxlines", Err: fmt.Errorf("maxlines %d: at most %d", r.MaxLines, maxMaxLines)}
	}
	m := &Matcher{pipeline: pipeline, dateHits: map[string]uint64{}, prefID: -1, prefHeadID: -1, maxLines: max(r.MaxLines, 1), lastDate: r.LastDate}
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
		fr, err := m.compileFail(s)
		if err != nil {
			errs = append(errs, &match.RegexError{List: "failregex", Index: i, Err: err})
			continue
		}
		m.fail = append(m.fail, fr)
		m.tracks = m.tracks || fr.mlfid >= 0
	}
	for i, s := range r.Ignoreregex {
		p, _, err := expandTags(s)
		var re *regexp.Regexp
		if err == nil {
			re, err = regexp.Compile(m.lineMode() + p)
		}
		if err != nil {
			errs = append(errs, &match.RegexError{List: "ignoreregex", Index: i, Err: err})
			continue
		}
		m.ignore = append(m.ignore, re)
	}
	if err := m.compileDates(r.Location, r.Datepattern); err != nil {
		errs = append(errs, &match.RegexError{List: "datepattern", Err: err})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	m.hits = make([]uint64, len(m.fail))
	for i := range m.fail {
		m.every = append(m.every, i)
	}
	m.byFirst = firstBytes(m.fail)
	m.tracks = m.tracks || m.prefID >= 0
	if m.tracks {
		m.conns = newConnTable(connTableSize, connTableTTL)
	}
	if m.maxLines == 1 {
		// With several lines the prefregex runs on each line and the
		// failregexes on the lines' contents: the literals of one do
		// not tell of the other.
		m.pre = newPrefilter(m.prefPattern(), m.Regexes())
		m.prefixFirst = m.pre != nil && m.prefHead != nil && allPrefixed(m.fail)
	}
	return m, nil
}

// maxMaxLines bounds maxlines: each line runs the failregexes over all
// the lines kept.
const maxMaxLines = 100

// lineMode is the flags of the failregexes and ignoreregexes: with
// several lines, ^ and $ match at each line's start and end, as in
// fail2ban.
func (m *Matcher) lineMode() string {
	if m.maxLines > 1 {
		return "(?m)"
	}
	return ""
}

func (m *Matcher) compilePref(s string) error {
	p, _, err := expandTags(s)
	if err == nil {
		m.pref, err = regexp.Compile(p)
	}
	if err != nil {
		return err
	}
	if m.pref.SubexpIndex(groupForget) >= 0 || m.pref.SubexpIndex(groupGained) >= 0 {
		return errors.New("<F-MLFFORGET> and <F-MLFGAINED> belong in a failregex")
	}
	m.prefCont = m.pref.SubexpIndex(groupContent)
	m.prefID = m.pref.SubexpIndex(groupMLFID)
	m.prefHead = headOf(p)
	if m.prefHead != nil {
		m.prefHeadID = m.prefHead.SubexpIndex(groupMLFID)
		m.prefHeadASCII = asciire.Compile(m.prefHead.String())
		if m.prefHeadASCII != nil {
			// Other programs' lines begin alike, and the header
			// turns them away after a few bytes (see asciire's memo.go).
			m.prefHeadASCII.Remember()
		}
	}
	return nil
}

// compileFail compiles a failregex. It needs an address tag unless the
// filter tracks connections (an <F-MLFID> in the prefregex or in the
// regex): its failures may take their connection's address.
func (m *Matcher) compileFail(s string) (failRegex, error) {
	p, hasAddr, err := expandTags(s)
	var re *regexp.Regexp
	if err == nil {
		re, err = regexp.Compile(m.lineMode() + p)
	}
	if err == nil && !hasAddr && m.prefID < 0 && re.SubexpIndex(groupMLFID) < 0 {
		err = match.ErrNoAddress
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
		mlfid:  re.SubexpIndex(groupMLFID),
		forget: re.SubexpIndex(groupForget),
		gained: re.SubexpIndex(groupGained),
	}
	if m.maxLines == 1 {
		fr.ascii = asciire.Compile(p)
	} else {
		fr.prefix = "" // ^ matches at any line's start
	}
	for gi, name := range re.SubexpNames() {
		switch name {
		case "", groupHost, groupAddr, groupUser, groupNoFail, groupContent, groupMLFID, groupForget, groupGained:
		default:
			fr.extra = append(fr.extra, gi)
		}
	}
	return fr, nil
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
func (m *Matcher) Match(e *ingest.Entry, now time.Time) (match.Failure, match.Outcome) {
	text, t := m.date(e, now)
	if m.maxLines > 1 {
		return m.multi(e, text, t)
	}
	fd := &m.found
	if !m.scan(e, text, t, fd) {
		return match.Failure{}, fd.out
	}
	return m.finish(fd)
}

// date finds e's time, and returns the message without its date (see
// cutDate) and the time: the source's when it has one, else the date in
// the message, else the last date (see lastdate.go), else the read time.
func (m *Matcher) date(e *ingest.Entry, now time.Time) (string, time.Time) {
	start, end, t := m.findDate(e, now)
	if start == end {
		return e.Message, t
	}
	return cutDate(e.Message, start, end), t
}

// found is what a failregex found on a line, before the connection's
// state (if the filter tracks connections) is applied.
type found struct {
	regex int
	out   match.Outcome
	f     match.Failure
	// hasAddr tells that the line names an address (f.Addr);
	// user and hasUser are its <F-USER>, on a NoFail line too.
	hasAddr      bool
	user         string
	hasUser      bool
	id           string // the connection: <F-MLFID>'s text
	hasID        bool
	forget, gain bool
}

// scan runs the prefregex and the failregexes on text, e's message
// without its date, dated t: true when a failregex matched, with what it
// found in fd; false with fd.out Miss (or Ignored, BadAddress) otherwise.
// It keeps no state but the prefilter's, and counts nothing. fd is cleared
// only when a failregex matched (it is some 300 bytes, and most lines
// match none).
func (m *Matcher) scan(e *ingest.Entry, text string, t time.Time, fd *found) bool {
	fd.out = match.Miss
	if m.pre != nil && !m.prefixFirst && !m.pre.scan(text) {
		return false // each regex needs a literal the line lacks
	}
	prefiltered := text
	text, id, hasID, ok := m.content(text)
	if !ok {
		return false
	}
	ascii := -1 // whether the content is ASCII, once a regex runs on it
	for _, i := range m.candidates(text) {
		fr := &m.fail[i]
		if p := fr.prefix; p != "" && (len(text) < len(p) || text[0] != p[0] || text[:len(p)] != p) {
			continue // strings.HasPrefix, without a call for a first byte that differs
		}
		if m.pre != nil && !m.prefixFirst && !m.pre.may(prefiltered, i) {
			continue
		}
		if ascii < 0 {
			ascii = 0
			if asciire.IsASCII(text) {
				ascii = 1
			}
		}
		loc := fr.find(text, ascii == 1) // allocates only on a match
		if loc == nil {
			continue
		}
		*fd = found{}
		m.failure(fd, e, text, t, i, loc)
		if fr.mlfid >= 0 && loc[2*fr.mlfid] >= 0 {
			id, hasID = group(text, loc, fr.mlfid), true
		}
		if m.tracks && hasID {
			fd.id, fd.hasID = id, true // copied if kept (see merge)
		}
		return fd.out != match.Ignored && fd.out != match.BadAddress
	}
	return false
}

// content applies the prefregex: the text the failregexes see and the
// prefregex's <F-MLFID> if it has one, false when the prefregex does not
// match.
func (m *Matcher) content(text string) (content, id string, hasID, ok bool) {
	switch {
	case m.pref == nil:
		return text, "", false, true
	case m.prefCont < 0 && m.prefID < 0:
		return text, "", false, m.pref.MatchString(text)
	case m.prefHead != nil:
		// The content is the rest of the line: matching the header
		// alone is the same, and much cheaper than carrying the
		// capture to the end of the line.
		loc, ok := []int(nil), false
		if m.prefHeadASCII != nil {
			// Only the bytes the header reads need be ASCII: another
			// program's line is turned away after its first words.
			loc, ok = m.prefHeadASCII.FindPrefix(text)
		}
		if !ok {
			if m.prefHeadID >= 0 {
				loc = m.prefHead.FindStringSubmatchIndex(text)
			} else {
				loc = m.prefHead.FindStringIndex(text)
			}
		}
		if loc == nil || loc[1] == len(text) {
			return "", "", false, false
		}
		if m.prefHeadID >= 0 && loc[2*m.prefHeadID] >= 0 {
			id, hasID = text[loc[2*m.prefHeadID]:loc[2*m.prefHeadID+1]], true
		}
		return text[loc[1]:], id, hasID, true
	}
	loc := m.pref.FindStringSubmatchIndex(text)
	if loc == nil {
		return "", "", false, false
	}
	if m.prefID >= 0 && loc[2*m.prefID] >= 0 {
		id, hasID = text[loc[2*m.prefID]:loc[2*m.prefID+1]], true
	}
	if m.prefCont >= 0 {
		if s, e := loc[2*m.prefCont], loc[2*m.prefCont+1]; s >= 0 {
			text = text[s:e]
		}
	}
	return text, id, hasID, true
}

// failure fills fd from a match of failregex i at loc in text.
func (m *Matcher) failure(fd *found, e *ingest.Entry, text string, t time.Time, i int, loc []int) {
	fr := &m.fail[i]
	fd.regex = i
	addrText := group(text, loc, fr.host)
	if addrText == "" {
		addrText = group(text, loc, fr.addr)
	}
	for _, ig := range m.ignore {
		if ig.MatchString(text) {
			fd.out = match.Ignored
			return
		}
	}
	var addr netip.Addr
	if addrText != "" || !m.tracks {
		var err error
		addr, err = netip.ParseAddr(addrText)
		if err != nil || addr.Zone() != "" {
			fd.out = match.BadAddress
			return
		}
		fd.hasAddr = true
		addr = addr.Unmap()
	}
	fd.f = match.Failure{Pipeline: m.pipeline, Addr: addr, ID: addrText, Time: t, Line: e.Message, Regex: i, Pos: e.Pos, Attempts: 1}
	fd.user = group(text, loc, fr.user)
	fd.hasUser = fr.user >= 0 && loc[2*fr.user] >= 0
	fd.forget = fr.forget >= 0 && loc[2*fr.forget] >= 0
	fd.gain = fr.gained >= 0 && loc[2*fr.gained] >= 0
	if fr.nofail >= 0 && loc[2*fr.nofail] >= 0 {
		fd.out = match.NoFail
		return
	}
	for _, gi := range fr.extra {
		if loc[2*gi] >= 0 {
			if fd.f.Fields == nil {
				fd.f.Fields = map[string]string{}
			}
			fd.f.Fields[fr.re.SubexpNames()[gi]] = text[loc[2*gi]:loc[2*gi+1]]
		}
	}
	fd.f.User, fd.f.HasUser = fd.user, fd.hasUser
	fd.out = match.Matched
}

// finish counts what scan found and, for a line of a connection, applies
// the connection's state (see merge): the outcome Match returns.
func (m *Matcher) finish(fd *found) (match.Failure, match.Outcome) {
	m.hits[fd.regex]++
	if fd.hasID {
		return m.merge(fd)
	}
	if !fd.hasAddr {
		// A connection's line without its id (the prefregex's
		// <F-MLFID> took no part): no address to count.
		return match.Failure{}, match.NoFail
	}
	return fd.f, fd.out
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
