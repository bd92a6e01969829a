// Package lru keeps elements stored by index (in slices or pages of them)
// in most-recently-used order, without a pointer or an allocation per
// element: each element holds its Links, the list only its ends. The
// failure windows (state.Window) and the daemon's remembered failure lines
// keep a flood's attackers this way.
package lru

// None is the index of no element.
const None int32 = -1

// Links are an element's neighbours in a List; the zero value is not in a
// list (use Unlinked).
type Links struct {
	Prev, Next int32
}

// Unlinked is the Links of an element in no list.
var Unlinked = Links{Prev: None, Next: None}

// List orders elements from the most recently used (Head) to the least
// (Tail). Its methods are given the element's index and at, which returns
// the Links of an element by index.
type List struct {
	Head, Tail int32
}

// New returns an empty list.
func New() List { return List{Head: None, Tail: None} }

// PushFront makes element i, which is in no list, the most recently used.
func (l *List) PushFront(i int32, at func(int32) *Links) {
	s := at(i)
	s.Prev, s.Next = None, l.Head
	if l.Head != None {
		at(l.Head).Prev = i
	}
	l.Head = i
	if l.Tail == None {
		l.Tail = i
	}
}

// MoveToFront makes element i, which is in the list, the most recently
// used.
func (l *List) MoveToFront(i int32, at func(int32) *Links) {
	if l.Head != i {
		l.Unlink(i, at)
		l.PushFront(i, at)
	}
}

// Unlink takes element i out of the list.
func (l *List) Unlink(i int32, at func(int32) *Links) {
	s := at(i)
	if s.Prev != None {
		at(s.Prev).Next = s.Next
	} else if l.Head == i {
		l.Head = s.Next
	}
	if s.Next != None {
		at(s.Next).Prev = s.Prev
	} else if l.Tail == i {
		l.Tail = s.Prev
	}
	*s = Unlinked
}

// Pages of slots: a Pool's slots are allocated PageSize at a time, so
// growing copies nothing; slot i is element i&PageMask of page
// i>>PageShift.
const (
	PageShift       = 9
	PageSize        = 1 << PageShift
	PageMask  int32 = PageSize - 1
)

// Pool hands out at most Max slots by index and keeps those in use in a
// List (most recently used first); freed slots are reused first, linked
// through their Links.Next.
type Pool struct {
	List
	Max  int
	free int32
	used int32 // slots handed out so far, free ones included
}

// NewPool returns an empty pool of at most max slots.
func NewPool(max int) Pool { return Pool{List: New(), Max: max, free: None} }

// Get returns a slot to use, linked as the most recently used: a freed
// one, else a new one (grow is called first when it starts a new page,
// with the page's length: shorter when Max ends inside it), else the
// least recently used one, which evict is called with first (it is
// unlinked after).
func (p *Pool) Get(at func(int32) *Links, grow func(n int), evict func(i int32)) int32 {
	var i int32
	switch {
	case p.free != None:
		i = p.free
		p.free = at(i).Next
	case int(p.used) < p.Max:
		i = p.used
		if i&PageMask == 0 {
			grow(min(PageSize, p.Max-int(i)))
		}
		p.used++
	default:
		i = p.Tail
		evict(i)
		p.Unlink(i, at)
	}
	*at(i) = Unlinked
	p.PushFront(i, at)
	return i
}

// Put frees slot i, which is in the list.
func (p *Pool) Put(i int32, at func(int32) *Links) {
	p.Unlink(i, at)
	at(i).Next = p.free
	p.free = i
}

// Allocated is the number of slots whose memory is held (in use or free).
func (p *Pool) Allocated() int { return int(p.used) }
