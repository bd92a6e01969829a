// Package pyre compiles Python regular expressions (the syntax of Python's
// re module, which fail2ban filters are written in) for Go.
//
// A pattern is translated to Go's RE2 syntax when RE2 means exactly the
// same: named groups (?P<name>...), Python's {,n}, \Z, scoped flags, $
// (which in Python also matches before a final newline), and Python's
// Unicode classes \d \w \s (two RE2 programs: RE2's fast ASCII classes
// for ASCII text, Unicode classes for other text). A conditional
// (?(name)...) whose group is decided earlier, and a look-ahead loop
// (?:(?!text).)* followed by that text or $, are rewritten for RE2 where
// that provably keeps the match and its groups (cond.go, avoid.go).
// Patterns that need what RE2 lacks otherwise — look-arounds,
// back-references, conditionals, atomic groups, repetition counts above
// 1000 — run on
// github.com/dlclark/regexp2, a backtracking engine, with a match timeout;
// so does non-ASCII text for a pattern with \b or \B (RE2's word boundary
// knows ASCII words only).
//
// For speed, without changing a match: a program too large for Go's
// backtracker runs as paths (split.go); a start-anchored pattern of
// bounded length searches only the text it can see; and Prefixes and
// Required give the literal texts a match needs (literals.go), so callers
// skip text that cannot match.
//
// Known differences that remain: on the backtracking engine \b and \W/\S
// inside a class follow .NET's Unicode word and space classes, which differ
// from Python's in rare characters (combining marks, C0 separators); the
// verbose flag (?x), the locale flag and possessive quantifiers are refused.
package pyre

import (
	"errors"
	"fmt"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/dlclark/regexp2"

	"github.com/logjail/logjail/match"
)

// Engine names, as Regexp.Engine reports them (match's names).
const (
	EngineRE2     = match.EngineRE2
	EngineRegexp2 = match.EngineRegexp2
)

// DefaultTimeout bounds one match on the backtracking engine.
const DefaultTimeout = 100 * time.Millisecond

// ErrTimeout is returned when a match on the backtracking engine takes
// longer than its timeout.
var ErrTimeout = errors.New("pyre: match timed out")

// clockTick is how often regexp2's clock advances. regexp2 reads time from
// a clock a goroutine updates once a tick (100 ms by default) and pads
// every deadline by a tick, so a match it is told to stop after d stops
// after between d and d+2 ticks (plus the clock goroutine's lateness):
// 100 ms became up to 300 ms (~205 ms measured). With a 5 ms tick and d =
// limit-2 ticks-clockSlack, a match stops within its limit, at most about
// 12 ms early. The goroutine runs only while matches run (and a second
// after).
const (
	clockTick  = 5 * time.Millisecond
	clockSlack = 2 * time.Millisecond
)

// regexp2's tick is a package variable without a lock: set it before
// any match can start the clock goroutine.
func init() { regexp2.SetTimeoutCheckPeriod(clockTick) }

// engineTimeout is the timeout to give regexp2 so that a match stops
// within limit (for a limit above 3 ticks).
func engineTimeout(limit time.Duration) time.Duration {
	return max(limit-2*clockTick-clockSlack, clockTick)
}

// Options change how a pattern is compiled.
type Options struct {
	// Multiline is Python's re.MULTILINE: ^ and $ match at every line.
	Multiline bool
	// Lines tells that the searched text may hold several lines, each
	// ending with a newline. Without it the text holds at most one
	// newline, at its end.
	Lines bool
	// Timeout bounds one match on the backtracking engine (0: DefaultTimeout).
	Timeout time.Duration
	// Backtrack forces the backtracking engine (for tests).
	Backtrack bool
}

// Regexp is a compiled Python pattern. It is safe for concurrent use.
type Regexp struct {
	src    string
	expr   string
	why    string
	prefix string
	re     *regexp.Regexp  // RE2, exact on ASCII text
	reU    *regexp.Regexp  // RE2, exact on any text (nil: bt for non-ASCII text)
	bt     *regexp2.Regexp // the backtracking engine, when needed
	names  []string
	btNum  []int // regexp2 group number per Python group number
	// fold lists, per Python group number, the RE2 groups that stand for
	// it when a conditional was rewritten (nil: the same numbers).
	fold [][]int
	// timeout is the limit of one match on the backtracking engine.
	timeout time.Duration
	// prefixes and required are the literal sets of literals.go (nil:
	// none known, always on the backtracking engine).
	prefixes, required []string
	// bound is how many bytes of a text RE2 needs to see (searchBound;
	// -1: all). A shorter text costs Go's backtracker less: it clears a
	// bit per instruction and byte of the text for every search.
	bound int
	// split and splitU run re and reU as paths (split.go) when they are
	// too large for Go's backtracker; nil otherwise. They are worked out
	// when first needed: with asc, ASCII text rarely needs them, and
	// working them out was most of the time a filter took to compile.
	split, splitU *lazyPaths
	// asc runs re on ASCII text before Go's regexp does (ascii.go; nil:
	// asciire does not take re).
	asc *asciiEngine
}

