package daemon

import (
	"net/netip"

	"github.com/logjail/logjail/ingest"

	"github.com/logjail/logjail/state"
	"github.com/logjail/logjail/state/lru"
)

// recentLines remembers the last log lines of the most recently failing
// prefixes, so a ban carries the lines that led to it (ban events, the mail
// action's `lines`), each with its mark (its time and failregex, for
// `logjail explain`). Bounded twice: perKey lines per prefix and maxKeys
// prefixes, the least recently failing forgotten first, so a flood of
// addresses costs a fixed amount of memory.
//
// A flood adds a line for every failure of every attacker: the rings live
// in pages of slots allocated as they are first needed and reused after
// (an lru.Pool, as state.Window keeps the failure times), so remembering a
// line allocates nothing.
type recentLines struct {
	perKey int
	byKey  map[netip.Prefix]int32
	slots  [][]lineSlot       // pages of lru.PageSize slots
	lines  [][]string         // per page, perKey lines per slot
	marks  [][]state.LineMark // per page, the lines' marks
	// pool hands out the slots; its head is the most recently failing
	// prefix's, its tail the least's.
	pool lru.Pool
	// dirty holds the keys changed since the last changes call, so the
	// store keeps the lines across a restart; the value says whether the
	// store may hold a record of the key (a key added and taken between
	// two commits needs no deletion).
	dirty map[netip.Prefix]bool
}

type lineSlot struct {
	key netip.Prefix
	lru.Links
	n, oldest int32 // lines held; where the oldest is once the ring is full
	// stored is set once the key's lines were handed to the store.
	stored bool
	// dirty is set once the key is in recentLines.dirty: a flood's later
	// lines of a key skip the lookup until the next changes call.
	dirty bool
}

// maxRememberedLine bounds one remembered line.
const maxRememberedLine = 512

func newRecentLines(perKey, maxKeys int) *recentLines {
	return &recentLines{perKey: max(perKey, 1), byKey: map[netip.Prefix]int32{},
		dirty: map[netip.Prefix]bool{}, pool: lru.NewPool(max(maxKeys, 1))}
}

func (r *recentLines) slot(i int32) *lineSlot { return &r.slots[i>>lru.PageShift][i&lru.PageMask] }

// links returns slot i's place in the LRU list.
func (r *recentLines) links(i int32) *lru.Links { return &r.slot(i).Links }

// ring is slot i's lines (perKey long).
func (r *recentLines) ring(i int32) []string {
	off := int(i&lru.PageMask) * r.perKey
	return r.lines[i>>lru.PageShift][off : off+r.perKey]
}

// marksOf is slot i's marks (perKey long), beside ring(i).
func (r *recentLines) marksOf(i int32) []state.LineMark {
	off := int(i&lru.PageMask) * r.perKey
	return r.marks[i>>lru.PageShift][off : off+r.perKey]
}

// add remembers line for key, with its mark.
func (r *recentLines) add(key netip.Prefix, line string, m state.LineMark) {
	line = ingest.Clip(line, maxRememberedLine)
	i, ok := r.byKey[key]
	if !ok {
		i = r.alloc(key)
	} else {
		r.pool.MoveToFront(i, r.links)
	}
	s := r.slot(i)
	if !s.dirty {
		r.markDirty(key, s.stored)
		s.dirty = true
	}
	at := s.oldest
	if int(s.n) < r.perKey {
		at = s.n
		s.n++
	} else {
		s.oldest = (s.oldest + 1) % int32(r.perKey)
	}
	r.ring(i)[at], r.marksOf(i)[at] = line, m
}

// markDirty notes a change of key; whether the store may hold it is as
// of the last changes call.
func (r *recentLines) markDirty(key netip.Prefix, stored bool) {
	if _, ok := r.dirty[key]; !ok {
		r.dirty[key] = stored
	}
}

