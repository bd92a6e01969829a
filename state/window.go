package state

import (
	"net/netip"
	"slices"
	"time"
)

// Window counts failures per address in a sliding window by the log's own
// time. Memory is bounded twice over: each address keeps at most maxRetry
// timestamps (in one arena shared by all addresses, so tracking an address
// allocates nothing once the arena has grown), and at most maxTracked
// addresses are tracked; past that the stalest address (least recently
// seen) is forgotten. A Window is owned by one goroutine and never reads
// the clock: times are arguments.
type Window struct {
	maxRetry int
	findTime int64 // nanoseconds
	maxSlots int

	index map[netip.Addr]int32
	slots []slot
	times []int64 // maxRetry timestamps per slot, sorted ascending within the first n
	free  []int32
	// LRU list of slots: head is the most recently updated, tail the stalest.
	head, tail int32
}

type slot struct {
	addr       netip.Addr
	prev, next int32
	n          int32 // timestamps in use
}

const none = -1

// NewWindow returns a window that trips at maxRetry failures within
// findTime, tracking at most maxTracked addresses.
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
		maxSlots: maxTracked,
		index:    map[netip.Addr]int32{},
		head:     none,
		tail:     none,
	}
}

// Add records a failure of addr at t. It returns the number of failures of
// addr within findTime of each other, and whether that reached maxRetry;
// when it did, the address is forgotten (its count starts over).
func (w *Window) Add(addr netip.Addr, t time.Time) (count int, full bool) {
	ts := t.UnixNano()
	i, ok := w.index[addr]
	if !ok {
		i = w.alloc(addr)
	} else {
		w.unlink(i)
	}
	w.pushFront(i)
	s := &w.slots[i]
	times := w.times[int(i)*w.maxRetry : int(i+1)*w.maxRetry]
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
	if i, ok := w.index[addr]; ok {
		w.remove(i)
	}
}

// Count returns addr's failures within findTime before now.
func (w *Window) Count(addr netip.Addr, now time.Time) int {
	i, ok := w.index[addr]
	if !ok {
		return 0
	}
	return w.live(i, now.UnixNano())
}

func (w *Window) live(i int32, now int64) int {
	times := w.times[int(i)*w.maxRetry : int(i)*w.maxRetry+int(w.slots[i].n)]
	c := 0
	for _, ts := range times {
		if now-ts <= w.findTime {
			c++
		}
	}
	return c
}

// Len is the number of tracked addresses.
func (w *Window) Len() int { return len(w.index) }

// Expire forgets the addresses whose newest failure is older than findTime
// at now, so "currently failed" means what it says.
func (w *Window) Expire(now time.Time) {
	ns := now.UnixNano()
	for i := w.tail; i != none; {
		prev := w.slots[i].prev
		if w.live(i, ns) == 0 {
			w.remove(i)
		}
		i = prev
	}
}

func (w *Window) alloc(addr netip.Addr) int32 {
	var i int32
	switch {
	case len(w.free) > 0:
		i = w.free[len(w.free)-1]
		w.free = w.free[:len(w.free)-1]
	case len(w.slots) < w.maxSlots:
		i = int32(len(w.slots))
		w.slots = append(w.slots, slot{})
		w.times = append(w.times, make([]int64, w.maxRetry)...)
	default:
		// Full: reuse the stalest address's slot.
		i = w.tail
		delete(w.index, w.slots[i].addr)
		w.unlink(i)
	}
	w.slots[i] = slot{addr: addr, prev: none, next: none}
	w.index[addr] = i
	return i
}

func (w *Window) remove(i int32) {
	w.unlink(i)
	delete(w.index, w.slots[i].addr)
	w.slots[i] = slot{prev: none, next: none}
	w.free = append(w.free, i)
}

func (w *Window) pushFront(i int32) {
	s := &w.slots[i]
	s.prev, s.next = none, w.head
	if w.head != none {
		w.slots[w.head].prev = i
	}
	w.head = i
	if w.tail == none {
		w.tail = i
	}
}

func (w *Window) unlink(i int32) {
	s := &w.slots[i]
	if s.prev != none {
		w.slots[s.prev].next = s.next
	} else if w.head == i {
		w.head = s.next
	}
	if s.next != none {
		w.slots[s.next].prev = s.prev
	} else if w.tail == i {
		w.tail = s.prev
	}
	s.prev, s.next = none, none
}