// Compile translates and compiles a Python pattern.
func Compile(pattern string, opt Options) (*Regexp, error) {
	t, err := translate(pattern, opt.Multiline, opt.Lines)
	if err != nil {
		return nil, err
	}
	r := &Regexp{src: pattern, names: t.names, prefix: match.AnchoredPrefix(t.asc), bound: -1}
	if t.maxRepeat > 1000 && !t.needsBT {
		t.needsBT, t.why = true, "repetition count above 1000"
	}
	if !opt.Backtrack {
		forRE2 := t
		if t.needsBT {
			// A conditional may have an RE2 equivalent (cond.go).
			if t2, fold, ok := withoutConditionals(pattern, opt); ok {
				forRE2, r.fold = t2, fold
			}
		}
		done, err := r.compileRE2(forRE2)
		if err != nil {
			return nil, err
		}
		if done {
			return r, nil
		}
	}
	var o regexp2.RegexOptions
	if opt.Multiline {
		o |= regexp2.Multiline
	}
	bt, err := regexp2.Compile(t.net, o)
	if err != nil {
		return nil, err
	}
	to := opt.Timeout
	if to <= 0 {
		to = DefaultTimeout
	}
	r.timeout = to
	bt.MatchTimeout = engineTimeout(to)
	r.bt = bt
	if r.re == nil {
		r.expr, r.why = t.net, t.why
		if r.why == "" {
			r.why = "forced"
		}
	}
	r.btNum = make([]int, len(t.names))
	for i := 1; i < len(t.names); i++ {
		name := t.names[i]
		if name == "" {
			name = btGroupName(i)
		}
		r.btNum[i] = bt.GroupNumberFromName(name)
		if r.btNum[i] < 0 {
			return nil, fmt.Errorf("pyre: internal: group %q lost in translation", name)
		}
	}
	return r, nil
}

// compileRE2 compiles t's RE2 forms, unless t needs the backtracking
// engine; done tells that no text needs the backtracking engine.
func (r *Regexp) compileRE2(t translation) (done bool, err error) {
	if t.needsBT {
		r.fold = nil
		return false, nil
	}
	re, err := regexp.Compile(t.asc)
	if err != nil {
		return false, err
	}
	r.re, r.expr = re, t.asc
	r.asc = newASCIIEngine(t.asc)
	// The sets must cover matches on either form.
	pa, ra := literalSets(t.asc)
	pu, ru := literalSets(t.uni)
	r.prefixes, r.required = unionSets(pa, pu), unionSets(ra, ru)
	r.bound = searchBound(t.asc)
	if b := searchBound(t.uni); b < 0 || r.bound < 0 {
		r.bound = -1
	} else {
		r.bound = max(r.bound, b)
	}
	r.split = &lazyPaths{expr: t.asc}
	switch {
	case t.uniBT:
		// Non-ASCII text goes to the backtracking engine.
	case t.uni == t.asc:
		r.reU, r.splitU = re, r.split
	default:
		if r.reU, err = regexp.Compile(t.uni); err != nil {
			return false, err
		}
		r.splitU = &lazyPaths{expr: t.uni}
	}
	return r.reU != nil, nil
}

// MustCompile is Compile that panics on an error.
func MustCompile(pattern string, opt Options) *Regexp {
	r, err := Compile(pattern, opt)
	if err != nil {
		panic(err)
	}
	return r
}

// Engine returns EngineRE2 or EngineRegexp2: the engine that runs the
// pattern on ASCII text. (A pattern with \b or \B runs on the
// backtracking engine for non-ASCII text.)
func (r *Regexp) Engine() string {
	if r.re != nil {
		return EngineRE2
	}
	return EngineRegexp2
}

