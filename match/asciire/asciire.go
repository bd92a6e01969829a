// Package asciire matches RE2 expressions against ASCII text the way Go's
// regexp does (leftmost-first, the same groups), only faster: Go's engines
// step through a line rune by rune at several nanoseconds each, which was
// most of the cost of a matched line. This one compares literals whole,
// runs a character class over bytes in a tight loop and tries the rest of
// the expression after each length of the run, longest first (or shortest,
// for a lazy one). Both dialects use it: logjail's own filters
// (match/native) and fail2ban's converted RE2 programs (match/fail2ban/pyre:
// prefregex, failregexes, date templates).
//
// Why it agrees with Go's regexp: it walks the expression depth first
// through the alternatives in their order of preference (a counted repeat
// of one byte as a run, longest first, which is the order of the nested
// choices regexp.Compile spells it out as) and stops at the first match,
// which is the definition of leftmost-first matching that all of Go's
// engines implement. On ASCII text a rune is a byte, so classes, '.' and
// the word and line boundaries need no decoding. What would need more
// care is refused when compiling (Compile returns nil): case folding of
// non-ASCII letters, and loops whose body can match the empty text (there
// Go's engines prune a repeated state, which a plain depth-first walk does
// not). A walk that takes more than budget steps gives up, so a line never
// costs more than a fixed multiple of its length here; the caller then
// runs Go's regexp, which is linear. Text with a byte of 128 or more is
// the caller's to send to Go's regexp (see IsASCII).
package asciire

import (
	"math/bits"
	"regexp/syntax"
	"strings"
)

// Regexp is a compiled expression with the state of one search: it is
// used by one goroutine at a time (Copy gives another its own).
type Regexp struct {
	nodes    []node
	start    int  // index of the first node
	anchored bool // the expression starts with ^: only position 0 is tried
	// first is the set of bytes a match can start with, when every
	// match consumes one (firstAny: not known), or consumes none only
	// where the text ends (firstAtEnd); other start positions are
	// skipped without a walk.
	first      [2]uint64
	firstAny   bool
	firstAtEnd bool
	caps       []int
	trail      []int // pairs: a group bound set, and its value before
	text       string
	steps      int
	memo       bool     // remember failed entries in visited (see Find)
	visited    []uint64 // a bit per node and place in the text
	// seen is how far the walk read the text (see memo.go), results
	// the results remembered (nil: none).
	seen    int
	results *memo
	// tracking: this walk's result is remembered, and notes what it
	// read (see stretch.go): reads (readFar: past maxStretchText), and
	// the runs that may stretch.
	tracking bool
	readFar  bool
	reads    [maxStretchText / 64]uint64
	spans    []span
}

type op uint8

const (
	aLit     op = iota // lit, case folded when fold
	aRun               // min to max (-1: any) bytes of set, greedy unless lazy
	aAlt               // alts, in order
	aCapOpen           // caps[2*cap] = pos
	aCapClose
	aBegin       // pos == 0
	aEnd         // pos == len(text)
	aBeginLine   // at 0 or after a newline
	aEndLine     // at len(text) or before a newline
	aWordEdge    // \b: a word byte on one side only
	aNotWordEdge // \B
	aMatch
)

// node is one step; next is the node after it (for aAlt, each
// alternative leads on by itself).
type node struct {
	op   op
	lazy bool
	fold bool
	lit  string
	// litWord is a literal of up to 8 bytes (not folded) as one number,
	// litMask the bits of its bytes: compared with one load of the text
	// (see hasLit), where comparing strings costs a call.
	litWord, litMask uint64
	set              [2]uint64 // bytes 0-127 a class matches
	min, max         int
	// follow is, for a run, the first set of the node after it (see
	// first), looked through groups: a length of the run after which
	// the next byte is not in it is not tried. followAny: not known;
	// followAtEnd: what follows may also consume nothing where the text
	// ends.
	follow      [2]uint64
	followAny   bool
	followAtEnd bool
	// followByte is follow's only byte, -1 when it has more (or any, or
	// may follow at the end).
	followByte int
	// apart: follow has no byte of the run's set, so after any length
	// but the longest the next byte is the run's, which what follows
	// cannot start with: only the longest is tried.
	apart bool
	// first is the set of bytes a match from this node on starts with,
	// unless firstAny (it may consume nothing first, or is not known);
	// firstAtEnd: it may consume nothing, but only where the text ends
	// (a $ ahead). An alternative that can start neither way is not
	// tried.
	first      [2]uint64
	firstAny   bool
	firstAtEnd bool
	cap        int
	alts       []int
	next       int
}

