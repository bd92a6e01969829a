package lru

import (
	"slices"
	"testing"
)

func TestList(t *testing.T) {
	links := make([]Links, 5)
	at := func(i int32) *Links { return &links[i] }
	order := func(l *List) (fwd, back []int32) {
		for i := l.Head; i != None; i = links[i].Next {
			fwd = append(fwd, i)
		}
		for i := l.Tail; i != None; i = links[i].Prev {
			back = append(back, i)
		}
		return fwd, back
	}
	for _, tc := range []struct {
		name string
		ops  func(l *List)
		want []int32 // most recent first
	}{
		{"empty", func(*List) {}, nil},
		{"pushed", func(l *List) {
			for i := range int32(4) {
				l.PushFront(i, at)
			}
		}, []int32{3, 2, 1, 0}},
		{"head, middle and tail unlinked", func(l *List) {
			for i := range int32(5) {
				l.PushFront(i, at)
			}
			l.Unlink(4, at)
			l.Unlink(2, at)
			l.Unlink(0, at)
		}, []int32{3, 1}},
		{"used again", func(l *List) {
			for i := range int32(3) {
				l.PushFront(i, at)
			}
			l.Unlink(0, at)
			l.PushFront(0, at)
		}, []int32{0, 2, 1}},
		{"all unlinked", func(l *List) {
			l.PushFront(1, at)
			l.Unlink(1, at)
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range links {
				links[i] = Unlinked
			}
			l := New()
			tc.ops(&l)
			fwd, back := order(&l)
			slices.Reverse(back)
			if !slices.Equal(fwd, tc.want) || !slices.Equal(back, tc.want) {
				t.Errorf("head to tail %v, tail to head (reversed) %v; want %v", fwd, back, tc.want)
			}
		})
	}
}

// A pool reuses freed slots first, grows a page at a time up to Max,
// then takes the least recently used slot.
func TestPool(t *testing.T) {
	var links []Links
	at := func(i int32) *Links { return &links[i] }
	var grown []int
	grow := func(n int) {
		grown = append(grown, n)
		links = append(links, make([]Links, n)...)
	}
	var evicted []int32
	evict := func(i int32) { evicted = append(evicted, i) }
	p := NewPool(PageSize + 2)
	for range PageSize + 2 {
		p.Get(at, grow, evict)
	}
	if !slices.Equal(grown, []int{PageSize, 2}) || len(evicted) != 0 || p.Allocated() != PageSize+2 {
		t.Fatalf("grown %v, evicted %v, allocated %d", grown, evicted, p.Allocated())
	}
	p.Put(7, at)
	p.Put(3, at)
	if i := p.Get(at, grow, evict); i != 3 {
		t.Errorf("got slot %d, want 3, the last freed", i)
	}
	if i := p.Get(at, grow, evict); i != 7 {
		t.Errorf("got slot %d, want 7", i)
	}
	p.MoveToFront(0, at) // 1 is now the least recently used
	if i := p.Get(at, grow, evict); i != 1 || !slices.Equal(evicted, []int32{1}) || p.Head != 1 {
		t.Errorf("got slot %d (head %d), evicted %v; want 1, the least recently used", i, p.Head, evicted)
	}
	if len(grown) != 2 {
		t.Errorf("grew again past Max: %v", grown)
	}
}
