package native

import (
	"regexp/syntax"
	"strings"
)

// asciiRegex matches an RE2 expression against ASCII text the way Go's
// regexp does (leftmost-first, the same groups), only faster: Go's engines
// step through a line rune by rune at several nanoseconds each, which was
// most of the cost of a matched line. This one compares literals whole,
// runs a character class over bytes in a tight loop and tries the rest of
// the expression after each length of the run, longest first (or shortest,
// for a lazy one).
//
// Why it agrees with Go's regexp: it walks the expression depth first
// through the alternatives in their order of preference (a counted repeat
// of one byte as a run, longest first, which is the order of the nested
// choices regexp.Compile spells it out as) and stops at the first match,
// which is the definition of leftmost-first matching that all of Go's
// engines implement. On ASCII text a rune is a byte, so classes and '.'
// need no decoding. What would need more care is refused when compiling
// (newASCII returns nil): word boundaries and line anchors, case folding
// of non-ASCII letters, and loops whose body can match the empty text
// (there Go's engines prune a repeated state, which a plain depth-first
// walk does not). A walk that takes more than budget steps gives up, so a
// line never costs more than a fixed multiple of its length here; the
// caller then runs Go's regexp, which is linear. Lines with a byte of 128
// or more go to Go's regexp as well.
type asciiRegex struct {
	nodes    []asciiNode
	start    int  // index of the first node
	anchored bool // the expression starts with ^: only position 0 is tried
	caps     []int
	text     string
	steps    int
}

type asciiOp uint8

const (
	aLit     asciiOp = iota // lit, case folded when fold
	aRun                    // min to max (-1: any) bytes of set, greedy unless lazy
	aAlt                    // alts, in order
	aCapOpen                // caps[2*cap] = pos
	aCapClose
	aBegin // pos == 0
	aEnd   // pos == len(text)
	aMatch
)

// asciiNode is one step; next is the node after it (for aAlt, each
// alternative leads on by itself).
type asciiNode struct {
	op       asciiOp
	lazy     bool
	fold     bool
	lit      string
	set      [2]uint64 // bytes 0-127 a class matches
	min, max int
	nextByte int // for a run: the byte a literal after it starts with, or -1
	cap      int
	alts     []int
	next     int
}

// newASCII compiles pattern (RE2 syntax, as regexp.Compile reads it), or
// returns nil when it holds something asciiRegex does not do exactly.
func newASCII(pattern string) *asciiRegex {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	a := &asciiRegex{caps: make([]int, 2*(re.MaxCap()+1))}
	match := a.add(asciiNode{op: aMatch})
	start, ok := a.compile(re, match)
	if !ok {
		return nil
	}
	a.start = start
	a.anchored = a.nodes[start].op == aBegin
	for i := range a.nodes {
		n := &a.nodes[i]
		n.nextByte = -1
		if nx := a.nodes[n.next]; n.op == aRun && nx.op == aLit && !nx.fold && nx.lit != "" {
			n.nextByte = int(nx.lit[0])
		}
	}
	return a
}

func (a *asciiRegex) add(n asciiNode) int {
	a.nodes = append(a.nodes, n)
	return len(a.nodes) - 1
}

// compile adds the nodes of re, leading on to next, and returns the first.
func (a *asciiRegex) compile(re *syntax.Regexp, next int) (int, bool) {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return next, true
	case syntax.OpLiteral:
		fold := re.Flags&syntax.FoldCase != 0
		lit, ok := asciiLiteral(re.Rune)
		if !ok {
			return 0, false
		}
		return a.add(asciiNode{op: aLit, lit: lit, fold: fold, next: next}), true
	case syntax.OpCharClass, syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		return a.add(asciiNode{op: aRun, set: classSet(re), min: 1, max: 1, next: next}), true
	case syntax.OpBeginText:
		return a.add(asciiNode{op: aBegin, next: next}), true
	case syntax.OpEndText:
		return a.add(asciiNode{op: aEnd, next: next}), true
	case syntax.OpCapture:
		closeAt := a.add(asciiNode{op: aCapClose, cap: re.Cap, next: next})
		sub, ok := a.compile(re.Sub[0], closeAt)
		return a.add(asciiNode{op: aCapOpen, cap: re.Cap, next: sub}), ok
	case syntax.OpConcat:
		for i := len(re.Sub) - 1; i >= 0; i-- {
			var ok bool
			if next, ok = a.compile(re.Sub[i], next); !ok {
				return 0, false
			}
		}
		return next, true
	case syntax.OpAlternate:
		alt := asciiNode{op: aAlt}
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
			return a.add(asciiNode{op: aRun, set: classSet(re.Sub[0]), min: re.Min, max: re.Max, lazy: lazy, next: next}), true
		}
		return a.compile(re.Simplify(), next) // as regexp.Compile spells it out
	}
	return 0, false // line anchors, word boundaries, no match
}