// Compile compiles pattern (RE2 syntax, as regexp.Compile reads it), or
// returns nil when it holds something Regexp does not do exactly.
func Compile(pattern string) *Regexp {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	a := &Regexp{caps: make([]int, 2*(re.MaxCap()+1))}
	match := a.add(node{op: aMatch})
	start, ok := a.compile(re, match)
	if !ok {
		return nil
	}
	a.start = start
	a.anchored = a.startsAtBegin(start)
	memo := make([]firstMemo, len(a.nodes))
	for i := range a.nodes {
		n := &a.nodes[i]
		f := a.firstBytes(i, memo)
		n.first, n.firstAny, n.firstAtEnd = f.set, f.any, f.atEnd
	}
	a.first, a.firstAny, a.firstAtEnd = a.nodes[start].first, a.nodes[start].firstAny, a.nodes[start].firstAtEnd
	for i := range a.nodes {
		if n := &a.nodes[i]; n.op == aRun {
			next := &a.nodes[n.next]
			n.follow, n.followAny, n.followAtEnd = next.first, next.firstAny, next.firstAtEnd
			n.followByte = onlyByte(n.follow, n.followAny || n.followAtEnd)
			n.apart = !n.followAny && n.follow[0]&n.set[0] == 0 && n.follow[1]&n.set[1] == 0
		}
	}
	return a
}

// startsAtBegin reports whether every match from node i passes ^ before
// it consumes anything: groups opened first, as in (^a), do not hide it.
func (a *Regexp) startsAtBegin(i int) bool {
	for a.nodes[i].op == aCapOpen {
		i = a.nodes[i].next
	}
	return a.nodes[i].op == aBegin
}

// Copy returns a Regexp for another goroutine: the same expression, its
// own search state.
func (a *Regexp) Copy() *Regexp {
	c := *a
	c.caps, c.trail, c.visited, c.spans = make([]int, len(a.caps)), nil, nil, nil
	if a.results != nil {
		c.results = &memo{}
	}
	return &c
}

// firstBytes returns the set of bytes a match from node i can start
// with; any when a match may consume nothing there, atEnd when it may
// but only where the text ends. Each node is worked out once (memo); a
// node met again on its own walk, which only a loop of empty steps would
// do, counts as any.
func (a *Regexp) firstBytes(i int, memo []firstMemo) firstSet {
	m := &memo[i]
	switch m.state {
	case memoDone:
		return m.firstSet
	case memoBusy:
		return firstSet{any: true}
	}
	m.state = memoBusy
	n := &a.nodes[i]
	var f firstSet
	switch n.op {
	case aLit:
		f.set = litFirst(n.lit, n.fold)
	case aRun:
		f.set = n.set
		if n.min == 0 {
			f = f.or(a.firstBytes(n.next, memo))
		}
	case aAlt:
		for _, alt := range n.alts {
			f = f.or(a.firstBytes(alt, memo))
		}
	case aEnd:
		f.atEnd = true
	case aEndLine, aMatch:
		f.any = true
	default: // groups and the other assertions consume nothing (an
		// assertion before a $ only narrows where it holds)
		f = a.firstBytes(n.next, memo)
	}
	*m = firstMemo{state: memoDone, firstSet: f}
	return f
}

// firstSet is what a match from a node may start with (see firstBytes).
type firstSet struct {
	set        [2]uint64
	any, atEnd bool
}

