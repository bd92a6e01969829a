package asciire

import (
	"slices"
	"strings"
)

// budget is how many steps a walk over text may take: a few per byte, far
// more than any filter of logjail's needs on a real line.
func budget(n int) int { return 16*n + 256 }

// quickBudget is how many steps the first walk may take, before it
// starts again remembering where it failed; an expression of more than
// quickNodes nodes (many choices) remembers from the start.
func quickBudget(n int) int { return 2*n + 64 }

const quickNodes = 128

// maxMemoBits bounds what a walk remembers (256 KiB): for a longer text
// and expression the walk remembers nothing (within its budget).
const maxMemoBits = 1 << 21

// Find returns what regexp's FindStringSubmatchIndex returns for text,
// which must be ASCII (see IsASCII), and false when it gave up (budget).
// The groups are in a slice Find reuses: read them before the next call.
//
// A plain depth-first walk may come to the same node at the same place
// of the text many times, each time failing again (a choice early in
// the expression tried in vain against every way of what follows). A
// walk that takes more than quickBudget steps starts over remembering
// each (node, place) it has entered, as Go's backtracker does: what
// follows a node from a place does not depend on how the walk got there
// (no back-references), so a second entry would fail as the first did.
func (a *Regexp) Find(text string) ([]int, bool) {
	a.seen = 0
	remembers := a.results != nil && len(a.nodes) <= quickNodes && len(a.nodes)*(len(text)+1) <= maxMemoBits
	if remembers {
		if loc, n, ok := a.results.recall(text, quickBudget(len(text))); ok {
			a.seen = n
			return loc, true
		}
	}
	a.text = text
	loc, ok := a.walk(remembers)
	a.text = "" // the Regexp outlives the line
	return loc, ok
}

// walk is Find's walk over a.text: a quick one first (a result the memo
// keeps, when remembers), then the full one remembering failed entries.
func (a *Regexp) walk(remembers bool) ([]int, bool) {
	text := a.text
	if len(a.nodes)*(len(text)+1) > maxMemoBits {
		return a.search(budget(len(text)), false) // too much to remember
	}
	if len(a.nodes) <= quickNodes {
		quick := quickBudget(len(text))
		if remembers {
			a.track()
		}
		loc, ok := a.search(quick, false)
		a.tracking = false
		if ok {
			if remembers {
				stretch, stretches := a.stretch(loc)
				a.results.keep(text, a.seen, quick-a.steps, loc, stretch, stretches)
			}
			return loc, true
		}
	}
	return a.search(budget(len(text)), true)
}

// FindPrefix is Find for a text that may hold bytes of 128 or more
// anywhere: false (as when Find gives up) when the walk read one. What a
// walk finds depends only on the bytes it read (see memo.go), and an
// anchored expression reads from the text's start only as far as it
// needs: a prefregex's header turns another program's line away after
// its host and name, so the rest of the line need not be looked at.
func (a *Regexp) FindPrefix(text string) ([]int, bool) {
	loc, ok := a.Find(text)
	if ok && !IsASCII(text[:min(a.seen, len(text))]) {
		return nil, false
	}
	return loc, ok
}

// search is one walk over a.text from each place a match may start,
// with steps to take, remembering failed entries when memo.
func (a *Regexp) search(steps int, memo bool) ([]int, bool) {
	text := a.text
	a.steps, a.memo = steps, memo
	if memo {
		n := (len(a.nodes)*(len(text)+1) + 63) / 64
		a.visited = slices.Grow(a.visited[:0], n)[:n]
		clear(a.visited)
	}
	last := len(text)
	if a.anchored {
		last = 0
	}
	for at := 0; at <= last; at++ {
		if !a.firstAny {
			// Every match starts with a byte of first: skip to one.
			for at < len(text) && !inSet(a.first, text[at]) {
				at++
			}
			a.read(0, at+1)
			if at == len(text) && !a.firstAtEnd || at > last {
				break
			}
		}
		for i := range a.caps {
			a.caps[i] = -1
		}
		a.caps[0] = at
		a.trail = a.trail[:0]
		matched := a.run(a.start, at)
		if a.steps < 0 {
			// Out of steps: a match found after the budget ran out may
			// not be the first way (an earlier branch gave up, not
			// failed), so the walk gives up too.
			return nil, false
		}
		if matched {
			return a.caps, true
		}
	}
	return nil, true
}

