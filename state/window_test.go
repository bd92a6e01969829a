package state

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/logjail/logjail/state/lru"
)

var t0 = time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)

func TestWindow(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.1")
	type add struct {
		at       time.Duration // after t0
		wantN    int
		wantFull bool
	}
	for _, tc := range []struct {
		name     string
		maxRetry int
		findTime time.Duration
		adds     []add
	}{
		{"trips at maxretry", 3, time.Minute, []add{{0, 1, false}, {10 * time.Second, 2, false}, {20 * time.Second, 3, true}}},
		{"old failures slide out", 3, time.Minute, []add{{0, 1, false}, {30 * time.Second, 2, false}, {90 * time.Second, 2, false}, {100 * time.Second, 2, false}, {110 * time.Second, 3, true}}},
		{"exactly findtime apart still counts", 2, time.Minute, []add{{0, 1, false}, {time.Minute, 2, true}}},
		{"just over findtime does not", 2, time.Minute, []add{{0, 1, false}, {time.Minute + time.Nanosecond, 1, false}}},
		{"out of order within window", 3, time.Minute, []add{{30 * time.Second, 1, false}, {0, 2, false}, {50 * time.Second, 3, true}}},
		{"out of order too old", 2, time.Minute, []add{{2 * time.Minute, 1, false}, {0, 1, false}}},
		{"starts over after trip", 2, time.Minute, []add{{0, 1, false}, {time.Second, 2, true}, {2 * time.Second, 1, false}}},
		{"maxretry 1 trips at once", 1, time.Minute, []add{{0, 1, true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWindow(tc.maxRetry, tc.findTime, 10)
			for i, ad := range tc.adds {
				n, full := w.Add(a, t0.Add(ad.at))
				if n != ad.wantN || full != ad.wantFull {
					t.Fatalf("add %d at +%s: got (%d, %v), want (%d, %v)", i, ad.at, n, full, ad.wantN, ad.wantFull)
				}
			}
		})
	}
}

func TestWindowCapEvictsStalest(t *testing.T) {
	w := NewWindow(5, time.Hour, 3)
	addrs := []netip.Addr{
		netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"),
		netip.MustParseAddr("192.0.2.3"), netip.MustParseAddr("2001:db8::4"),
	}
	w.Add(addrs[0], t0)
	w.Add(addrs[1], t0)
	w.Add(addrs[2], t0)
	w.Add(addrs[0], t0.Add(time.Second)) // addrs[1] is now the stalest
	w.Add(addrs[3], t0.Add(2*time.Second))
	if w.Len() != 3 {
		t.Fatalf("len %d, want 3", w.Len())
	}
	want := map[netip.Addr]int{addrs[0]: 2, addrs[1]: 0, addrs[2]: 1, addrs[3]: 1}
	for a, n := range want {
		if got := w.Count(a, t0.Add(3*time.Second)); got != n {
			t.Errorf("count %s = %d, want %d", a, got, n)
		}
	}
}

func TestWindowExpire(t *testing.T) {
	w := NewWindow(5, time.Minute, 10)
	old, fresh := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	w.Add(old, t0)
	w.Add(fresh, t0.Add(50*time.Second))
	w.Expire(t0.Add(90 * time.Second))
	if w.Len() != 1 || w.Count(fresh, t0.Add(90*time.Second)) != 1 {
		t.Fatalf("after expire: len %d", w.Len())
	}
	// A freed slot is reused.
	w.Add(netip.MustParseAddr("192.0.2.3"), t0.Add(91*time.Second))
	if w.allocated() != 2 {
		t.Errorf("slots %d, want 2 (reuse)", w.allocated())
	}
}

// Memory per tracked address is bounded: the arena holds maxRetry
// timestamps per slot and never more slots than the cap.
func TestWindowMemoryBounded(t *testing.T) {
	w := NewWindow(3, time.Hour, 1000)
	for i := range 50000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		w.Add(a, t0.Add(time.Duration(i)*time.Millisecond))
	}
	times := 0
	for _, p := range w.times {
		times += len(p)
	}
	if w.Len() != 1000 || w.allocated() != 1000 || times != 3000 {
		t.Fatalf("len %d slots %d times %d", w.Len(), w.allocated(), times)
	}
}

func BenchmarkWindowAdd(b *testing.B) {
	w := NewWindow(5, 10*time.Minute, 100000)
	addrs := make([]netip.Addr, 50000)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		w.Add(addrs[i%len(addrs)], t0.Add(time.Duration(i)*time.Millisecond))
	}
}

