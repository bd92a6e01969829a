package state

import (
	"net/netip"
	"testing"
)

// Prefixes that differ only in family, length or spelling (IPv4-mapped)
// are distinct keys of a prefixIndex, as they are of a map keyed by
// netip.Prefix.
func TestPrefixIndexKeys(t *testing.T) {
	ps := []netip.Prefix{
		netip.MustParsePrefix("192.0.2.7/32"),
		netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("192.0.2.0/32"),
		netip.MustParsePrefix("0.0.0.0/0"),
		netip.MustParsePrefix("::ffff:192.0.2.7/128"),
		netip.MustParsePrefix("::/0"),
		netip.MustParsePrefix("2001:db8::/64"),
		netip.MustParsePrefix("2001:db8::/128"),
		netip.PrefixFrom(netip.MustParseAddr("192.0.2.7"), 33), // invalid
		{},
	}
	x := newPrefixIndex()
	for i, p := range ps {
		x.set(p, int32(i))
	}
	if x.len() != len(ps) {
		t.Fatalf("%d keys, want %d", x.len(), len(ps))
	}
	for i, p := range ps {
		if got, ok := x.get(p); !ok || got != int32(i) {
			t.Errorf("get(%v) = %d, %v; want %d", p, got, ok, i)
		}
	}
	for i, p := range ps {
		x.remove(p)
		if _, ok := x.get(p); ok {
			t.Errorf("%v still there after its removal", p)
		}
		for _, q := range ps[i+1:] {
			if _, ok := x.get(q); !ok {
				t.Errorf("removing %v removed %v", p, q)
			}
		}
	}
	if x.len() != 0 {
		t.Errorf("%d keys left", x.len())
	}
}

// A prefixIndex answers right through the bitset's growth and its
// rebuilds after removals, for either family.
func TestPrefixIndexGrowsAndForgets(t *testing.T) {
	const n = 40_000
	prefix := func(i int) netip.Prefix {
		if i%4 == 3 {
			return netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i), 14: byte(i >> 8), 13: byte(i >> 16)}), 128)
		}
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)
	}
	x := newPrefixIndex()
	for i := range n {
		x.set(prefix(i), int32(i))
	}
	for round := range 3 {
		for i := round; i < n; i += 3 {
			x.remove(prefix(i))
		}
		for i := range n {
			_, ok := x.get(prefix(i))
			if want := i%3 > round; ok != want {
				t.Fatalf("round %d: get(%v) found %v, want %v", round, prefix(i), ok, want)
			}
		}
	}
	if x.len() != 0 {
		t.Fatalf("%d keys left", x.len())
	}
	for i := range n {
		x.set(prefix(i), int32(i))
	}
	for i := range n {
		if got, ok := x.get(prefix(i)); !ok || got != int32(i) {
			t.Fatalf("get(%v) = %d, %v after setting them again", prefix(i), got, ok)
		}
	}
}
