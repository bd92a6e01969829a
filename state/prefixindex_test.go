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
