package state

import (
	"net/netip"
	"slices"

	"github.com/logjail/logjail/state/lru"
)

// activeBans holds a tracker's active bans in pages of lru.PageSize, found
// by prefix through an index, so that a snapshot of all of them (the
// control socket's `status PIPELINE` and `banned`, a flood's hundreds of
// thousands) costs the tracker's goroutine a copy of the page list, not
// of the bans: a page a snapshot holds is never written again; the next
// write to it copies it first (copy on write).
type activeBans struct {
	index prefixIndex
	pages []*banPage
	free  []int32 // slots freed, reused first
	used  int32   // slots handed out so far, free ones included
}

// banPage is a page of bans; a slot not in use holds the zero Decision
// (an invalid prefix).
type banPage struct {
	ds [lru.PageSize]Decision
	// shared is set once a snapshot holds the page: it is read-only from
	// then on.
	shared bool
}

func newActiveBans() activeBans { return activeBans{index: newPrefixIndex()} }

func (a *activeBans) len() int { return a.index.len() }

// get returns p's ban.
func (a *activeBans) get(p netip.Prefix) (Decision, bool) {
	i, ok := a.index.get(p)
	if !ok {
		return Decision{}, false
	}
	return a.pages[i>>lru.PageShift].ds[i&lru.PageMask], true
}

func (a *activeBans) has(p netip.Prefix) bool {
	_, ok := a.index.get(p)
	return ok
}

// put stores d, replacing the ban of its prefix.
func (a *activeBans) put(d Decision) {
	i, ok := a.index.get(d.Prefix)
	if !ok {
		i = a.alloc()
		a.index.set(d.Prefix, i)
	}
	*a.writable(i) = d
}

// remove forgets p's ban.
func (a *activeBans) remove(p netip.Prefix) {
	i, ok := a.index.get(p)
	if !ok {
		return
	}
	a.index.remove(p)
	*a.writable(i) = Decision{}
	a.free = append(a.free, i)
}

func (a *activeBans) alloc() int32 {
	if n := len(a.free); n > 0 {
		i := a.free[n-1]
		a.free = a.free[:n-1]
		return i
	}
	i := a.used
	if i&lru.PageMask == 0 {
		a.pages = append(a.pages, &banPage{})
	}
	a.used++
	return i
}

// writable returns slot i, copying its page first when a snapshot holds it.
func (a *activeBans) writable(i int32) *Decision {
	pg := a.pages[i>>lru.PageShift]
	if pg.shared {
		cp := &banPage{ds: pg.ds}
		a.pages[i>>lru.PageShift] = cp
		pg = cp
	}
	return &pg.ds[i&lru.PageMask]
}

// each calls fn for every ban, in no order; fn may remove the ban it is
// given (and no other).
func (a *activeBans) each(fn func(d Decision)) {
	for p := range a.pages {
		for j := range lru.PageSize {
			if d := a.pages[p].ds[j]; d.Prefix.IsValid() {
				fn(d)
			}
		}
	}
}

// snapshot returns the bans as they are now, to read on any goroutine.
func (a *activeBans) snapshot() Bans {
	for _, pg := range a.pages {
		pg.shared = true
	}
	return Bans{pages: slices.Clone(a.pages), n: a.index.len()}
}

// Bans are a tracker's active bans at one moment (see Tracker.Snapshot):
// they do not change, and may be read on any goroutine.
type Bans struct {
	pages []*banPage
	n     int
}

// Len is the number of bans.
func (b Bans) Len() int { return b.n }

// Sorted returns the bans ordered by prefix (as SortByPrefix orders
// them). Small keys are sorted, not the decisions, which hold pointers:
// for 100,000 bans that takes a fraction of the time.
func (b Bans) Sorted() []*Decision {
	type key struct {
		p netip.Prefix
		d *Decision
	}
	keys := make([]key, 0, b.n)
	for _, pg := range b.pages {
		for j := range pg.ds {
			if d := &pg.ds[j]; d.Prefix.IsValid() {
				keys = append(keys, key{d.Prefix, d})
			}
		}
	}
	slices.SortFunc(keys, func(a, b key) int { return comparePrefixes(a.p, b.p) })
	out := make([]*Decision, len(keys))
	for i, k := range keys {
		out[i] = k.d
	}
	return out
}

// comparePrefixes orders prefixes by address, the shorter prefix first.
func comparePrefixes(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}