// compileRepeat compiles *, + and ?: over one byte of a class as a run,
// else as a loop (or a choice, for ?) whose body must consume something.
func (a *asciiRegex) compileRepeat(re *syntax.Regexp, next int) (int, bool) {
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
		return a.add(asciiNode{op: aRun, set: classSet(sub), min: min, max: max, lazy: lazy, next: next}), true
	}
	if re.Op == syntax.OpQuest {
		alt := a.add(asciiNode{op: aAlt})
		body, ok := a.compile(sub, next)
		a.nodes[alt].alts = ordered(body, next, lazy)
		return alt, ok
	}
	if nullable(sub) {
		return 0, false
	}
	loop := a.add(asciiNode{op: aAlt})
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

// budget is how many steps a walk over text may take: a few per byte, far
// more than any filter of logjail's needs on a real line.
func budget(n int) int { return 16*n + 256 }

// find returns what regexp's FindStringSubmatchIndex returns for text,
// which must be ASCII (see isASCII), and false when it gave up (budget).
// The groups are in a slice find reuses: read them before the next call.
func (a *asciiRegex) find(text string) ([]int, bool) {
	a.text, a.steps = text, budget(len(text))
	defer func() { a.text = "" }()
	last := len(text)
	if a.anchored {
		last = 0
	}
	for at := 0; at <= last; at++ {
		for i := range a.caps {
			a.caps[i] = -1
		}
		a.caps[0] = at
		if a.run(a.start, at) {
			return a.caps, true
		}
		if a.steps < 0 {
			return nil, false
		}
	}
	return nil, true
}

// run reports whether the expression from node i on matches text at pos,
// recording the groups of the first way it does. A call is a step: what
// it does without calling itself is bounded by the number of nodes.
func (a *asciiRegex) run(i, pos int) bool {
	if a.steps--; a.steps < 0 {
		return false
	}
	text := a.text
	for {
		n := &a.nodes[i]
		switch n.op {
		case aLit:
			if !hasLit(text[pos:], n.lit, n.fold) {
				return false
			}
			pos += len(n.lit)
		case aRun:
			if n.min != 1 || n.max != 1 {
				return a.runClass(n, pos)
			}
			if pos == len(text) || !inSet(n.set, text[pos]) {
				return false
			}
			pos++
		case aAlt:
			last := len(n.alts) - 1
			for _, alt := range n.alts[:last] {
				if a.run(alt, pos) {
					return true
				}
			}
			i = n.alts[last]
			continue
		case aCapOpen, aCapClose:
			k := 2 * n.cap
			if n.op == aCapClose {
				k++
			}
			old := a.caps[k]
			a.caps[k] = pos
			if a.run(n.next, pos) {
				return true
			}
			a.caps[k] = old
			return false
		case aBegin:
			if pos != 0 {
				return false
			}
		case aEnd:
			if pos != len(text) {
				return false
			}
		case aMatch:
			a.caps[1] = pos
			return true
		}
		i = n.next
	}
}

// runClass matches n's run of its class at pos, then the rest of the
// expression after each length of the run, the longest first unless lazy.
// Each byte looked at is a step.
func (a *asciiRegex) runClass(n *asciiNode, pos int) bool {
	text := a.text
	limit := len(text)
	if n.max >= 0 {
		limit = min(limit, pos+n.max)
	}
	end := pos
	if n.set == notNL && n.max < 0 {
		// .*, the commonest run, to the end of the line (or a newline)
		// in one vectorised search.
		if end = strings.IndexByte(text[pos:], '\n'); end < 0 {
			end = len(text)
		} else {
			end += pos
		}
	}
	for end < limit && inSet(n.set, text[end]) {
		end++
	}
	a.steps -= end - pos
	if end-pos < n.min {
		return false
	}
	from, to, step := end, pos+n.min-1, -1
	if n.lazy {
		from, to, step = pos+n.min, end+1, 1
	}
	for at := from; at != to; at += step {
		if a.steps--; a.steps < 0 {
			return false
		}
		if n.nextByte >= 0 && (at == len(text) || text[at] != byte(n.nextByte)) {
			continue // the literal that follows is not there
		}
		if a.run(n.next, at) {
			return true
		}
	}
	return false
}

// notNL is the set of '.': every ASCII byte but a newline.
var notNL = [2]uint64{^uint64(1 << '\n'), ^uint64(0)}

func inSet(set [2]uint64, c byte) bool {
	return c < 128 && set[c/64]&(1<<(c%64)) != 0
}

// hasLit reports whether text starts with lit, ASCII letters in either
// case when fold.
func hasLit(text, lit string, fold bool) bool {
	if len(text) < len(lit) {
		return false
	}
	if !fold {
		return text[:len(lit)] == lit
	}
	for i := range len(lit) {
		c, l := text[i], lit[i]
		if c != l && (c|0x20 != l|0x20 || l|0x20 < 'a' || l|0x20 > 'z') {
			return false
		}
	}
	return true
}

// isASCII reports whether s holds only bytes below 128.
func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
