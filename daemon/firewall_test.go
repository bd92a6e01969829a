package daemon

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/logjail/logjail/state"
)

// A repair's snapshot of the active bans is brought up to date with what
// the runner applied after asking for it: a ban decided meanwhile is kept
// (not removed from the kernel as unknown), an unban lifts, and of several
// decisions for one prefix the last wins.
func TestCaughtUp(t *testing.T) {
	now := time.Now()
	ban := func(p string, d time.Duration) state.Decision {
		return state.Decision{Kind: state.Ban, Prefix: netip.MustParsePrefix(p), Time: now, Until: now.Add(d)}
	}
	unban := func(p string) state.Decision {
		return state.Decision{Kind: state.Unban, Prefix: netip.MustParsePrefix(p), Time: now}
	}
	for _, tc := range []struct {
		name             string
		active, applied  []state.Decision
		want             []string
		wantUntil1Offset time.Duration // the ban of 192.0.2.1/32, when wanted
	}{
		{name: "nothing applied", active: []state.Decision{ban("192.0.2.1/32", time.Hour)}, want: []string{"192.0.2.1/32"}, wantUntil1Offset: time.Hour},
		{name: "banned after the snapshot", active: []state.Decision{ban("192.0.2.1/32", time.Hour)},
			applied: []state.Decision{ban("192.0.2.2/32", time.Hour)}, want: []string{"192.0.2.1/32", "192.0.2.2/32"}, wantUntil1Offset: time.Hour},
		{name: "in the snapshot and applied", active: []state.Decision{ban("192.0.2.1/32", time.Hour)},
			applied: []state.Decision{ban("192.0.2.1/32", time.Hour)}, want: []string{"192.0.2.1/32"}, wantUntil1Offset: time.Hour},
		{name: "unbanned after the snapshot", active: []state.Decision{ban("192.0.2.1/32", time.Hour), ban("192.0.2.2/32", time.Hour)},
			applied: []state.Decision{unban("192.0.2.2/32")}, want: []string{"192.0.2.1/32"}, wantUntil1Offset: time.Hour},
		{name: "the last decision wins", active: []state.Decision{ban("192.0.2.1/32", time.Hour)},
			applied: []state.Decision{unban("192.0.2.1/32"), ban("192.0.2.1/32", 2*time.Hour), ban("192.0.2.3/32", time.Hour), unban("192.0.2.3/32")},
			want:    []string{"192.0.2.1/32"}, wantUntil1Offset: 2 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := caughtUp(tc.active, tc.applied)
			var prefixes []string
			for _, d := range got {
				prefixes = append(prefixes, d.Prefix.String())
				if d.Prefix.String() == "192.0.2.1/32" && !d.Until.Equal(now.Add(tc.wantUntil1Offset)) {
					t.Errorf("192.0.2.1/32 until %s, want %s", d.Until, now.Add(tc.wantUntil1Offset))
				}
			}
			slices.Sort(prefixes)
			if !slices.Equal(prefixes, tc.want) {
				t.Errorf("got %v, want %v", prefixes, tc.want)
			}
		})
	}
}

// The element check is spaced by its own cost: a cheap one every
// elementsCheckInterval, a check that took 2 s (a million bans) only after
// 40 s.
func TestNextElementsCheck(t *testing.T) {
	for _, tc := range []struct{ took, want time.Duration }{
		{time.Millisecond, elementsCheckInterval},
		{2 * time.Second, 40 * time.Second},
	} {
		if got := nextElementsCheck(tc.took); got != tc.want {
			t.Errorf("after a check of %s: next in %s, want %s", tc.took, got, tc.want)
		}
	}
}