// The LRU order, eviction and the free list hold across page boundaries.
func TestWindowPagesAndReuse(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cap      int
		addrs    int
		wantLen  int
		wantKept int // the newest addresses keep their count
	}{
		{"under one page", 100, 50, 50, 50},
		{"cap inside the second page", lru.PageSize + 10, 3 * lru.PageSize, lru.PageSize + 10, lru.PageSize + 10},
		{"many pages", 4 * lru.PageSize, 5 * lru.PageSize, 4 * lru.PageSize, 4 * lru.PageSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWindow(3, time.Hour, tc.cap)
			addr := func(i int) netip.Addr {
				if i%2 == 0 {
					return netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
				}
				return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)})
			}
			for i := range tc.addrs {
				w.Add(addr(i), t0.Add(time.Duration(i)*time.Millisecond))
			}
			if w.Len() != tc.wantLen || w.allocated() > tc.cap {
				t.Fatalf("len %d allocated %d", w.Len(), w.allocated())
			}
			now := t0.Add(time.Minute)
			for i := tc.addrs - tc.wantKept; i < tc.addrs; i++ {
				if got := w.Count(addr(i), now); got != 1 {
					t.Fatalf("address %d: count %d, want 1", i, got)
				}
			}
			if tc.addrs > tc.wantKept {
				if got := w.Count(addr(tc.addrs-tc.wantKept-1), now); got != 0 {
					t.Fatalf("the stalest address was kept (count %d)", got)
				}
			}
			// Forget everything, then refill: every slot comes from the free list.
			for i := range tc.addrs {
				w.Forget(addr(i))
			}
			if w.Len() != 0 {
				t.Fatalf("len %d after forgetting all", w.Len())
			}
			before := w.allocated()
			for i := range tc.wantLen {
				w.Add(addr(i), now)
			}
			if w.allocated() != before || w.Len() != tc.wantLen {
				t.Fatalf("refill: allocated %d (was %d), len %d", w.allocated(), before, w.Len())
			}
		})
	}
}

// An IPv4 address and its IPv4-mapped IPv6 form are one key; distinct
// addresses of either family are distinct keys.
func TestWindowKeys(t *testing.T) {
	w := NewWindow(2, time.Hour, 10)
	w.Add(netip.MustParseAddr("192.0.2.1"), t0)
	if _, full := w.Add(netip.MustParseAddr("::ffff:192.0.2.1"), t0); !full {
		t.Error("mapped form counted apart")
	}
	w.Add(netip.MustParseAddr("192.0.2.2"), t0)
	if _, full := w.Add(netip.MustParseAddr("2001:db8::c000:202"), t0); full {
		t.Error("IPv6 address with the same low bits counted together with IPv4")
	}
}

// BenchmarkWindowMemory measures the heap held per tracked address: 1M
// distinct addresses, maxretry 5, one failure each (every address tracked).
//
//	go test -run '^$' -bench WindowMemory -benchtime 3x ./state/
func BenchmarkWindowMemory(b *testing.B) {
	const n = 1_000_000
	addrs := make([]netip.Addr, n)
	for i := range addrs {
		if i%2 == 0 {
			addrs[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		} else {
			addrs[i] = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
		}
	}
	var perAddr, total float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		w := NewWindow(5, 10*time.Minute, n)
		for i, a := range addrs {
			w.Add(a, t0.Add(time.Duration(i)*time.Microsecond))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if w.Len() != n {
			b.Fatalf("tracked %d, want %d", w.Len(), n)
		}
		held := float64(after.HeapAlloc) - float64(before.HeapAlloc)
		perAddr, total = held/n, held/(1<<20)
		runtime.KeepAlive(w)
	}
	b.ReportMetric(perAddr, "B/address")
	b.ReportMetric(total, "MiB/1M")
}

// TakeDirty reports what the store must change: the times of the keys
// changed, and a deletion only for a key the store may hold.
func TestWindowTakeDirty(t *testing.T) {
	a, b, c := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")
	take := func(w *Window) map[netip.Addr]int {
		got := map[netip.Addr]int{}
		w.TakeDirty(func(k [16]byte, times []int64) {
			n := len(times)
			if times == nil {
				n = -1
			}
			got[netip.AddrFrom16(k).Unmap()] = n
		})
		return got
	}
	for _, tc := range []struct {
		name string
		run  func(w *Window) map[netip.Addr]int
		want map[netip.Addr]int
	}{
		{"opened and banned between two commits", func(w *Window) map[netip.Addr]int {
			w.Add(a, t0)
			w.Add(a, t0)
			w.Add(a, t0) // full: forgotten
			return take(w)
		}, map[netip.Addr]int{}},
		{"stored, then banned", func(w *Window) map[netip.Addr]int {
			w.Add(a, t0)
			take(w)
			w.Add(a, t0)
			w.Add(a, t0)
			return take(w)
		}, map[netip.Addr]int{a: -1}},
		{"stored, forgotten, back and forgotten again", func(w *Window) map[netip.Addr]int {
			w.Add(a, t0)
			take(w)
			w.Forget(a)
			w.Add(a, t0)
			w.Forget(a)
			return take(w)
		}, map[netip.Addr]int{a: -1}},
		{"changed", func(w *Window) map[netip.Addr]int {
			w.Add(a, t0)
			take(w)
			w.Add(a, t0)
			w.Add(b, t0)
			return take(w)
		}, map[netip.Addr]int{a: 2, b: 1}},
		{"evicted: stored and not", func(w *Window) map[netip.Addr]int {
			w.Add(a, t0)
			take(w)
			w.Add(b, t0)
			w.Add(c, t0) // evicts a
			w.Add(a, t0) // evicts b
			w.Add(c, t0) // evicts nothing: c is tracked
			w.Add(b, t0) // evicts a, stored
			return take(w)
		}, map[netip.Addr]int{a: -1, b: 1, c: 2}},
		{"loaded, then forgotten", func(w *Window) map[netip.Addr]int {
			w.Load(a.As16(), []int64{t0.UnixNano()})
			w.Forget(a)
			return take(w)
		}, map[netip.Addr]int{a: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.run(NewWindow(3, time.Hour, 2))
			if len(got) != len(tc.want) {
				t.Fatalf("changes %v, want %v", got, tc.want)
			}
			for k, n := range tc.want {
				if got[k] != n {
					t.Errorf("changes %v, want %v", got, tc.want)
				}
			}
		})
	}
}
