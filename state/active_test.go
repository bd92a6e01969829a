package state

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// snapshotPrefixes lists a snapshot's prefixes in its order.
func snapshotPrefixes(b Bans) []string {
	var out []string
	for _, d := range b.Sorted() {
		out = append(out, d.Prefix.String())
	}
	return out
}

// A snapshot keeps the bans of its moment while the tracker bans, renews,
// lifts and expires on; Sorted orders them as SortByPrefix does.
func TestSnapshotKeepsItsMoment(t *testing.T) {
	tr := NewTracker(Policy{Pipeline: "sshd", MaxRetry: 2, FindTime: time.Hour, BanTime: time.Hour, MaxTracked: 10, IPv6Prefix: 64})
	ban := func(s string) {
		t.Helper()
		if _, why := banThroughGate(tr, netip.MustParsePrefix(s), 0, t0); why != "" {
			t.Fatalf("%s refused: %s", s, why)
		}
	}
	// Over two pages, so both the page a write copies and one it leaves
	// are seen.
	var want []string
	for i := range 600 {
		p := fmt.Sprintf("198.51.%d.%d/32", i/256, i%256)
		ban(p)
		want = append(want, p)
	}
	ban("2001:db8::/64")
	ban("192.0.2.1/32")
	want = append([]string{"192.0.2.1/32"}, append(want, "2001:db8::/64")...)
	snap := tr.Snapshot()
	if snap.Len() != 602 || !slices.Equal(snapshotPrefixes(snap), want) {
		t.Fatalf("snapshot: %d bans, %v…", snap.Len(), snapshotPrefixes(snap)[:3])
	}
	before := fmt.Sprint(*snap.Sorted()[0])
	tr.Unban(netip.MustParsePrefix("192.0.2.1/32"), "manual", t0)
	if _, why := tr.Ban(netip.MustParsePrefix("198.51.0.0/32"), 2*time.Hour, "manual", t0, ""); why != "" {
		t.Fatal(why)
	}
	ban("203.0.113.9/32")
	tr.Expire(t0.Add(90 * time.Minute))
	if got := snapshotPrefixes(snap); !slices.Equal(got, want) || snap.Len() != 602 || fmt.Sprint(*snap.Sorted()[0]) != before {
		t.Errorf("the snapshot changed with the tracker")
	}
	now := tr.Snapshot()
	if got := snapshotPrefixes(now); !slices.Equal(got, []string{"198.51.0.0/32"}) || now.Len() != 1 || tr.Stats().CurrentlyBanned != 1 {
		t.Errorf("after the changes: %v (%d)", got, now.Len())
	}
	if got := tr.Active(); len(got) != 1 || got[0].Reason != "manual" || !got[0].Until.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("active %+v", got)
	}
}

// Snapshots are read on other goroutines while the tracker's goroutine
// changes the bans (run with -race).
func TestSnapshotReadElsewhere(t *testing.T) {
	tr := NewTracker(Policy{Pipeline: "sshd", MaxRetry: 2, FindTime: time.Hour, BanTime: time.Hour, MaxTracked: 10})
	var wg sync.WaitGroup
	for round := range 20 {
		snap := tr.Snapshot()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if n := len(snap.Sorted()); n != snap.Len() || n != round*100 {
				t.Errorf("round %d: %d bans sorted of %d", round, n, snap.Len())
			}
		}()
		for i := range 100 {
			a := netip.AddrFrom4([4]byte{198, 51, byte(round), byte(i)})
			tr.Ban(netip.PrefixFrom(a, 32), 0, "manual", t0, "")
		}
		tr.Unban(netip.MustParsePrefix("198.51.0.0/32"), "manual", t0)
		tr.Ban(netip.MustParsePrefix("198.51.0.0/32"), 0, "manual", t0, "")
	}
	wg.Wait()
}
