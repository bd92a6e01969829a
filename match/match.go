// Package match is the contract of the match stage: the Matcher interface
// that recognises failures in log entries, and the values it deals in
// (Rules, Failure, Outcome, Report).
//
// Two dialects implement it: logjail's own (package match/native: RE2
// syntax, logjail's tags and date recogniser, one line at a time) and
// fail2ban's (package match/fail2ban/matcher: Python regular expressions,
// fail2ban's tags, date templates, multi-line buffer and connection
// tracking), which runs fail2ban's filters unchanged. Package match/filter
// compiles Rules with the implementation of their dialect; this package
// imports neither implementation, so both can build on its types.
package match

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/logjail/logjail/ingest"
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
	// Time is the log's own time of the failure (when the line has no
	// date, the last date seen when it is less than 60 s older than now,
	// else the read time).
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

// RecognisedFailure is the failure an entry carrying ingest.Recognised
// stands for (a fleet node's failure, another pipeline's ban), counted by
// pipeline without matching: at the entry's time (its read time when it
// has none), its message as the line.
func RecognisedFailure(pipeline string, e *ingest.Entry) Failure {
	rec := e.Recognised
	at := e.Time
	if at.IsZero() {
		at = e.ReadAt
	}
	return Failure{Pipeline: pipeline, Addr: rec.Addr, ID: rec.Addr.String(), Time: at, User: rec.User, Line: e.Message}
}

// Dialect selects the syntax and semantics of a filter's rules.
type Dialect uint8

