package state

import (
	"net/netip"
	"slices"
	"time"

	"github.com/logjail/logjail/state/lru"
)

// Window counts failures per key (an address, or the masked address of the
// prefix failures are counted by) in a sliding window by the log's own time.
// Memory is bounded twice over: each key keeps at most maxRetry timestamps,
// and at most maxTracked keys are tracked; past that the stalest key (least
// recently seen) is forgotten. A Window is owned by one goroutine and never
// reads the clock: times are arguments.
//
// Layout, for a small and predictable footprint (about 100 bytes per key at
// maxretry 5, see BenchmarkWindowMemory): keys are 16-byte arrays (IPv4 as
// IPv4-mapped IPv6), so the index holds no pointers for the garbage collector
// to scan; slots and timestamps live in fixed-size pages allocated as the
// window grows, so growing copies nothing and leaves no spare capacity; a
// freed slot is reused (an lru.Pool).
type Window struct {
	maxRetry int
	findTime int64 // nanoseconds

	index map[[16]byte]int32
	slots [][]slot  // pages of at most lru.PageSize slots
	times [][]int64 // per page, maxRetry timestamps per slot, sorted ascending within the first n
	// pool hands out the slots and orders those in use: its head is the
	// most recently updated, its tail the stalest.
	pool lru.Pool
	// dirty holds the keys changed since the last TakeDirty, so a commit
	// writes only what changed; the value says whether the store may hold
	// the key (a flood's window opened and closed by a ban between two
	// commits needs no deletion).
	dirty map[[16]byte]bool
}

type slot struct {
	key [16]byte
	lru.Links
	n int32 // timestamps in use
	// stored is set once the key's times were handed to the store.
	stored bool
	// dirty is set once the key is in Window.dirty: a flood's later
	// failures of a key skip the lookup until the next TakeDirty.
	dirty bool
}

const none = lru.None

// NewWindow returns a window that trips at maxRetry failures within
// findTime, tracking at most maxTracked keys.
func NewWindow(maxRetry int, findTime time.Duration, maxTracked int) *Window {
	if maxRetry < 1 {
		maxRetry = 1
	}
	if maxTracked < 1 {
		maxTracked = 1
	}
	return &Window{
		maxRetry: maxRetry,
		findTime: int64(findTime),
		index:    map[[16]byte]int32{},
		dirty:    map[[16]byte]bool{},
		pool:     lru.NewPool(maxTracked),
	}
}

func (w *Window) slot(i int32) *slot { return &w.slots[i>>lru.PageShift][i&lru.PageMask] }

// links returns slot i's place in the LRU list.
func (w *Window) links(i int32) *lru.Links { return &w.slot(i).Links }

// stamps returns slot i's timestamp area (maxRetry long).
func (w *Window) stamps(i int32) []int64 {
	off := int(i&lru.PageMask) * w.maxRetry
	return w.times[i>>lru.PageShift][off : off+w.maxRetry]
}

// Add records a failure of addr at t. It returns the number of failures of
// addr within findTime of each other, and whether that reached maxRetry;
// when it did, the address is forgotten (its count starts over).
func (w *Window) Add(addr netip.Addr, t time.Time) (count int, full bool) {
	ts := t.UnixNano()
	k := addr.As16()
	i, ok := w.index[k]
	if !ok {
		i = w.alloc(k)
	} else {
		w.pool.MoveToFront(i, w.links)
	}
	s := w.slot(i)
	if !s.dirty {
		w.markDirty(k, s.stored)
		s.dirty = true
	}
	times := w.stamps(i)
	// Insert in order: logs of several files or a remote appliance may
	// arrive slightly out of order.
	n := int(s.n)
	if n == w.maxRetry {
		if ts <= times[0] {
			return n, false // older than all we keep: cannot complete a window we do not already have
		}
		copy(times, times[1:n])
		n--
	}
	pos, _ := slices.BinarySearch(times[:n], ts)
	copy(times[pos+1:n+1], times[pos:n])
	times[pos] = ts
	n++
	// Keep only failures within findTime of the newest.
	newest := times[n-1]
	drop := 0
	for drop < n && newest-times[drop] > w.findTime {
		drop++
	}
	if drop > 0 {
		copy(times, times[drop:n])
		n -= drop
	}
	s.n = int32(n)
	if n >= w.maxRetry {
		w.remove(i)
		return n, true
	}
	return n, false
}

