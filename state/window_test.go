package state

import (
	"net/netip"
	"testing"
	"time"
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
	if len(w.slots) != 2 {
		t.Errorf("slots %d, want 2 (reuse)", len(w.slots))
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
	if w.Len() != 1000 || len(w.slots) != 1000 || len(w.times) != 3000 {
		t.Fatalf("len %d slots %d times %d", w.Len(), len(w.slots), len(w.times))
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
