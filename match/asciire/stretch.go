package asciire

import "slices"

// Stretches. A remembered result (see memo.go) serves a text that begins
// with the bytes its walk read; sshd's header reads the pid ("sshd[4242]:
// "), which differs from line to line, so its lines were never served. A
// remembered walk therefore notes which bytes were read by anything but a
// run that may stretch: a run of a class, unbounded and at least one
// byte long, that tries only its longest length (node.apart). Such a run
// reads a stretch of bytes of its class and the byte that ends it; when
// nothing else read inside the stretch, a text with any stretch of that
// class there (as long as the run's min at least), and the same bytes
// before and after it, gets the same walk, with all after the stretch
// moved by the difference in length: each node after it reads the same
// bytes, the run's steps differ by that difference, and no node depends
// on where it is but ^ (only at 0, before any stretch) and $ (a
// remembered walk never saw the text's end).

// maxStretchText bounds the bytes a walk notes: a stretch past it is not
// remembered as one.
const maxStretchText = 256

// span is a stretch the walk read: bytes from to to of set, at least min
// of them, ended by the byte at to.
type span struct {
	from, to int
	set      [2]uint64
	min      int
}

// read notes that the walk read the text from from to to (exclusive); a
// to past the text's end means it saw where the text ends.
func (a *Regexp) read(from, to int) {
	if to > a.seen {
		a.seen = to
	}
	if a.tracking {
		a.note(from, to)
	}
}

// readRun notes what run n read from pos: a stretch and the byte that
// ended it, or all of it as any read. A run shorter than its min fails
// there, where a longer one would go on: no stretch.
func (a *Regexp) readRun(n *node, pos, end int) {
	if a.tracking && n.max < 0 && n.min >= 1 && end-pos >= n.min {
		a.spans = append(a.spans, span{from: pos, to: end, set: n.set, min: n.min})
		a.read(end, end+1)
		return
	}
	a.read(pos, end+1)
}

// note sets the bits of the bytes from from to to in reads.
func (a *Regexp) note(from, to int) {
	from = max(from, 0)
	if to > maxStretchText {
		a.readFar, to = true, maxStretchText
	}
	for from < to {
		w := from >> 6
		hi := min(to, (w+1)<<6)
		a.reads[w] |= (^uint64(0) << (from & 63)) & (^uint64(0) >> (64 - (hi - w<<6)))
		from = hi
	}
}

// track starts a walk that notes what it reads.
func (a *Regexp) track() {
	a.tracking, a.readFar = true, false
	clear(a.reads[:])
	a.spans = a.spans[:0]
}

// stretch returns the first span of the walk just made that may stretch
// (a result stretches at one place at most, and dropping a span is always
// safe, its bytes then compared as they are): nothing else read inside
// it, it overlaps no other, and no group bound of loc lies inside it.
func (a *Regexp) stretch(loc []int) (span, bool) {
	if a.readFar || len(a.spans) == 0 {
		return span{}, false
	}
	spans := a.spans
	slices.SortFunc(spans, func(x, y span) int { return x.from - y.from })
	spans = slices.Compact(spans) // one run reached twice at one place
	// reach is the furthest end of the spans before: one may cover
	// several.
	reach := 0
	for i, sp := range spans {
		before := reach
		reach = max(reach, sp.to)
		if a.anyRead(sp.from, sp.to) || before > sp.from || i+1 < len(spans) && sp.to > spans[i+1].from ||
			slices.ContainsFunc(loc, func(v int) bool { return v > sp.from && v < sp.to }) {
			continue
		}
		return sp, true
	}
	return span{}, false
}

// anyRead reports whether anything noted a read from from to to.
func (a *Regexp) anyRead(from, to int) bool {
	for p := from; p < to; p++ {
		if a.reads[p>>6]&(1<<(p&63)) != 0 {
			return true
		}
	}
	return false
}

// stretchGroup indexes the remembered results with a stretch that
// begins at from, of set, and is followed by rest bytes read: by the last
// byte read (a header's: the message's first), which sits rest bytes
// after where a text's stretch ends. So a text costs one look at its
// stretch and one at that byte per group, however many results there are
// (sshd's differ in that byte only).
type stretchGroup struct {
	from, rest int
	set        [2]uint64
	byLast     [256]uint8 // entry index + 1; 0: none
}

// index rebuilds the groups from the entries with a stretch.
func (m *memo) index() {
	m.groups = m.groups[:0]
	for i := range m.n {
		e := &m.entries[i]
		if !e.stretches {
			continue
		}
		sp := e.stretch
		rest := len(e.read) - sp.to
		g := -1
		for k := range m.groups {
			if m.groups[k].from == sp.from && m.groups[k].rest == rest && m.groups[k].set == sp.set {
				g = k
				break
			}
		}
		if g < 0 {
			m.groups = append(m.groups, stretchGroup{from: sp.from, rest: rest, set: sp.set})
			g = len(m.groups) - 1
		}
		m.groups[g].byLast[e.read[len(e.read)-1]] = uint8(i + 1)
	}
}

// recallStretched returns the result of an entry whose walk read text's
// bytes but for its stretch, moved by the difference in the stretch's
// length, and how many bytes the walk would read.
func (m *memo) recallStretched(text string, budget int) ([]int, int, bool) {
	for k := range m.groups {
		g := &m.groups[k]
		j := g.from
		for j < len(text) && inSet(g.set, text[j]) {
			j++
		}
		last := j + g.rest - 1
		if last >= len(text) {
			continue
		}
		i := g.byLast[text[last]]
		if i == 0 {
			continue
		}
		e := &m.entries[i-1]
		sp := e.stretch
		d := (j - g.from) - (sp.to - sp.from)
		if j-g.from < sp.min || e.steps+d > budget ||
			!startsWith(text, e.read[:sp.from]) || !startsWith(text[j:], e.read[sp.to:]) {
			continue
		}
		e.served = true
		n := len(e.read) + d
		if !e.found {
			return nil, n, true
		}
		m.out = append(m.out[:0], e.loc...)
		for x, v := range m.out {
			if v >= sp.to {
				m.out[x] = v + d
			}
		}
		return m.out, n, true
	}
	return nil, 0, false
}