// Forget drops addr's failures.
func (w *Window) Forget(addr netip.Addr) {
	if i, ok := w.index[addr.As16()]; ok {
		w.remove(i)
	}
}

// Count returns addr's failures within findTime before now.
func (w *Window) Count(addr netip.Addr, now time.Time) int {
	i, ok := w.index[addr.As16()]
	if !ok {
		return 0
	}
	return w.live(i, now.UnixNano())
}

func (w *Window) live(i int32, now int64) int {
	c := 0
	for _, ts := range w.stamps(i)[:w.slot(i).n] {
		if now-ts <= w.findTime {
			c++
		}
	}
	return c
}

// Len is the number of tracked keys.
func (w *Window) Len() int { return len(w.index) }

// allocated is the number of slots whose memory is held (tracked or free).
func (w *Window) allocated() int { return w.pool.Allocated() }

// Expire forgets the keys whose newest failure is older than findTime at
// now, so "currently failed" means what it says.
func (w *Window) Expire(now time.Time) {
	ns := now.UnixNano()
	for i := w.pool.Tail; i != none; {
		prev := w.slot(i).Prev
		if w.live(i, ns) == 0 {
			w.remove(i)
		}
		i = prev
	}
}

// alloc returns a slot for k, the stalest key's when the window is full.
func (w *Window) alloc(k [16]byte) int32 {
	i := w.pool.Get(w.links, w.grow, w.evict)
	s := w.slot(i)
	// A key forgotten since the last TakeDirty may be in the store.
	s.key, s.n, s.stored, s.dirty = k, 0, w.dirty[k], false
	w.index[k] = i
	return i
}

// grow adds a page of n slots.
func (w *Window) grow(n int) {
	w.slots = append(w.slots, make([]slot, n))
	w.times = append(w.times, make([]int64, n*w.maxRetry))
}

// evict forgets slot i's key, whose slot is taken for another.
func (w *Window) evict(i int32) {
	if s := w.slot(i); !s.dirty { // a dirty slot's key is noted already
		w.markDirty(s.key, s.stored)
	}
	delete(w.index, w.slot(i).key)
}

func (w *Window) remove(i int32) {
	w.evict(i)
	w.pool.Put(i, w.links)
	s := w.slot(i)
	s.key, s.n, s.stored, s.dirty = [16]byte{}, 0, false, false
}

// markDirty notes a change of k; whether the store may hold it is as of
// the last TakeDirty.
func (w *Window) markDirty(k [16]byte, stored bool) {
	if _, ok := w.dirty[k]; !ok {
		w.dirty[k] = stored
	}
}

// TakeDirty calls fn for every key changed since the last call, with its
// timestamps (nil when the key is no longer tracked and the store may hold
// it), and forgets the changes: what a commit must write.
func (w *Window) TakeDirty(fn func(key [16]byte, times []int64)) {
	for k, stored := range w.dirty {
		if i, ok := w.index[k]; ok {
			fn(k, slices.Clone(w.stamps(i)[:w.slot(i).n]))
			w.slot(i).stored, w.slot(i).dirty = true, false
		} else if stored {
			fn(k, nil)
		}
	}
	clear(w.dirty)
}

// Load puts back a key's timestamps as a commit stored them (at start).
// The newest maxRetry are kept, in order.
func (w *Window) Load(key [16]byte, times []int64) {
	if len(times) == 0 {
		return
	}
	times = slices.Clone(times)
	slices.Sort(times)
	if len(times) >= w.maxRetry {
		times = times[len(times)-w.maxRetry+1:] // a full window would have banned
	}
	i, ok := w.index[key]
	if !ok {
		i = w.alloc(key)
	} else {
		w.pool.MoveToFront(i, w.links)
	}
	n := copy(w.stamps(i), times)
	w.slot(i).n = int32(n)
	w.slot(i).stored = true
}

// Each calls fn for every tracked key with its number of failures within
// findTime before now.
func (w *Window) Each(now time.Time, fn func(key [16]byte, count int)) {
	ns := now.UnixNano()
	for k, i := range w.index {
		fn(k, w.live(i, ns))
	}
}
