// Package match recognises failures in log entries: a prefregex that must
// match first, failregex / ignoreregex lists compiled once, address and user
// captures, and the entry's date.
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
)

// Failure is one recognised failure of an address.
type Failure struct {
	Pipeline string
	Addr     netip.Addr
	// Time is the log's own time of the failure (the read time when the
	// line has no date).
	Time time.Time
	User string
	// Line is the full log line.
	Line string
	// Regex is the index of the failregex that matched.
	Regex int
	// Pos is the source position just after the failure's entry.
	Pos ingest.Position
}

// Rules is the uncompiled form of a filter.
type Rules struct {
	Prefregex   string
	Failregex   []string
	Ignoreregex []string
	// Datepattern overrides automatic date recognition when set.
	Datepattern string
	// Location is the zone of dates written without one (nil: time.Local).
	Location *time.Location
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
	// recognised (and its address known) but is not a failure.
	NoFail
)

type failRegex struct {
	re                       *regexp.Regexp
	prefix                   string // literal every match starts with (see anchoredPrefix)
	host, addr, user, nofail int
}

// Matcher applies compiled rules. It is owned by one goroutine: it keeps
// counters and a date finder cache without locks.
type Matcher struct {
	pipeline string
	pref     *regexp.Regexp
	prefCont int
	fail     []failRegex
	ignore   []*regexp.Regexp
	finder   *dates.Finder

	// Hits counts matches per failregex, for `logjail test` and status.
	Hits []uint64
	// DateHits counts lines per recognised date format name.
	DateHits map[string]uint64
}

// Compile builds a matcher for pipeline from rules.
func Compile(pipeline string, r Rules) (*Matcher, error) {
	m := &Matcher{pipeline: pipeline, DateHits: map[string]uint64{}}
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
		m.fail = append(m.fail, failRegex{
			re:     re,
			prefix: anchoredPrefix(p),
			host:   re.SubexpIndex(groupHost),
			addr:   re.SubexpIndex(groupAddr),
			user:   re.SubexpIndex(groupUser),
			nofail: re.SubexpIndex(groupNoFail),
		})
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
	out := make([]string, len(m.fail))
	for i, f := range m.fail {
		out[i] = f.re.String()
	}
	return out
}

// Match classifies e. now is the reference time for dates without a year.
// On Matched, f holds the failure. The miss path does not allocate.
func (m *Matcher) Match(e *ingest.Entry, now time.Time) (f Failure, out Outcome) {
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
			loc := m.pref.FindStringSubmatchIndex(text)
			if loc == nil {
				return f, Miss
			}
			if s, e := loc[2*m.prefCont], loc[2*m.prefCont+1]; s >= 0 {
				text = text[s:e]
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
			return Failure{Pipeline: m.pipeline, Addr: addr.Unmap(), Time: t, Line: e.Message, Regex: i, Pos: e.Pos}, NoFail
		}
		return Failure{
			Pipeline: m.pipeline,
			Addr:     addr.Unmap(),
			Time:     t,
			User:     group(text, loc, fr.user),
			Line:     e.Message,
			Regex:    i,
			Pos:      e.Pos,
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
