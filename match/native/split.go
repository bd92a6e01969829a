package native

import (
	"regexp"
	"regexp/syntax"
	"strings"
)

// splitRegex runs a failregex of the shape ^P.*S$ (one greedy .* between a
// head P and a tail S that starts with a literal, as in
// "^Failed password for <user>.* from <HOST> port \d+$") in short runs
// instead of one long one. Go's backtracker on the whole line tries the
// tail at every byte of the .*, and clears a visited bit per instruction
// and byte of the line first; most of a matched line's cost was there.
//
// Why the result is the whole regexp's, group for group: the regexp takes
// P's ways in its order and, for each, the longest .* after which S
// matches to the end of the line. Since .* matches any text without a
// newline, that is the last place r where S matches to the end, whichever
// way P went, provided P ends at or before r. So the tail starts at the
// last r where ^S$ matches text[r:] (found from the right at S's literal),
// the head is P's first way within text[:r] (P matched on its own: its
// first match there), and S's groups are its first way on text[r:]. This
// needs P and S to hold no empty-width assertion (one could look across
// r), checked when compiling, and a line without a newline when the . does
// not match one, checked per line. Anything else, or a line whose tail
// literal recurs too often, runs the whole regexp.
type splitRegex struct {
	head, tail *regexp.Regexp // ^P and ^(?:S)$
	lit        string         // the literal S starts with
	star       bool           // the .* is a group of its own (after P's)
	dotNL      bool           // the . matches a newline too
	ncap       int            // groups of the whole regexp
	loc        []int          // the last match's groups, reused: see find
}

// maxTails is how many places of the tail literal find tries, from the
// right, before it leaves the line to the whole regexp: a client can repeat
// the literal in a user name, and each try costs a run of the tail.
const maxTails = 4

// newSplit returns the split form of an expanded failregex, or nil when it
// does not have the shape (see splitRegex).
func newSplit(pattern string) *splitRegex {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil || re.Op != syntax.OpConcat {
		return nil
	}
	subs := re.Sub
	n := len(subs)
	if n < 4 || subs[0].Op != syntax.OpBeginText || subs[n-1].Op != syntax.OpEndText {
		return nil
	}
	k := 1
	for k < n-1 && !isStar(subs[k]) {
		k++
	}
	if k >= n-2 {
		return nil // no .*, or nothing after it
	}
	lit, ok := exact(subs[k+1])
	if !ok || anyAssertion(subs[1:k]) || anyAssertion(subs[k+1:n-1]) {
		return nil
	}
	s := &splitRegex{lit: lit, star: subs[k].Op == syntax.OpCapture}
	s.dotNL = starSub(subs[k]).Sub[0].Op == syntax.OpAnyChar
	s.head, err = regexp.Compile("^" + joined(subs[1:k]))
	if err != nil {
		return nil
	}
	s.tail, err = regexp.Compile("^(?:" + joined(subs[k+1:n-1]) + ")$")
	if err != nil {
		return nil
	}
	full, err := regexp.Compile(pattern)
	if err != nil {
		return nil
	}
	s.ncap = full.NumSubexp()
	if s.head.NumSubexp()+s.tail.NumSubexp()+b2i(s.star) != s.ncap {
		return nil
	}
	return s
}

// isStar reports whether re is a greedy .* (or (?s:.*)), in a group or not.
func isStar(re *syntax.Regexp) bool {
	st := starSub(re)
	return st != nil && st.Op == syntax.OpStar && st.Flags&syntax.NonGreedy == 0 &&
		(st.Sub[0].Op == syntax.OpAnyCharNotNL || st.Sub[0].Op == syntax.OpAnyChar)
}

// starSub returns re without one capturing group around it.
func starSub(re *syntax.Regexp) *syntax.Regexp {
	if re.Op == syntax.OpCapture {
		return re.Sub[0]
	}
	return re
}

// anyAssertion reports whether any of res holds an empty-width assertion.
func anyAssertion(res []*syntax.Regexp) bool {
	for _, re := range res {
		switch re.Op {
		case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
			syntax.OpWordBoundary, syntax.OpNoWordBoundary:
			return true
		}
		if anyAssertion(re.Sub) {
			return true
		}
	}
	return false
}

// joined is the concatenation of res as one expression.
func joined(res []*syntax.Regexp) string {
	var b strings.Builder
	for _, re := range res {
		b.WriteString("(?:" + re.String() + ")")
	}
	return b.String()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// find returns what the whole regexp's FindStringSubmatchIndex returns for
// text, and false when it cannot tell (the caller runs the whole regexp).
// A miss allocates nothing; a match's groups are in a slice find reuses, so
// they are read before the next call.
func (s *splitRegex) find(text string) ([]int, bool) {
	if !s.dotNL && strings.IndexByte(text, '\n') >= 0 {
		return nil, false
	}
	r, ok := s.lastTail(text)
	if !ok || r < 0 {
		return nil, ok
	}
	h := s.head.FindStringSubmatchIndex(text[:r]) // nil, unallocated, on a miss
	if h == nil {
		return nil, true
	}
	t := s.tail.FindStringSubmatchIndex(text[r:])
	if s.loc == nil {
		s.loc = make([]int, 2*(s.ncap+1))
	}
	loc := append(s.loc[:0], 0, len(text))
	loc = append(loc, h[2:]...)
	if s.star {
		loc = append(loc, h[1], r)
	}
	for _, x := range t[2:] {
		if x >= 0 {
			x += r
		}
		loc = append(loc, x)
	}
	return loc, true
}

// lastTail returns the last place where the tail matches to the end of
// text, -1 when there is none, and false when it gave up (maxTails).
func (s *splitRegex) lastTail(text string) (int, bool) {
	end := len(text)
	for range maxTails {
		r := strings.LastIndex(text[:end], s.lit)
		if r < 0 {
			return -1, true
		}
		if s.tail.MatchString(text[r:]) {
			return r, true
		}
		end = r + len(s.lit) - 1
	}
	return -1, false
}