const (
	// DialectLogjail: RE2 syntax, logjail's tags (<HOST>, <ADDR>, <F-USER>,
	// <F-CONTENT>, <F-NOFAIL>, <F-MLFID> connection tracking), logjail's
	// date recogniser (or a datepattern of strftime directives), one line
	// at a time unless MaxLines says more.
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
	// Datepattern overrides automatic date recognition when set: one
	// template per line, the first that finds a date wins ("" means the
	// automatic recogniser, in the fail2ban dialect fail2ban's default
	// templates).
	Datepattern string
	// Location is the zone of dates written without one (nil: time.Local).
	Location *time.Location
	// Dialect selects logjail's or fail2ban's syntax and semantics.
	Dialect Dialect
	// MaxLines is fail2ban's maxlines: with more than one, the
	// failregexes see the last MaxLines lines joined by "\n" (in logjail's
	// dialect, the prefregex's contents of those lines).
	MaxLines int
	// LastDate (logjail's dialect) has a line without a date take the
	// last date the log gave, when less than a minute old, as fail2ban's
	// filters do (its dialect always does); otherwise it takes the time it
	// was read. For programs that write the date on a line of its own.
	// State between lines: such a matcher is not read line by line.
	LastDate bool
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

// Matcher applies a filter's compiled rules to log entries. A Matcher is
// compiled once, when its pipeline is built, and is owned by one goroutine:
// it keeps counters, a date cache and (fail2ban dialect) the lines and
// connections seen so far, without locks. Its miss path neither logs nor
// allocates (for the fail2ban dialect: beyond RE2's match positions).
type Matcher interface {
	// Match classifies e. now is the reference time for dates without a
	// year. On Matched, the Failure is set. When the entry has a time
	// (e.Time set by the source: journal, syslog), the message is not
	// searched for a date (as fail2ban's journal backend).
	Match(e *ingest.Entry, now time.Time) (Failure, Outcome)
	// Dialect returns the dialect the matcher was compiled for.
	Dialect() Dialect
	// Regexes returns the failregexes after tag expansion, in order.
	Regexes() []string
	// Engines returns, per failregex, the engine it runs on: EngineRE2 or
	// EngineRegexp2 (the backtracking fallback).
	Engines() []string
	// Hits counts matches per failregex, for `logjail test` and status.
	Hits() []uint64
	// DateHits counts lines per recognised date format name.
	DateHits() map[string]uint64
	// Timeouts returns how many matches on the backtracking engine timed
	// out (regexes and date templates; a line can count more than once).
	Timeouts() uint64
	// RegexTimeouts returns, per failregex, how many of its matches timed
	// out.
	RegexTimeouts() []uint64
	// LastTimeout names the regex of the last timeout (zero before any).
	LastTimeout() RegexSite
}

// LineByLine reports whether m classifies each line on its own, keeping
// no state between lines but counters and caches, so that several
// matchers compiled from the same rules may share a stream in any order
// and agree with one reading it all: a matcher of logjail's dialect that
// says so with a KeepsState method returning false (a logjail filter
// keeping the last date for lines without one, connections or several
// lines keeps state, as fail2ban's always do). Such a filter, like fail2ban's, splits
// (Splitter) or runs on one goroutine.
func LineByLine(m Matcher) bool {
	if m.Dialect() != DialectLogjail {
		return false
	}
	s, ok := m.(interface{ KeepsState() bool })
	return !ok || !s.KeepsState()
}

// The engines a regex runs on, as Matcher.Engines names them.
const (
	EngineRE2     = "re2"
	EngineRegexp2 = "regexp2"
)

// Splitter is a Matcher whose Match can be cut in three, so that several
// goroutines share one stream of entries and still classify every entry
// exactly as one Match after the other would (see Stream). Prepare and
// Finish keep the state between lines (fail2ban: the date detector and
// the last date; the connections of <F-MLFID> and the counters) and run
// in log order on the matcher that owns the stream; Scan (the regexes)
// keeps none and runs on any matcher compiled from the same rules, in
// any order, each matcher on one goroutine at a time. Prepare's, Scan's
// and Finish's state are apart, so the three may run at once on one
// matcher; its counters are read once the stream is done.
type Splitter interface {
	Matcher
	// Splits reports whether this filter's lines can be split: false when
	// a line's regexes see earlier lines (fail2ban's maxlines > 1); then
	// Match alone is used, on one goroutine.
	Splits() bool
	// Prepare is Match's first half, in log order: it resets l.
	Prepare(e *ingest.Entry, now time.Time, l *LineState)
	// Scan is the middle, after Prepare, on no state but l's.
	Scan(e *ingest.Entry, l *LineState)
	// Finish is the last half, in log order: it sets l.Failure and
	// l.Outcome, which are what Match would have returned.
	Finish(e *ingest.Entry, now time.Time, l *LineState)
}

// PreparesApart reports whether s's Prepare keeps no state between lines
// (only its Finish needs the lines in log order): then any matcher
// compiled from the same rules may prepare a line, on the goroutine that
// scans it (see Stream.PrepareOn), and only Finish runs in order. A
// Splitter says so with a PreparesApart method returning true (logjail's
// dialect: a filter tracking connections that does not keep the last
// date); fail2ban's date detector keeps state, so its matchers do not.
func PreparesApart(s Splitter) bool {
	p, ok := s.(interface{ PreparesApart() bool })
	return ok && s.Splits() && p.PreparesApart()
}

// LineState carries one entry through a Splitter's halves. The fields
// but Failure and Outcome are the implementation's.
type LineState struct {
	// Cut is the part of the message Prepare set aside (fail2ban: the
	// date), as byte offsets; Cut[0] == Cut[1] when none.
	Cut [2]int
	// Time is the entry's time, as Prepare found it.
	Time time.Time
	// DateTimeouts counts Prepare's timeouts.
	DateTimeouts uint64
	// TimedOut lists the regexes that ran out of time in Scan, in order
	// (nil nearly always).
	TimedOut []RegexSite
	// Regex is the failregex Scan found the failure with (-1: none), and
	// Groups its named groups.
	Regex  int
	Groups map[string]string
	// Key and Flags carry what Scan found besides the failure where an
	// implementation needs no map for it (logjail's: the connection's
	// id and which of its tags took part), sparing an allocation a line.
	Key   string
	Flags uint8
	// Failure and Outcome are the result, set by Finish (Scan may set
	// Outcome first: Ignored).
	Failure Failure
	Outcome Outcome
	// Took is the time the halves took, for the entries a Stream samples
	// (0 for the others).
	Took time.Duration
}

// Timeouts counts the timeouts of the line's match.
func (l *LineState) Timeouts() uint64 { return l.DateTimeouts + uint64(len(l.TimedOut)) }

// LastTimeout names the regex of the line's last timeout, as
// Matcher.LastTimeout would after it (a date's counts last).
func (l *LineState) LastTimeout() RegexSite {
	if l.DateTimeouts > 0 {
		return RegexSite{List: "datepattern"}
	}
	if n := len(l.TimedOut); n > 0 {
		return l.TimedOut[n-1]
	}
	return RegexSite{}
}