func (f firstSet) or(g firstSet) firstSet {
	return firstSet{set: union(f.set, g.set), any: f.any || g.any, atEnd: f.atEnd || g.atEnd}
}

type firstMemo struct {
	state uint8
	firstSet
}

const (
	_ = iota // not yet
	memoBusy
	memoDone
)

// litFirst is the set of the bytes lit can start with.
func litFirst(lit string, fold bool) (set [2]uint64) {
	c := lit[0]
	set[c/64] |= 1 << (c % 64)
	if l := c | 0x20; fold && 'a' <= l && l <= 'z' {
		u := l &^ 0x20
		set[l/64] |= 1 << (l % 64)
		set[u/64] |= 1 << (u % 64)
	}
	return set
}

// onlyByte returns the one byte of set, -1 when it holds another (or any).
func onlyByte(set [2]uint64, any bool) int {
	if any || bits.OnesCount64(set[0])+bits.OnesCount64(set[1]) != 1 {
		return -1
	}
	if set[0] != 0 {
		return bits.TrailingZeros64(set[0])
	}
	return 64 + bits.TrailingZeros64(set[1])
}

func union(a, b [2]uint64) [2]uint64 { return [2]uint64{a[0] | b[0], a[1] | b[1]} }

func (a *Regexp) add(n node) int {
	a.nodes = append(a.nodes, n)
	return len(a.nodes) - 1
}

// compile adds the nodes of re, leading on to next, and returns the first.
func (a *Regexp) compile(re *syntax.Regexp, next int) (int, bool) {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return next, true
	case syntax.OpLiteral:
		fold := re.Flags&syntax.FoldCase != 0
		lit, ok := asciiLiteral(re.Rune)
		if !ok {
			return 0, false
		}
		if lit == "" {
			return next, true
		}
		n := node{op: aLit, lit: lit, fold: fold, next: next}
		if !fold && len(lit) <= 8 {
			n.litWord, n.litMask = litWord(lit)
		}
		return a.add(n), true
	case syntax.OpCharClass, syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		return a.add(node{op: aRun, set: classSet(re), min: 1, max: 1, next: next}), true
	case syntax.OpBeginText:
		return a.add(node{op: aBegin, next: next}), true
	case syntax.OpEndText:
		return a.add(node{op: aEnd, next: next}), true
	case syntax.OpBeginLine:
		return a.add(node{op: aBeginLine, next: next}), true
	case syntax.OpEndLine:
		return a.add(node{op: aEndLine, next: next}), true
	case syntax.OpWordBoundary:
		return a.add(node{op: aWordEdge, next: next}), true
	case syntax.OpNoWordBoundary:
		return a.add(node{op: aNotWordEdge, next: next}), true
	case syntax.OpCapture:
		closeAt := a.add(node{op: aCapClose, cap: re.Cap, next: next})
		sub, ok := a.compile(re.Sub[0], closeAt)
		return a.add(node{op: aCapOpen, cap: re.Cap, next: sub}), ok
	case syntax.OpConcat:
		for i := len(re.Sub) - 1; i >= 0; i-- {
			var ok bool
			if next, ok = a.compile(re.Sub[i], next); !ok {
				return 0, false
			}
		}
		return next, true
	case syntax.OpAlternate:
		alt := node{op: aAlt}
		for _, sub := range re.Sub {
			first, ok := a.compile(sub, next)
			if !ok {
				return 0, false
			}
			alt.alts = append(alt.alts, first)
		}
		return a.add(alt), true
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		return a.compileRepeat(re, next)
	case syntax.OpRepeat:
		if oneByte(re.Sub[0]) { // [0-9A-Fa-f:]{1,38}: one run, not 38 choices
			lazy := re.Flags&syntax.NonGreedy != 0
			return a.add(node{op: aRun, set: classSet(re.Sub[0]), min: re.Min, max: re.Max, lazy: lazy, next: next}), true
		}
		return a.compile(re.Simplify(), next) // as regexp.Compile spells it out
	}
	return 0, false // no match
}