// run reports whether the expression from node i on matches text at pos,
// recording the groups of the first way it does. A call is a step: what
// it does without calling itself is bounded by the number of nodes and
// the length of the text. A group's bound is set in place and logged on
// the trail; where a choice is made, a way that fails has its bounds put
// back (undo) before the next is tried.
func (a *Regexp) run(i, pos int) bool {
	if a.steps--; a.steps < 0 {
		return false
	}
	if a.memo {
		k := i*(len(a.text)+1) + pos
		if a.visited[k/64]&(1<<(k%64)) != 0 {
			return false // entered before, and failed
		}
		a.visited[k/64] |= 1 << (k % 64)
	}
	text := a.text
	for {
		n := &a.nodes[i]
		switch n.op {
		case aLit:
			a.read(pos, pos+len(n.lit))
			if n.litMask != 0 && pos+8 <= len(text) {
				if word(text[pos:pos+8])&n.litMask != n.litWord {
					return false
				}
			} else if !hasLit(text[pos:], n.lit, n.fold) {
				return false
			}
			pos += len(n.lit)
		case aRun:
			next, matched, done := a.runStep(n, pos)
			if done {
				return matched
			}
			pos = next
		case aAlt:
			last := len(n.alts) - 1
			for _, alt := range n.alts[:last] {
				mark := len(a.trail)
				if a.mayStart(alt, pos) && a.run(alt, pos) {
					return true
				}
				a.undo(mark)
			}
			if i = n.alts[last]; !a.mayStart(i, pos) {
				return false
			}
			continue
		case aCapOpen, aCapClose:
			k := 2 * n.cap
			if n.op == aCapClose {
				k++
			}
			a.trail = append(a.trail, k, a.caps[k])
			a.caps[k] = pos
		case aBegin, aEnd, aBeginLine, aEndLine, aWordEdge, aNotWordEdge:
			if !a.holds(n.op, pos) {
				return false
			}
		case aMatch:
			a.caps[1] = pos
			return true
		}
		i = n.next
	}
}

// runStep matches run n at pos: where the walk goes on after it (an
// apart run's longest length, or one byte), or, done, whether the rest
// matched after one of its lengths (runClass).
func (a *Regexp) runStep(n *node, pos int) (next int, matched, done bool) {
	if n.apart {
		// Only the longest length can be followed (see node.apart): the
		// walk goes on after it, as after a literal.
		end := a.runEnd(n, pos)
		a.readRun(n, pos, end)
		if end-pos < n.min || !a.mayFollow(n, end) {
			return 0, false, true
		}
		if a.steps--; a.steps < 0 {
			return 0, false, true
		}
		return end, false, false
	}
	if n.min != 1 || n.max != 1 {
		return 0, a.runClass(n, pos), true
	}
	a.read(pos, pos+1)
	if pos == len(a.text) || !inSet(n.set, a.text[pos]) {
		return 0, false, true
	}
	return pos + 1, false, false
}

// holds reports whether assertion op holds at pos.
func (a *Regexp) holds(op op, pos int) bool {
	text := a.text
	switch op {
	case aBegin:
		return pos == 0
	case aEnd:
		a.read(pos, pos+1)
		return pos == len(text)
	case aBeginLine:
		a.read(pos-1, pos)
		return pos == 0 || text[pos-1] == '\n'
	case aEndLine:
		a.read(pos, pos+1)
		return pos == len(text) || text[pos] == '\n'
	}
	a.read(pos-1, pos+1)
	return a.wordEdge(pos) == (op == aWordEdge)
}

