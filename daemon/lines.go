package daemon

import (
	"container/list"
	"net/netip"

	"github.com/logjail/logjail/ingest"

	"github.com/logjail/logjail/state"
)

// recentLines remembers the last log lines of the most recently failing
// prefixes, so a ban carries the lines that led to it (ban events, the mail
// action's `lines`). Bounded twice: perKey lines per prefix and maxKeys
// prefixes, the least recently failing forgotten first, so a flood of
// addresses costs a fixed amount of memory.
type recentLines struct {
	perKey, maxKeys int
	byKey           map[netip.Prefix]*list.Element
	lru             list.List // of *lineRing, most recent at the front
	// dirty holds the keys changed since the last changes call, so the
	// store keeps the lines across a restart.
	dirty map[netip.Prefix]struct{}
}

type lineRing struct {
	key   netip.Prefix
	lines []string
	next  int
}

// maxRememberedLine bounds one remembered line.
const maxRememberedLine = 512

func newRecentLines(perKey, maxKeys int) *recentLines {
	return &recentLines{perKey: perKey, maxKeys: maxKeys, byKey: map[netip.Prefix]*list.Element{}, dirty: map[netip.Prefix]struct{}{}}
}

// add remembers line for key.
func (r *recentLines) add(key netip.Prefix, line string) {
	line = ingest.Clip(line, maxRememberedLine)
	r.dirty[key] = struct{}{}
	el, ok := r.byKey[key]
	if !ok {
		if r.lru.Len() >= r.maxKeys {
			old := r.lru.Back()
			gone := old.Value.(*lineRing).key
			delete(r.byKey, gone)
			r.dirty[gone] = struct{}{}
			r.lru.Remove(old)
		}
		el = r.lru.PushFront(&lineRing{key: key})
		r.byKey[key] = el
	} else {
		r.lru.MoveToFront(el)
	}
	ring := el.Value.(*lineRing)
	if len(ring.lines) < r.perKey {
		ring.lines = append(ring.lines, line)
		return
	}
	ring.lines[ring.next] = line
	ring.next = (ring.next + 1) % r.perKey
}

// take returns key's lines, oldest first, and forgets them.
func (r *recentLines) take(key netip.Prefix) []string {
	el, ok := r.byKey[key]
	if !ok {
		return nil
	}
	delete(r.byKey, key)
	r.dirty[key] = struct{}{}
	r.lru.Remove(el)
	return el.Value.(*lineRing).ordered()
}

// ordered returns a copy of the ring's lines, oldest first.
func (ring *lineRing) ordered() []string {
	out := make([]string, 0, len(ring.lines))
	return append(append(out, ring.lines[ring.next:]...), ring.lines[:ring.next]...)
}

// changes returns the keys changed since the last call with their lines
// now (nil for a key forgotten), for the store.
func (r *recentLines) changes() []state.LinesChange {
	if len(r.dirty) == 0 {
		return nil
	}
	out := make([]state.LinesChange, 0, len(r.dirty))
	for key := range r.dirty {
		c := state.LinesChange{Prefix: key}
		if el, ok := r.byKey[key]; ok {
			c.Lines = el.Value.(*lineRing).ordered()
		}
		out = append(out, c)
	}
	clear(r.dirty)
	return out
}

// load puts back stored lines (at start), within the bounds: the last
// perKey lines of each key, and no more than maxKeys keys. A key the bounds
// trimmed (a smaller maxretry since) is written back as it is kept now.
func (r *recentLines) load(stored []state.LinesChange) {
	for _, c := range stored {
		for _, l := range c.Lines {
			r.add(c.Prefix, l)
		}
	}
	clear(r.dirty)
	for _, c := range stored {
		if el, ok := r.byKey[c.Prefix]; !ok || len(el.Value.(*lineRing).lines) != len(c.Lines) {
			r.dirty[c.Prefix] = struct{}{}
		}
	}
}
