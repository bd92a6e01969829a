// Package match recognises failures in log entries: a prefregex that must
// match first, failregex / ignoreregex lists compiled once, address and user
// captures, and the entry's date.
//
// Two dialects: logjail's own (RE2 syntax, logjail's tags and date
// recogniser, one line at a time) and fail2ban's (Python regular
// expressions, fail2ban's tags, date templates, multi-line buffer and
// connection tracking), which runs fail2ban's filters unchanged.
package match

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/match/dates"
	"github.com/logjail/logjail/match/pyre"
)

// Failure is one recognised failure of an address.
type Failure struct {
	Pipeline string
	// Addr is the failing address (IPv4-mapped addresses unmapped); valid
	// when the outcome is Matched (or NoFail).
	Addr netip.Addr
	// ID is the failure id as fail2ban sets it: the captured IPv4 address,
	// else the IPv6 address, else the host name, else the <F-ID> text (an
	// <F-ID> that differs from the address wins, as in fail2ban). For
	// logjail filters it is the address as written.
	ID string
	// Time is the log's own time of the failure (the read time when the
	// line has no date; in the fail2ban dialect the last date seen, when
	// it is less than 60 s older than now).
	Time time.Time
	User string
	// HasUser tells that the filter captured a user (User may be empty:
	// "Invalid user  from ..."); false when it has no user capture, or
	// the capture took no part in the match.
	HasUser bool
	// Line is the full log line.
	Line string
	// Regex is the index of the failregex that matched.
	Regex int
	// Pos is the source position just after the failure's entry.
	Pos ingest.Position
	// Fields holds the named groups of the match: for fail2ban filters all
	// of them (user, alt_user, ip4, ip6, dns, fid, mlfid, any <F-NAME>),
	// merged over the lines of a connection; for logjail filters the
	// <F-NAME> groups besides host, addr, user, nofail and content. nil
	// when there are none.
	Fields map[string]string
	// Users lists the users seen on the failure's connection (fail2ban's
	// <F-MLFID> filters), sorted; nil otherwise.
	Users []string
	// Attempts is the number of log lines that make up the failure: 1,
	// more for a multi-line match or a connection whose earlier lines
	// counted (fail2ban's "matches").
	Attempts int
}

// Dialect selects the syntax and semantics of a filter's rules.
type Dialect uint8

const (
	// DialectLogjail: RE2 syntax, logjail's tags (<HOST>, <ADDR>, <F-USER>,
	// <F-CONTENT>, <F-NOFAIL>), logjail's date recogniser (or a
	// datepattern of strftime directives), one line at a time.
	DialectLogjail Dialect = iota
	// DialectFail2ban: fail2ban's filters as they are: Python regular
	// expressions (translated to RE2 where they mean the same, otherwise
	// run on a backtracking engine with a timeout), fail2ban's tags,
	// datepattern templates ({^LN-BEG}, {DATE}, {NONE}, Epoch, TAI64N, %
	// directives), MaxLines and <F-MLFID> connection tracking.
	DialectFail2ban
)

// String returns "logjail" or "fail2ban".
func (d Dialect) String() string {
	if d == DialectFail2ban {
		return "fail2ban"
	}
	return "logjail"
}

// Rules is the uncompiled form of a filter.
type Rules struct {
	Prefregex   string
	Failregex   []string
	Ignoreregex []string
	// Datepattern overrides automatic date recognition when set. In the
	// fail2ban dialect it is fail2ban's datepattern (one template per
	// line; "" means fail2ban's default templates).
	Datepattern string
	// Location is the zone of dates written without one (nil: time.Local).
	Location *time.Location
	// Dialect selects logjail's or fail2ban's syntax and semantics.
	Dialect Dialect
	// MaxLines (fail2ban dialect) is fail2ban's maxlines: with more than
	// one, the failregexes see the last MaxLines lines joined by "\n".
	MaxLines int
	// Timeout (fail2ban dialect) bounds one match of a regex that runs on
	// the backtracking engine (0: 100 ms). A regex that times out does not
	// match; a line that matches nothing because of it has the outcome
	// Timeout, and Matcher.Timeouts counts it.
	Timeout time.Duration
}

// RegexError names which pattern of a Rules failed to compile.
type RegexError struct {
	List  string // "prefregex", "failregex", "ignoreregex" or "datepattern"
	Index int    // position in the list (0 for prefregex/datepattern)
	Err   error
}

