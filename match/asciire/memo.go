package asciire

import "encoding/binary"

// Remembering results. An anchored expression's walk reads the text from
// its start up to some place, and what it finds depends on those bytes
// alone (and on whether the text ends there). Lines of a log often begin
// alike: a prefregex's header turns away every line of another program
// after reading the host and the program's name. A Regexp that remembers
// keeps its last results with the bytes each walk read: a text that
// begins with those bytes has the same result, and costs a comparison.

// memoSize is how many results a Regexp remembers.
const memoSize = 16

type memoEntry struct {
	read []byte // the bytes the walk read, from the text's start (a copy)
	// stretch is the span its result stretches over, when stretches
	// (see stretch.go).
	stretch   span
	stretches bool
	loc       []int // its groups, when found
	found     bool
	steps     int // the steps it took: a shorter text's budget may be less
	// served: it served a text since the hand last passed (see keep).
	served bool
}

// memo holds the results; a new one replaces the first the hand finds
// that has not served since the hand last passed (the clock algorithm):
// lines that begin alike keep their result while lines each unlike the
// others (sshd's, each with its pid) take turns in the rest.
type memo struct {
	// ends and lasts are each entry's len(read) and last byte read, side
	// by side: most entries differ from a text there, found in a cache
	// line or two.
	ends    [memoSize]int
	lasts   [memoSize]byte
	entries [memoSize]memoEntry
	n, hand int
	// groups index the entries with a stretch (see stretch.go); out is
	// a stretched result's groups, moved.
	groups []stretchGroup
	out    []int
}

// Remember has Find remember its last results (an anchored expression's
// only: another's walk reads the whole text). For a Regexp used on many
// texts that begin alike.
func (a *Regexp) Remember() {
	if a.anchored {
		a.results = &memo{}
	}
}

// recall returns the remembered result for text, if any, and how many
// bytes its walk read.
func (m *memo) recall(text string, budget int) ([]int, int, bool) {
	for i := range m.n {
		n := m.ends[i]
		if len(text) < n || text[n-1] != m.lasts[i] || m.entries[i].stretches {
			continue
		}
		e := &m.entries[i]
		if !startsWith(text, e.read) || e.steps > budget {
			continue
		}
		e.served = true
		if !e.found {
			return nil, n, true
		}
		return e.loc, n, true
	}
	return m.recallStretched(text, budget)
}

// keep remembers the result of a walk over text that read seen bytes
// and took steps, unless it read where the text ends (a text that
// begins alike and goes on may not agree).
func (m *memo) keep(text string, seen, steps int, loc []int, stretch span, stretches bool) {
	if seen > len(text) || seen == 0 {
		return
	}
	i := m.n
	if m.n < memoSize {
		m.n++
	} else {
		for m.entries[m.hand].served {
			m.entries[m.hand].served = false
			m.hand = (m.hand + 1) % memoSize
		}
		i, m.hand = m.hand, (m.hand+1)%memoSize
	}
	e := &m.entries[i]
	m.ends[i], m.lasts[i] = seen, text[seen-1]
	// The entry's arrays are reused: a line's text is not kept.
	e.read = append(e.read[:0], text[:seen]...)
	e.loc, e.found = append(e.loc[:0], loc...), loc != nil
	e.stretch, e.stretches = stretch, stretches
	m.index()
	e.steps, e.served = steps, false
}

// startsWith reports whether text (at least as long as b) starts with b,
// 8 bytes at a time: the runtime's compare is a call, which cost more
// than a header's few bytes.
func startsWith(text string, b []byte) bool {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if word(text[i:i+8]) != binary.LittleEndian.Uint64(b[i:]) {
			return false
		}
	}
	for ; i < len(b); i++ {
		if text[i] != b[i] {
			return false
		}
	}
	return true
}