// compileRepeat compiles *, + and ?: over one byte of a class as a run,
// else as a loop (or a choice, for ?) whose body must consume something.
func (a *Regexp) compileRepeat(re *syntax.Regexp, next int) (int, bool) {
	lazy := re.Flags&syntax.NonGreedy != 0
	sub := re.Sub[0]
	min, max := 0, -1
	switch re.Op {
	case syntax.OpPlus:
		min = 1
	case syntax.OpQuest:
		max = 1
	}
	if oneByte(sub) {
		return a.add(node{op: aRun, set: classSet(sub), min: min, max: max, lazy: lazy, next: next}), true
	}
	if re.Op == syntax.OpQuest {
		alt := a.add(node{op: aAlt})
		body, ok := a.compile(sub, next)
		a.nodes[alt].alts = ordered(body, next, lazy)
		return alt, ok
	}
	if nullable(sub) {
		return 0, false
	}
	loop := a.add(node{op: aAlt})
	body, ok := a.compile(sub, loop)
	a.nodes[loop].alts = ordered(body, next, lazy)
	if re.Op == syntax.OpPlus {
		return body, ok
	}
	return loop, ok
}

// ordered is {more, done}, or {done, more} when lazy.
func ordered(more, done int, lazy bool) []int {
	if lazy {
		return []int{done, more}
	}
	return []int{more, done}
}

// nullable reports whether re can match the empty text.
func nullable(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune) == 0
	case syntax.OpCharClass, syntax.OpAnyCharNotNL, syntax.OpAnyChar, syntax.OpNoMatch:
		return false
	case syntax.OpCapture, syntax.OpPlus:
		return nullable(re.Sub[0])
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if !nullable(sub) {
				return false
			}
		}
		return true
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			if nullable(sub) {
				return true
			}
		}
		return false
	}
	return true // *, ?, empty-width assertions, the empty match
}

// asciiLiteral returns a literal's text when every rune is ASCII. Case
// folded, an ASCII letter also matches non-ASCII runes ('k' the Kelvin
// sign), which ASCII text does not hold; but a non-ASCII rune can fold to
// an ASCII letter, so such a literal is refused rather than judged.
func asciiLiteral(runes []rune) (string, bool) {
	var b strings.Builder
	for _, r := range runes {
		if r >= 0x80 {
			return "", false
		}
		b.WriteByte(byte(r))
	}
	return b.String(), true
}

// oneByte reports whether re matches exactly one byte of ASCII text (a
// class, '.', or one ASCII rune).
func oneByte(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpCharClass, syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		return true
	case syntax.OpLiteral:
		return len(re.Rune) == 1 && re.Rune[0] < 0x80
	}
	return false
}

// classSet is the set of bytes 0-127 that a class, '.' or a one-rune
// literal (see oneByte) matches.
func classSet(re *syntax.Regexp) [2]uint64 {
	var set [2]uint64
	for c := range 128 {
		if matchesByte(re, rune(c)) {
			set[c/64] |= 1 << (c % 64)
		}
	}
	return set
}

func matchesByte(re *syntax.Regexp, c rune) bool {
	switch re.Op {
	case syntax.OpAnyChar:
		return true
	case syntax.OpAnyCharNotNL:
		return c != '\n'
	case syntax.OpLiteral:
		r := re.Rune[0]
		if re.Flags&syntax.FoldCase != 0 && 'a' <= r|0x20 && r|0x20 <= 'z' {
			return c|0x20 == r|0x20
		}
		return c == r
	}
	for i := 0; i+1 < len(re.Rune); i += 2 {
		if re.Rune[i] <= c && c <= re.Rune[i+1] {
			return true
		}
	}
	return false
}

// litWord returns lit (up to 8 bytes) as word reads it, and the mask of
// its bytes.
func litWord(lit string) (w, mask uint64) {
	for i := range len(lit) {
		w |= uint64(lit[i]) << (8 * i)
		mask |= 0xff << (8 * i)
	}
	return w, mask
}