func (e *RegexError) Error() string {
	if e.List == "failregex" || e.List == "ignoreregex" {
		return fmt.Sprintf("%s[%d]: %v", e.List, e.Index, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.List, e.Err)
}

func (e *RegexError) Unwrap() error { return e.Err }

// RegexSite names a regex of a filter: its list ("prefregex", "failregex",
// "ignoreregex" or "datepattern") and its position in the list.
type RegexSite struct {
	List  string
	Index int
}

func (s RegexSite) String() string {
	if s.List == "failregex" || s.List == "ignoreregex" {
		return fmt.Sprintf("%s[%d]", s.List, s.Index)
	}
	return s.List
}

// ErrNoAddress is returned for a failregex that captures no address.
var ErrNoAddress = errors.New("pattern has no <HOST> or <ADDR> tag")

// Outcome classifies an entry.
type Outcome uint8

const (
	// Miss: no failregex matched (or the prefregex did not).
	Miss Outcome = iota
	// Matched: a failregex matched and yielded a valid address.
	Matched
	// Ignored: a failregex matched, but an ignoreregex matched too.
	Ignored
	// BadAddress: a failregex matched, but its address capture did not parse.
	BadAddress
	// NoFail: a failregex matched through its <F-NOFAIL> part: the line is
	// recognised (and its address known) but is not a failure. Also a
	// fail2ban connection line that counts only once its address is known.
	NoFail
	// NoAddress: a failregex matched, but the failure id is not an address
	// (a host name or an <F-ID> text; logjail does not resolve names). The
	// failure (ID set) is reported by Test, never banned.
	NoAddress
	// Timeout: nothing matched, and a regex on the backtracking engine ran
	// out of time on the line (fail2ban dialect): the line may hold a
	// failure nobody saw. Matcher.LastTimeout names the regex.
	Timeout
)

// String names an outcome.
func (o Outcome) String() string {
	switch o {
	case Miss:
		return "miss"
	case Matched:
		return "matched"
	case Ignored:
		return "ignored"
	case BadAddress:
		return "bad-address"
	case NoFail:
		return "nofail"
	case NoAddress:
		return "no-address"
	case Timeout:
		return "timeout"
	}
	return "outcome?"
}

type failRegex struct {
	re                       *regexp.Regexp
	prefix                   string // literal every match starts with (see anchoredPrefix)
	host, addr, user, nofail int
	extra                    []int // other named groups, for Failure.Fields
}

// Matcher applies compiled rules. It is owned by one goroutine: it keeps
// counters and a date finder cache without locks.
type Matcher struct {
	pipeline string
	pref     *regexp.Regexp
	prefCont int
	// prefHead is the prefregex without its trailing
	// (?P<content>.+)$, when it has that common shape (see headOf).
	prefHead *regexp.Regexp
	fail     []failRegex
	ignore   []*regexp.Regexp
	finder   *dates.Finder
	f2b      *f2bMatcher // the fail2ban dialect, else nil

	// Hits counts matches per failregex, for `logjail test` and status.
	Hits []uint64
	// DateHits counts lines per recognised date format name.
	DateHits map[string]uint64
}

// Compile builds a matcher for pipeline from rules.
func Compile(pipeline string, r Rules) (*Matcher, error) {
	m := &Matcher{pipeline: pipeline, DateHits: map[string]uint64{}}
	if r.Dialect == DialectFail2ban {
		loc := r.Location
		if loc == nil {
			loc = time.Local
		}
		f, errs := compileF2BRules(r, loc)
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		m.f2b = f
		m.Hits = make([]uint64, len(f.fail))
		return m, nil
	}
	if r.MaxLines > 1 {
		return nil, &RegexError{List: "failregex", Err: errors.New("maxlines needs the fail2ban dialect")}
	}
	var errs []error
	if r.Prefregex != "" {
		p, _, err := expandTags(r.Prefregex)
		if err == nil {
			m.pref, err = regexp.Compile(p)
		}
		if err != nil {
			errs = append(errs, &RegexError{List: "prefregex", Err: err})
		} else {
			m.prefCont = m.pref.SubexpIndex(groupContent)
			m.prefHead = headOf(p)
		}
	}
	if len(r.Failregex) == 0 {
		errs = append(errs, &RegexError{List: "failregex", Err: errors.New("no failregex given")})
	}
	for i, s := range r.Failregex {
		p, hasAddr, err := expandTags(s)
		if err == nil && !hasAddr {
			err = ErrNoAddress
		}
		var re *regexp.Regexp
		if err == nil {
			re, err = regexp.Compile(p)
		}
		if err != nil {
			errs = append(errs, &RegexError{List: "failregex", Index: i, Err: err})
			continue
		}
		fr := failRegex{
			re:     re,
			prefix: anchoredPrefix(p),
			host:   re.SubexpIndex(groupHost),
			addr:   re.SubexpIndex(groupAddr),
			user:   re.SubexpIndex(groupUser),
			nofail: re.SubexpIndex(groupNoFail),
		}
		for gi, name := range re.SubexpNames() {
			switch name {
			case "", groupHost, groupAddr, groupUser, groupNoFail, groupContent:
			default:
				fr.extra = append(fr.extra, gi)
			}
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
			errs = append(errs, &RegexError{List: "ignoreregex", Index: i, Err: err})
			continue
		}
		m.ignore = append(m.ignore, re)
	}
	loc := r.Location
	if loc == nil {
		loc = time.Local
	}
	if r.Datepattern != "" {
		f, err := dates.NewPatternFinder(r.Datepattern, loc)
		if err != nil {
			errs = append(errs, &RegexError{List: "datepattern", Err: err})
		}
		m.finder = f
	} else {
		m.finder = dates.NewFinder(loc)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	m.Hits = make([]uint64, len(m.fail))
	return m, nil
}

// Regexes returns the failregexes after tag expansion, in order.
func (m *Matcher) Regexes() []string {
	if m.f2b != nil {
		out := make([]string, len(m.f2b.fail))
		for i, f := range m.f2b.fail {
			out[i] = f.re.String()
		}
		return out
	}
	out := make([]string, len(m.fail))
	for i, f := range m.fail {
		out[i] = f.re.String()
	}
	return out
}

// Engines returns, per failregex, the engine it runs on: "re2" or
// "regexp2" (the backtracking fallback).
func (m *Matcher) Engines() []string {
	if m.f2b != nil {
		out := make([]string, len(m.f2b.fail))
		for i, f := range m.f2b.fail {
			out[i] = f.re.Engine()
		}
		return out
	}
	out := make([]string, len(m.fail))
	for i := range out {
		out[i] = pyre.EngineRE2
	}
	return out
}

// Dialect returns the dialect the matcher was compiled for.
func (m *Matcher) Dialect() Dialect {
	if m.f2b != nil {
		return DialectFail2ban
	}
	return DialectLogjail
}

// Timeouts returns how many matches on the backtracking engine timed out
// (regexes and date templates; a line can count more than once).
func (m *Matcher) Timeouts() uint64 {
	if m.f2b != nil {
		return m.f2b.allTimeouts()
	}
	return 0
}

// RegexTimeouts returns, per failregex, how many of its matches timed out.
func (m *Matcher) RegexTimeouts() []uint64 {
	if m.f2b != nil {
		return m.f2b.failTimeouts
	}
	return make([]uint64, len(m.fail))
}

// LastTimeout names the regex of the last timeout (zero before any).
func (m *Matcher) LastTimeout() RegexSite {
	if m.f2b != nil {
		return m.f2b.lastTimeout
	}
	return RegexSite{}
}

// Match classifies e. now is the reference time for dates without a year.
// On Matched, f holds the failure. For logjail filters the miss path does
// not allocate; for fail2ban filters a line whose date is found costs one
// allocation (RE2's match positions).
//
// When the entry has a time (e.Time set by the source: journal, syslog),
// the message is not searched for a date (as fail2ban's journal backend).
func (m *Matcher) Match(e *ingest.Entry, now time.Time) (f Failure, out Outcome) {
	if m.f2b != nil {
		return m.matchF2B(e, now)
	}
	text := e.Message
	t := e.Time
	if t.IsZero() {
		if dt, start, end, ok := m.finder.Find(text, now); ok {
			t = dt
			m.DateHits[m.finder.Name()]++
			text = cutDate(text, start, end)
		} else {
			t = e.ReadAt
		}
	}
	if m.pref != nil {
		if m.prefCont < 0 {
			if !m.pref.MatchString(text) {
				return f, Miss
			}
		} else {
			if m.prefHead != nil {
				// The content is the rest of the line: matching the header
				// alone is the same, and much cheaper than carrying the
				// capture to the end of the line.
				loc := m.prefHead.FindStringIndex(text)
				if loc == nil || loc[1] == len(text) {
					return f, Miss
				}
				text = text[loc[1]:]
			} else {
				loc := m.pref.FindStringSubmatchIndex(text)
				if loc == nil {
					return f, Miss
				}
				if s, e := loc[2*m.prefCont], loc[2*m.prefCont+1]; s >= 0 {
					text = text[s:e]
				}
			}
		}
	}
	for i := range m.fail {
		fr := &m.fail[i]
		if !strings.HasPrefix(text, fr.prefix) {
			continue
		}
		loc := fr.re.FindStringSubmatchIndex(text) // allocates only on a match
		if loc == nil {
			continue
		}
		addrText := group(text, loc, fr.host)
		if addrText == "" {
			addrText = group(text, loc, fr.addr)
		}
		for _, ig := range m.ignore {
			if ig.MatchString(text) {
				return f, Ignored
			}
		}
		addr, err := netip.ParseAddr(addrText)
		if err != nil || addr.Zone() != "" {
			return f, BadAddress
		}
		m.Hits[i]++
		if fr.nofail >= 0 && loc[2*fr.nofail] >= 0 {
			return Failure{Pipeline: m.pipeline, Addr: addr.Unmap(), ID: addrText, Time: t, Line: e.Message, Regex: i, Pos: e.Pos, Attempts: 1}, NoFail
		}
		var fields map[string]string
		for _, gi := range fr.extra {
			if loc[2*gi] >= 0 {
				if fields == nil {
					fields = map[string]string{}
				}
				fields[fr.re.SubexpNames()[gi]] = text[loc[2*gi]:loc[2*gi+1]]
			}
		}
		return Failure{
			Pipeline: m.pipeline,
			Addr:     addr.Unmap(),
			ID:       addrText,
			Time:     t,
			User:     group(text, loc, fr.user),
			HasUser:  fr.user >= 0 && loc[2*fr.user] >= 0,
			Line:     e.Message,
			Regex:    i,
			Pos:      e.Pos,
			Fields:   fields,
			Attempts: 1,
		}, Matched
	}
	return f, Miss
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
	rest := strings.TrimLeft(s[end:], " \t")
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
