package daemon

import (
	"container/list"
	"net/netip"
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
}

type lineRing struct {
	key   netip.Prefix
	lines []string
	next  int
}

// maxRememberedLine bounds one remembered line.
const maxRememberedLine = 512

func newRecentLines(perKey, maxKeys int) *recentLines {
	return &recentLines{perKey: perKey, maxKeys: maxKeys, byKey: map[netip.Prefix]*list.Element{}}
}

// add remembers line for key.
func (r *recentLines) add(key netip.Prefix, line string) {
	line = truncate(line, maxRememberedLine)
	el, ok := r.byKey[key]
	if !ok {
		if r.lru.Len() >= r.maxKeys {
			old := r.lru.Back()
			delete(r.byKey, old.Value.(*lineRing).key)
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
	r.lru.Remove(el)
	ring := el.Value.(*lineRing)
	return append(ring.lines[ring.next:], ring.lines[:ring.next]...)
}
