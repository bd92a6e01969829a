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