// LiteralPrefix returns the text every match starts with at the start of
// the text (for a pattern anchored with ^ that begins with literal text),
// or "". Checking it first rejects most lines cheaply, on either engine.
func (r *Regexp) LiteralPrefix() string { return r.prefix }

// Prefixes returns texts one of which every match starts with, at the
// start of the text (for a pattern anchored there), or nil. They are read
// off the pattern's syntax tree (alternations and small classes spelled
// out: "^[iI]nvalid user" → "Invalid user", "invalid user").
func (r *Regexp) Prefixes() []string { return r.prefixes }

// Required returns texts one of which every match contains, or nil when
// none is known: text that holds none of them cannot match.
func (r *Regexp) Required() []string { return r.required }

// Timeout returns the limit of one match on the backtracking engine (0
// for a pattern that never runs on it).
func (r *Regexp) Timeout() time.Duration { return r.timeout }

// Why names the construct that needs the backtracking engine ("" on RE2).
func (r *Regexp) Why() string { return r.why }

// Source returns the Python pattern.
func (r *Regexp) Source() string { return r.src }

// String returns the compiled expression (RE2 or .NET syntax).
func (r *Regexp) String() string { return r.expr }

// NumSubexp returns the number of capturing groups.
func (r *Regexp) NumSubexp() int { return len(r.names) - 1 }

// SubexpNames returns the group names by number, "" for unnamed groups
// and for the whole match at index 0.
func (r *Regexp) SubexpNames() []string { return r.names }

// SubexpIndex returns the number of the group named name, or -1.
func (r *Regexp) SubexpIndex(name string) int {
	for i, n := range r.names {
		if i > 0 && n == name {
			return i
		}
	}
	return -1
}

// RE2 returns the RE2 program for ASCII text, or nil on the backtracking
// engine.
func (r *Regexp) RE2() *regexp.Regexp { return r.re }

// pick returns the RE2 program for text that is (or is not) ASCII, or nil
// when the backtracking engine must run.
func (r *Regexp) pick(ascii bool) *regexp.Regexp {
	if ascii {
		return r.re
	}
	return r.reU
}

// pickSplit returns the paths for text that is (or is not) ASCII, or nil
// when the program runs whole.
func (r *Regexp) pickSplit(ascii bool) *paths {
	if ascii {
		return r.split.get()
	}
	return r.splitU.get()
}

// Whole returns a copy of r that runs its programs whole on Go's regexp,
// never split into paths nor on asciire: to check that those agree with
// them.
func (r *Regexp) Whole() *Regexp {
	c := *r
	c.split, c.splitU, c.asc = nil, nil, nil
	return &c
}

// Split tells whether r runs as paths (split.go) on ASCII text.
func (r *Regexp) Split() bool { return r.split.get() != nil }

// Match reports whether b contains a match. On RE2 it does not allocate.
func (r *Regexp) Match(b []byte) (bool, error) { return r.MatchHint(b, isASCIIBytes(b)) }

// MatchHint is Match for text known to be ASCII or not.
func (r *Regexp) MatchHint(b []byte, ascii bool) (bool, error) {
	if ascii && r.asc != nil {
		if loc, ok := r.asc.find(r, r.bounded(bytesText(b)), nil, false); ok {
			return loc != nil, nil
		}
	}
	if sp := r.pickSplit(ascii); sp != nil {
		return sp.match(b), nil
	}
	if re := r.pick(ascii); re != nil {
		return re.Match(b), nil
	}
	return r.btMatch(string(b))
}

// MatchString reports whether s contains a match.
func (r *Regexp) MatchString(s string) (bool, error) {
	ascii := isASCII(s)
	if ascii && r.asc != nil {
		if loc, ok := r.asc.find(r, r.bounded(s), nil, false); ok {
			return loc != nil, nil
		}
	}
	if sp := r.pickSplit(ascii); sp != nil {
		return sp.match([]byte(s)), nil
	}
	if re := r.pick(ascii); re != nil {
		return re.MatchString(s), nil
	}
	return r.btMatch(s)
}

func (r *Regexp) btMatch(s string) (bool, error) {
	ok, err := r.bt.MatchString(s)
	if err != nil {
		return false, ErrTimeout
	}
	return ok, nil
}

