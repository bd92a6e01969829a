package daemon

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/logjail/logjail/state"
)

func TestRecentLines(t *testing.T) {
	p := func(i int) netip.Prefix { return netip.MustParsePrefix(fmt.Sprintf("192.0.2.%d/32", i)) }
	r := newRecentLines(3, 2)
	for i := range 5 {
		r.addLine(p(1), fmt.Sprint("a", i))
	}
	r.addLine(p(2), "b0")
	if got := r.takeLines(p(1)); !slices.Equal(got, []string{"a2", "a3", "a4"}) {
		t.Errorf("take(1) = %v, want the last 3 lines oldest first", got)
	}
	if got := r.takeLines(p(1)); got != nil {
		t.Errorf("second take = %v, want nothing", got)
	}
	r.addLine(p(3), "c0")
	r.addLine(p(4), "d0") // evicts 2, the least recently failing
	if got := r.takeLines(p(2)); got != nil {
		t.Errorf("evicted key kept %v", got)
	}
	if got := r.takeLines(p(3)); !slices.Equal(got, []string{"c0"}) {
		t.Errorf("take(3) = %v", got)
	}
	long := string(make([]byte, 5000))
	r.addLine(p(5), long)
	if got := r.takeLines(p(5)); len(got[0]) != maxRememberedLine {
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
	r.addLine(p(1), "a")
	r.takeLines(p(1))
	if got := changes(); len(got) != 0 {
		t.Errorf("a key added and taken between two commits is written: %q", got)
	}
	r.addLine(p(2), "b")
	if got := changes(); len(got) != 1 || !slices.Equal(got[p(2)], []string{"b"}) {
		t.Errorf("changes = %q, want 2's line", got)
	}
	r.takeLines(p(2))
	r.addLine(p(2), "b again") // a key the store holds, taken and back
	r.takeLines(p(2))
	r.addLine(p(3), "c")
	r.addLine(p(4), "d")
	r.addLine(p(5), "e") // evicts 3, never stored
	got := changes()
	if l, ok := got[p(2)]; !ok || l != nil {
		t.Errorf("2, stored then taken: %q, want a deletion", got)
	}
	if _, ok := got[p(3)]; ok || len(got) != 3 {
		t.Errorf("changes = %q, want 2 deleted and 4 and 5 written", got)
	}
	r.addLine(p(6), "f") // evicts 4, stored
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
			r.addLine(k, "Failed password for root")
		}
	})
	if allocs != 0 {
		t.Errorf("%.0f allocations for %d lines", allocs, len(keys))
	}
}

// addLine and takeLines are add and take without marks.
func (r *recentLines) addLine(key netip.Prefix, line string) { r.add(key, line, state.LineMark{}) }

func (r *recentLines) takeLines(key netip.Prefix) []string {
	lines, _ := r.take(key)
	return lines
}

// Each line keeps its mark, in the same order, through the ring's turns,
// peek, take, a commit's changes and a load (marks unknown for lines an
// older logjail stored).
func TestRecentLinesMarks(t *testing.T) {
	key := netip.MustParsePrefix("192.0.2.1/32")
	mark := func(i int) state.LineMark {
		return state.LineMark{Time: time.Unix(int64(1000+i), 0), Regex: i % 2, RegexSum: uint32(i)}
	}
	r := newRecentLines(3, 2)
	for i := range 5 {
		r.add(key, fmt.Sprint("a", i), mark(i))
	}
	want := []state.LineMark{mark(2), mark(3), mark(4)}
	if lines, marks := r.peek(key); !slices.Equal(lines, []string{"a2", "a3", "a4"}) || !slices.Equal(marks, want) {
		t.Errorf("peek = %q %v; want the last 3 with their marks", lines, marks)
	}
	ch := r.changes()
	if len(ch) != 1 || !slices.Equal(ch[0].Marks, want) {
		t.Errorf("changes = %+v; want the marks %v", ch, want)
	}
	loaded := newRecentLines(3, 2)
	other := netip.MustParsePrefix("192.0.2.2/32")
	loaded.load([]state.LinesChange{ch[0], {Prefix: other, Lines: []string{"old"}}})
	if lines, marks := loaded.take(key); !slices.Equal(lines, []string{"a2", "a3", "a4"}) || !slices.Equal(marks, want) {
		t.Errorf("take after load = %q %v", lines, marks)
	}
	if _, marks := loaded.take(other); len(marks) != 1 || marks[0].Known() {
		t.Errorf("a line stored without a mark: %v; want an unknown mark", marks)
	}
}