// alloc returns a slot for key, the least recently failing key's when
// all are taken.
func (r *recentLines) alloc(key netip.Prefix) int32 {
	i := r.pool.Get(r.links, r.grow, r.evict)
	// A key taken or evicted since the last commit may be in the store.
	stored := r.dirty[key]
	clear(r.ring(i))
	clear(r.marksOf(i))
	s := r.slot(i)
	s.key, s.n, s.oldest, s.stored, s.dirty = key, 0, 0, stored, false
	r.byKey[key] = i
	return i
}

// grow adds a page of n slots.
func (r *recentLines) grow(n int) {
	r.slots = append(r.slots, make([]lineSlot, n))
	r.lines = append(r.lines, make([]string, n*r.perKey))
	r.marks = append(r.marks, make([]state.LineMark, n*r.perKey))
}

// evict forgets slot i's key, whose slot is taken for another.
func (r *recentLines) evict(i int32) {
	gone := r.slot(i)
	if !gone.dirty { // a dirty slot's key is noted already
		r.markDirty(gone.key, gone.stored)
	}
	delete(r.byKey, gone.key)
}

// take returns key's lines and their marks, oldest first, and forgets
// them.
func (r *recentLines) take(key netip.Prefix) ([]string, []state.LineMark) {
	i, ok := r.byKey[key]
	if !ok {
		return nil, nil
	}
	lines, marks := r.ordered(i), r.orderedMarks(i)
	r.evict(i)
	r.pool.Put(i, r.links)
	clear(r.ring(i))
	clear(r.marksOf(i))
	return lines, marks
}

// peek returns key's lines and their marks, oldest first, keeping them.
func (r *recentLines) peek(key netip.Prefix) ([]string, []state.LineMark) {
	i, ok := r.byKey[key]
	if !ok {
		return nil, nil
	}
	return r.ordered(i), r.orderedMarks(i)
}

// ordered returns a copy of slot i's lines, oldest first.
func (r *recentLines) ordered(i int32) []string {
	return inOrder(r.ring(i), r.slot(i))
}

// orderedMarks returns a copy of slot i's marks, in the order of ordered.
func (r *recentLines) orderedMarks(i int32) []state.LineMark {
	return inOrder(r.marksOf(i), r.slot(i))
}

// inOrder copies a ring of s's, oldest first.
func inOrder[T any](ring []T, s *lineSlot) []T {
	ring = ring[:s.n]
	out := make([]T, 0, len(ring))
	return append(append(out, ring[s.oldest:]...), ring[:s.oldest]...)
}

// changes returns the keys changed since the last call with their lines
// now (nil for a key forgotten that the store may hold), for the store.
func (r *recentLines) changes() []state.LinesChange {
	if len(r.dirty) == 0 {
		return nil
	}
	out := make([]state.LinesChange, 0, len(r.dirty))
	for key, stored := range r.dirty {
		if i, ok := r.byKey[key]; ok {
			out = append(out, state.LinesChange{Prefix: key, Lines: r.ordered(i), Marks: r.orderedMarks(i)})
			r.slot(i).stored, r.slot(i).dirty = true, false
		} else if stored {
			out = append(out, state.LinesChange{Prefix: key})
		}
	}
	clear(r.dirty)
	return out
}

// load puts back stored lines (at start), within the bounds: the last
// perKey lines of each key, and no more than maxKeys keys. A key the bounds
// trimmed or dropped (a smaller maxretry since) is written back as it is
// kept now.
func (r *recentLines) load(stored []state.LinesChange) {
	for _, c := range stored {
		for j, l := range c.Lines {
			var m state.LineMark // unknown: stored by an older logjail
			if j < len(c.Marks) {
				m = c.Marks[j]
			}
			r.add(c.Prefix, l, m)
		}
	}
	clear(r.dirty)
	for _, i := range r.byKey {
		r.slot(i).dirty = false
	}
	for _, c := range stored {
		i, ok := r.byKey[c.Prefix]
		if ok {
			r.slot(i).stored = true
		}
		if !ok || int(r.slot(i).n) != len(c.Lines) {
			r.dirty[c.Prefix] = true
		}
	}
}