// mayStart reports whether a match from node i may start at pos: false
// when it must consume a byte first and the byte there cannot be it.
func (a *Regexp) mayStart(i, pos int) bool {
	n := &a.nodes[i]
	if n.firstAny {
		return true
	}
	a.read(pos, pos+1)
	if pos == len(a.text) {
		return n.firstAtEnd
	}
	return inSet(n.first, a.text[pos])
}

// runClass matches n's run of its class at pos, then the rest of the
// expression after each length of the run, the longest first unless lazy.
// Each byte looked at is a step.
func (a *Regexp) runClass(n *node, pos int) bool {
	end := a.runEnd(n, pos)
	a.read(pos, end+1) // the byte that ended the run, or the text's end
	if end-pos < n.min {
		return false
	}
	if !n.lazy && n.followByte >= 0 {
		return a.runBack(n, pos+n.min, end)
	}
	from, to, step := end, pos+n.min-1, -1
	if n.lazy {
		from, to, step = pos+n.min, end+1, 1
	}
	mark := len(a.trail)
	for at := from; at != to; at += step {
		if a.steps--; a.steps < 0 {
			return false
		}
		if !a.mayFollow(n, at) {
			continue // what follows cannot start there
		}
		if a.run(n.next, at) {
			return true
		}
		a.undo(mark)
	}
	return false
}

// runEnd returns where n's run at pos ends, its longest length (within
// its max): each byte looked at is a step. The caller notes the bytes
// read.
func (a *Regexp) runEnd(n *node, pos int) int {
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
	return end
}

// mayFollow reports whether what follows run n may start at at (see
// node.follow).
func (a *Regexp) mayFollow(n *node, at int) bool {
	if at == len(a.text) {
		return n.followAny || n.followAtEnd
	}
	return n.followAny || inSet(n.follow, a.text[at])
}

// runBack is runClass's greedy tries when what follows the run starts
// with one byte: the rest of the expression is tried after each length of
// the run from end down to lo at which that byte comes next, found by
// strings.LastIndexByte rather than a step per length.
func (a *Regexp) runBack(n *node, lo, end int) bool {
	text, c := a.text, byte(n.followByte)
	mark := len(a.trail)
	for at := min(end, len(text)-1); at >= lo; {
		j := strings.LastIndexByte(text[lo:at+1], c)
		if a.steps -= at + 1 - lo; j >= 0 {
			a.steps += j // the lengths looked at: from at down to j
		}
		if j < 0 || a.steps < 0 {
			return false
		}
		if a.run(n.next, lo+j) {
			return true
		}
		a.undo(mark)
		at = lo + j - 1
	}
	return false
}

// undo puts back the group bounds set since the trail was mark long.
func (a *Regexp) undo(mark int) {
	for len(a.trail) > mark {
		k, old := a.trail[len(a.trail)-2], a.trail[len(a.trail)-1]
		a.caps[k] = old
		a.trail = a.trail[:len(a.trail)-2]
	}
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

// wordEdge reports whether pos is between a word byte ([0-9A-Za-z_]) and
// another byte, or the start or end of the text: Go's \b on ASCII text.
func (a *Regexp) wordEdge(pos int) bool {
	before := pos > 0 && isWordByte(a.text[pos-1])
	after := pos < len(a.text) && isWordByte(a.text[pos])
	return before != after
}

func isWordByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'z'
}

// IsASCII reports whether s holds only bytes below 128.
func IsASCII(s string) bool {
	i := 0
	for ; i+16 <= len(s); i += 16 {
		// Sixteen bytes at once, in two loads (see word): a byte of
		// 128 or more sets its top bit.
		if (word(s[i:i+8])|word(s[i+8:i+16]))&0x8080808080808080 != 0 {
			return false
		}
	}
	if i+8 <= len(s) {
		if word(s[i:i+8])&0x8080808080808080 != 0 {
			return false
		}
		i += 8
	}
	for ; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// word is the 8 bytes of b (at least 8) as one number, read in one load:
// the compiler joins the shifts.
func word(b string) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}