// FindSubmatchIndex returns the byte offsets of the leftmost match and its
// groups in b (pairs, -1 for a group that did not take part), or nil.
func (r *Regexp) FindSubmatchIndex(b []byte) ([]int, error) {
	return r.FindSubmatchIndexHint(b, isASCIIBytes(b))
}

// FindSubmatchIndexHint is FindSubmatchIndex for text known to be ASCII
// or not.
func (r *Regexp) FindSubmatchIndexHint(b []byte, ascii bool) ([]int, error) {
	return r.FindSubmatchIndexInto(nil, b, ascii)
}

// FindSubmatchIndexInto is FindSubmatchIndexHint that may return the
// match in dst's array, as FindStringSubmatchIndexInto.
func (r *Regexp) FindSubmatchIndexInto(dst []int, b []byte, ascii bool) ([]int, error) {
	if ascii && r.asc != nil {
		if loc, ok := r.asc.find(r, r.bounded(bytesText(b)), dst, true); ok {
			return loc, nil
		}
	}
	if sp := r.pickSplit(ascii); sp != nil {
		return r.unfold(sp.find(b)), nil
	}
	if re := r.pick(ascii); re != nil {
		if r.bound >= 0 && len(b) > r.bound {
			b = b[:r.bound]
		}
		return r.unfold(re.FindSubmatchIndex(b)), nil
	}
	return r.btFind(string(b), 0)
}

// FindStringSubmatchIndex is FindSubmatchIndex for a string.
func (r *Regexp) FindStringSubmatchIndex(s string) ([]int, error) {
	return r.FindStringSubmatchIndexHint(s, isASCII(s))
}

// FindStringSubmatchIndexHint is FindStringSubmatchIndex for text known
// to be ASCII or not.
func (r *Regexp) FindStringSubmatchIndexHint(s string, ascii bool) ([]int, error) {
	return r.FindStringSubmatchIndexInto(nil, s, ascii)
}

// FindStringSubmatchIndexInto is FindStringSubmatchIndexHint that may
// return the match in dst's array (grown as needed) rather than a new
// one: a caller that searches on every line keeps one buffer, and reads
// a match before it passes the buffer again.
func (r *Regexp) FindStringSubmatchIndexInto(dst []int, s string, ascii bool) ([]int, error) {
	if ascii && r.asc != nil {
		if loc, ok := r.asc.find(r, r.bounded(s), dst, true); ok {
			return loc, nil
		}
	}
	if sp := r.pickSplit(ascii); sp != nil {
		return r.unfold(sp.find([]byte(s))), nil
	}
	if re := r.pick(ascii); re != nil {
		if r.bound >= 0 && len(s) > r.bound {
			s = s[:r.bound]
		}
		return r.unfold(re.FindStringSubmatchIndex(s)), nil
	}
	return r.btFind(s, 0)
}

func (r *Regexp) btFind(s string, pos int) ([]int, error) {
	ascii := isASCII(s)
	var m *regexp2.Match
	var err error
	if pos > 0 {
		m, err = r.bt.FindStringMatchStartingAt(s, pos)
	} else {
		m, err = r.bt.FindStringMatch(s)
	}
	if err != nil {
		return nil, ErrTimeout
	}
	if m == nil {
		return nil, nil
	}
	var off []int
	if !ascii {
		off = make([]int, 0, len(s)+1)
		for i := range s {
			off = append(off, i)
		}
		off = append(off, len(s))
	}
	conv := func(i int) int {
		if ascii {
			return i
		}
		return off[i]
	}
	loc := make([]int, 2*len(r.names))
	loc[0], loc[1] = conv(m.Index), conv(m.Index+m.Length)
	for i := 1; i < len(r.names); i++ {
		g := m.GroupByNumber(r.btNum[i])
		if g == nil || len(g.Captures) == 0 {
			loc[2*i], loc[2*i+1] = -1, -1
			continue
		}
		loc[2*i], loc[2*i+1] = conv(g.Index), conv(g.Index+g.Length)
	}
	return loc, nil
}

func isASCIIBytes(b []byte) bool { return isASCII(bytesText(b)) }

// IsASCII tells whether s holds only ASCII, for the Hint methods.
func IsASCII(s string) bool { return isASCII(s) }

// isASCII looks at eight bytes at a time: it runs on every line twice
// (the date, then the regexes), once of them in the ordered part of a
// match.Stream.
func isASCII(s string) bool {
	for len(s) >= 8 {
		w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		if w&0x8080808080808080 != 0 {
			return false
		}
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
