package daemon

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/logjail/logjail/state"
)

func TestRecentLines(t *testing.T) {
	p := func(i int) netip.Prefix { return netip.MustParsePrefix(fmt.Sprintf("192.0.2.%d/32", i)) }
	r := newRecentLines(3, 2)
	for i := range 5 {
		r.add(p(1), fmt.Sprint("a", i))
	}
	r.add(p(2), "b0")
	if got := r.take(p(1)); !slices.Equal(got, []string{"a2", "a3", "a4"}) {
		t.Errorf("take(1) = %v, want the last 3 lines oldest first", got)
	}
	if got := r.take(p(1)); got != nil {
		t.Errorf("second take = %v, want nothing", got)
	}
	r.add(p(3), "c0")
	r.add(p(4), "d0") // evicts 2, the least recently failing
	if got := r.take(p(2)); got != nil {
		t.Errorf("evicted key kept %v", got)
	}
	if got := r.take(p(3)); !slices.Equal(got, []string{"c0"}) {
		t.Errorf("take(3) = %v", got)
	}
	long := string(make([]byte, 5000))
	r.add(p(5), long)
	if got := r.take(p(5)); len(got[0]) != maxRememberedLine {
		t.Errorf("line of %d bytes kept", len(got[0]))
	}
}

// Loaded lines keep the bounds; what the bounds trimmed or dropped is
// written back at the next commit, what they kept whole is not.
func TestRecentLinesLoad(t *testing.T) {
	a, b, c := netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("192.0.2.2/32"), netip.MustParsePrefix("192.0.2.3/32")
	r := newRecentLines(2, 2)
	r.load([]state.LinesChange{{Prefix: a, Lines: []string{"a1"}}, {Prefix: b, Lines: []string{"b1", "b2", "b3"}}, {Prefix: c, Lines: []string{"c1"}}})
	got := map[netip.Prefix][]string{}
	for _, ch := range r.changes() {
		got[ch.Prefix] = ch.Lines
	}
	// a was the least recent of three keys with room for two: dropped;
	// b kept its last two lines; c is as stored.
	if len(got) != 2 || got[a] != nil || !slices.Equal(got[b], []string{"b2", "b3"}) {
		t.Errorf("changes after load: %q", got)
	}
	if _, ok := got[c]; ok {
		t.Errorf("c, kept whole, is written again")
	}
}

// changes writes what the store must change: the lines of the keys held,
// and a deletion only for a key the store may hold.
func TestRecentLinesChanges(t *testing.T) {
	p := func(i int) netip.Prefix { return netip.MustParsePrefix(fmt.Sprintf("192.0.2.%d/32", i)) }
	r := newRecentLines(2, 2)
	changes := func() map[netip.Prefix][]string {
		got := map[netip.Prefix][]string{}
		for _, ch := range r.changes() {
			got[ch.Prefix] = ch.Lines
		}
		return got
	}
	r.add(p(1), "a")
	r.take(p(1))
	if got := changes(); len(got) != 0 {
		t.Errorf("a key added and taken between two commits is written: %q", got)
	}
	r.add(p(2), "b")
	if got := changes(); len(got) != 1 || !slices.Equal(got[p(2)], []string{"b"}) {
		t.Errorf("changes = %q, want 2's line", got)
	}
	r.take(p(2))
	r.add(p(2), "b again") // a key the store holds, taken and back
	r.take(p(2))
	r.add(p(3), "c")
	r.add(p(4), "d")
	r.add(p(5), "e") // evicts 3, never stored
	got := changes()
	if l, ok := got[p(2)]; !ok || l != nil {
		t.Errorf("2, stored then taken: %q, want a deletion", got)
	}
	if _, ok := got[p(3)]; ok || len(got) != 3 {
		t.Errorf("changes = %q, want 2 deleted and 4 and 5 written", got)
	}
	r.add(p(6), "f") // evicts 4, stored
	if got := changes(); len(got) != 2 || got[p(4)] != nil || !slices.Equal(got[p(6)], []string{"f"}) {
		t.Errorf("changes = %q, want 4 deleted and 6 written", got)
	}
}

// Remembering a line allocates nothing once the slots exist.
func TestRecentLinesAllocs(t *testing.T) {
	keys := make([]netip.Prefix, 3000)
	for i := range keys {
		keys[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 32)
	}
	r := newRecentLines(5, 1000)
	// The first run (not counted) makes the slots and grows the maps;
	// the one counted adds 3,000 lines more.
	allocs := testing.AllocsPerRun(1, func() {
		for _, k := range keys {
			r.add(k, "Failed password for root")
		}
	})
	if allocs != 0 {
		t.Errorf("%.0f allocations for %d lines", allocs, len(keys))
	}
}
