package state

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"
)

func newTestTracker(ban time.Duration) *Tracker {
	return NewTracker(Policy{
		Pipeline: "sshd", MaxRetry: 3, FindTime: 10 * time.Minute, BanTime: ban, MaxTracked: 100,
		IgnoreIP: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8:1::/48")},
	})
}

func TestTrackerBansAndExpires(t *testing.T) {
	tr := newTestTracker(time.Hour)
	var d Decision
	var ok bool
	for i := range 3 {
		at := t0.Add(time.Duration(i) * time.Second)
		d, ok = failThroughGate(tr, failure("203.0.113.5", at), at)
	}
	if !ok || d.Kind != Ban || d.Prefix != netip.MustParsePrefix("203.0.113.5/32") || d.Failures != 3 {
		t.Fatalf("got %+v %v", d, ok)
	}
	if want := t0.Add(2*time.Second + time.Hour); !d.Until.Equal(want) {
		t.Errorf("until %v, want %v", d.Until, want)
	}
	// Failures still arriving from a banned address do not ban again.
	if _, ok := failThroughGate(tr, failure("203.0.113.5", t0.Add(3*time.Second)), t0.Add(3*time.Second)); ok {
		t.Error("banned twice")
	}
	if got := tr.Expire(t0.Add(30 * time.Minute)); len(got) != 0 {
		t.Errorf("expired early: %+v", got)
	}
	got := tr.Expire(t0.Add(2 * time.Hour))
	if len(got) != 1 || got[0].Kind != Unban || got[0].Reason != "expired" {
		t.Fatalf("expire: %+v", got)
	}
	if s := tr.Stats(); s.TotalBanned != 1 || s.CurrentlyBanned != 0 || s.TotalFailed != 4 {
		t.Errorf("stats %+v", s)
	}
}

func TestTrackerRules(t *testing.T) {
	for _, tc := range []struct {
		name    string
		addr    string
		at      func(i int) time.Time // failure time of the i-th failure
		now     func(i int) time.Time
		wantBan bool
	}{
		{"ignoreip v4", "192.0.2.9", atSec, atSec, false},
		{"ignoreip v6", "2001:db8:1:2::9", atSec, atSec, false},
		{"ignoreip matches mapped v4", "::ffff:192.0.2.9", atSec, atSec, false},
		{"plain ban", "198.51.100.1", atSec, atSec, true},
		{"v6 ban", "2001:db8:2::1", atSec, atSec, true},
		// An old log read for the first time bans nobody.
		{"stale failures", "198.51.100.2", atSec, func(int) time.Time { return t0.Add(24 * time.Hour) }, false},
		// A remote clock running ahead counts as now.
		{"future failures", "198.51.100.3", func(i int) time.Time { return t0.Add(time.Duration(i) * time.Hour) }, atSec, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTestTracker(time.Hour)
			banned := false
			for i := range 3 {
				if _, ok := failThroughGate(tr, failure(tc.addr, tc.at(i)), tc.now(i)); ok {
					banned = true
				}
			}
			if banned != tc.wantBan {
				t.Fatalf("banned %v, want %v (stats %+v)", banned, tc.wantBan, tr.Stats())
			}
		})
	}
}

func atSec(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }

func TestTrackerPermanentAndManual(t *testing.T) {
	tr := newTestTracker(PermanentBan)
	var d Decision
	for i := range 3 {
		d, _ = failThroughGate(tr, failure("198.51.100.7", atSec(i)), atSec(i))
	}
	if !d.Permanent() {
		t.Fatalf("want permanent, got until %v", d.Until)
	}
	if got := tr.Expire(t0.Add(100 * 365 * 24 * time.Hour)); len(got) != 0 {
		t.Fatalf("permanent ban expired: %+v", got)
	}
	m, _ := banThroughGate(tr, netip.MustParsePrefix("::ffff:203.0.113.9/128"), 5*time.Minute, t0)
	if m.Prefix != netip.MustParsePrefix("203.0.113.9/32") || !m.Until.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("manual ban %+v", m)
	}
	// Renewing keeps one ban and moves its end.
	m, _ = banThroughGate(tr, netip.MustParsePrefix("203.0.113.9/32"), time.Hour, t0.Add(time.Minute))
	if s := tr.Stats(); s.CurrentlyBanned != 2 || s.TotalBanned != 2 || !m.Until.Equal(t0.Add(61*time.Minute)) {
		t.Fatalf("after renew: %+v until %v", s, m.Until)
	}
	u, ok := tr.Unban(netip.MustParsePrefix("203.0.113.9/32"), "manual", t0)
	if !ok || u.Kind != Unban {
		t.Fatalf("unban: %+v %v", u, ok)
	}
	if _, ok := tr.Unban(netip.MustParsePrefix("203.0.113.9/32"), "manual", t0); ok {
		t.Fatal("unbanned twice")
	}
}

func TestTrackerRestore(t *testing.T) {
	tr := newTestTracker(time.Hour)
	bans := []Decision{
		{Kind: Ban, Pipeline: "sshd", Prefix: netip.MustParsePrefix("198.51.100.1/32"), Until: t0.Add(time.Hour)},
		{Kind: Ban, Pipeline: "sshd", Prefix: netip.MustParsePrefix("198.51.100.2/32"), Until: t0.Add(-time.Second)},
		{Kind: Ban, Pipeline: "sshd", Prefix: netip.MustParsePrefix("198.51.100.3/32")}, // permanent
	}
	expired := tr.Restore(bans, t0)
	if len(expired) != 1 || expired[0].Prefix != bans[1].Prefix || expired[0].Kind != Unban {
		t.Fatalf("expired %+v", expired)
	}
	if got := tr.Active(); len(got) != 2 || got[0].Prefix != bans[0].Prefix || got[1].Prefix != bans[2].Prefix {
		t.Fatalf("active %+v", got)
	}
}

// fakeHistory answers from a map of prefix → earlier bans and remembers the
// questions.
type fakeHistory struct {
	counts map[netip.Prefix]int
	err    error
	asked  []string
}

func (h *fakeHistory) Count(pipeline string, p netip.Prefix, all bool) (int, error) {
	h.asked = append(h.asked, fmt.Sprintf("%s %s %v", pipeline, p, all))
	return h.counts[p], h.err
}

func TestTrackerPrefixes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		v4, v6     int
		ignore     []string
		addrs      []string // failures, one second apart
		wantBan    string   // the last decision's prefix; "" for none
		wantFailed int      // tracked keys afterwards
	}{
		{"defaults count per address", 0, 0, nil, []string{"2001:db8:1::1", "2001:db8:1::2", "2001:db8:1::3"}, "", 3},
		{"rotating inside a /64", 0, 64, nil, []string{"2001:db8:1::1", "2001:db8:1::2", "2001:db8:1:0:ffff::3"}, "2001:db8:1::/64", 0},
		{"two /64s are two offenders", 0, 64, nil, []string{"2001:db8:1::1", "2001:db8:2::1", "2001:db8:1::2"}, "", 2},
		{"ipv6_prefix leaves IPv4 alone", 0, 64, nil, []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"}, "", 3},
		{"ipv4 /24", 24, 0, nil, []string{"198.51.100.1", "198.51.100.2", "::ffff:198.51.100.3"}, "198.51.100.0/24", 0},
		{"ipv4 /32 is per address", 32, 128, nil, []string{"198.51.100.1", "198.51.100.1", "198.51.100.1"}, "198.51.100.1/32", 0},
		// ignoreip checks the real address: the /48 below is ignored, its
		// neighbour inside the same /32 counting prefix is not.
		{"ignoreip checks the address", 0, 32, []string{"2001:db8:1::/48"}, []string{"2001:db8:1::1", "2001:db8:1::2", "2001:db8:1::3"}, "", 0},
		// A prefix holding an ignoreip address is not banned whole: the
		// address that completed the count is.
		{"ban narrowed around ignoreip", 0, 32, []string{"2001:db8:1::/48"}, []string{"2001:db8:2::1", "2001:db8:3::1", "2001:db8:4::7"}, "2001:db8:4::7/128", 0},
		{"ban narrowed around ignoreip v4", 16, 0, []string{"198.51.0.1/32"}, []string{"198.51.1.1", "198.51.2.1", "198.51.3.1"}, "198.51.3.1/32", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Policy{Pipeline: "sshd", MaxRetry: 3, FindTime: time.Minute, BanTime: time.Hour, MaxTracked: 10, IPv4Prefix: tc.v4, IPv6Prefix: tc.v6}
			for _, ig := range tc.ignore {
				p.IgnoreIP = append(p.IgnoreIP, netip.MustParsePrefix(ig))
			}
			tr := NewTracker(p)
			var last Decision
			for i, a := range tc.addrs {
				if d, ok := failThroughGate(tr, failure(a, atSec(i)), atSec(i)); ok {
					last = d
				}
			}
			got := ""
			if last.Kind == Ban {
				got = last.Prefix.String()
			}
			if got != tc.wantBan || tr.Stats().CurrentlyFailed != tc.wantFailed {
				t.Fatalf("ban %q, want %q; tracked %d, want %d", got, tc.wantBan, tr.Stats().CurrentlyFailed, tc.wantFailed)
			}
			if got == "" {
				return
			}
			// Lines still in flight from anywhere in the banned prefix ban
			// nobody again; Unban by one of its addresses lifts it.
			for i := range 5 {
				if d, ok := failThroughGate(tr, failure(tc.addrs[0], atSec(10+i)), atSec(10+i)); ok && last.Prefix.Contains(netip.MustParseAddr(tc.addrs[0]).Unmap()) {
					t.Fatalf("banned again: %+v", d)
				}
			}
			one := netip.MustParseAddr(tc.addrs[len(tc.addrs)-1]).Unmap()
			u, ok := tr.Unban(netip.PrefixFrom(one, one.BitLen()), "manual", atSec(20))
			if !ok || u.Prefix != last.Prefix {
				t.Fatalf("unban by address: %+v %v", u, ok)
			}
		})
	}
}

func TestTrackerPrefixOf(t *testing.T) {
	tr := NewTracker(Policy{IPv4Prefix: 24, IPv6Prefix: 56})
	for in, want := range map[string]string{
		"192.0.2.77":         "192.0.2.0/24",
		"::ffff:192.0.2.77":  "192.0.2.0/24",
		"2001:db8:a:b7ff::1": "2001:db8:a:b700::/56",
		"fe80::1%eth0":       "fe80::/56",
	} {
		if got := tr.PrefixOf(netip.MustParseAddr(in)).String(); got != want {
			t.Errorf("PrefixOf(%s) = %s, want %s", in, got, want)
		}
	}
}

// The ban count and time come from the history: a prefix banned n times
// before gets ban count n+1 and an incremented bantime.
func TestTrackerIncrement(t *testing.T) {
	v6 := netip.MustParsePrefix("2001:db8:5::/64")
	for _, tc := range []struct {
		name      string
		inc       *Increment
		ban       time.Duration
		earlier   int
		histErr   error
		manual    time.Duration // -2: a failure ban; else a manual ban for this long
		wantCount int
		wantFor   time.Duration // 0: permanent
		wantAsked string
	}{
		{"first ban", &Increment{}, time.Hour, 0, nil, -2, 1, time.Hour, "sshd 2001:db8:5::/64 false"},
		{"third ban doubles twice", &Increment{}, time.Hour, 2, nil, -2, 3, 4 * time.Hour, "sshd 2001:db8:5::/64 false"},
		{"multipliers and maxtime", &Increment{Multipliers: []float64{1, 2, 4, 8}, MaxTime: 5 * time.Hour}, time.Hour, 3, nil, -2, 4, 5 * time.Hour, "sshd 2001:db8:5::/64 false"},
		{"rndtime", &Increment{RndTime: 10 * time.Minute}, time.Hour, 1, nil, -2, 2, 2*time.Hour + 2*time.Minute + 30*time.Second, "sshd 2001:db8:5::/64 false"},
		{"overalljails asks for every pipeline", &Increment{OverallJails: true}, time.Hour, 1, nil, -2, 2, 2 * time.Hour, "sshd 2001:db8:5::/64 true"},
		{"without increment the count is still kept", nil, time.Hour, 4, nil, -2, 5, time.Hour, "sshd 2001:db8:5::/64 false"},
		{"permanent stays permanent", &Increment{}, PermanentBan, 3, nil, -2, 4, 0, "sshd 2001:db8:5::/64 false"},
		{"history error: a first ban", &Increment{}, time.Hour, 3, errors.New("disk on fire"), -2, 1, time.Hour, "sshd 2001:db8:5::/64 false"},
		{"manual ban with the pipeline's bantime is incremented", &Increment{}, time.Hour, 1, nil, 0, 2, 2 * time.Hour, "sshd 2001:db8:5::/64 false"},
		{"manual ban --for is as given", &Increment{}, time.Hour, 1, nil, 30 * time.Minute, 2, 30 * time.Minute, "sshd 2001:db8:5::/64 false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &fakeHistory{counts: map[netip.Prefix]int{v6: tc.earlier}, err: tc.histErr}
			tr := NewTracker(Policy{Pipeline: "sshd", MaxRetry: 2, FindTime: time.Minute, BanTime: tc.ban, MaxTracked: 10, IPv6Prefix: 64, Increment: tc.inc})
			tr.SetHistory(h)
			tr.SetRand(func() float64 { return 0.25 })
			var d Decision
			if tc.manual == -2 {
				failThroughGate(tr, failure("2001:db8:5::1", t0), t0)
				var ok bool
				if d, ok = failThroughGate(tr, failure("2001:db8:5::2", t0), t0); !ok {
					t.Fatal("no ban")
				}
			} else {
				d, _ = banThroughGate(tr, v6, tc.manual, t0)
			}
			if d.Prefix != v6 || d.BanCount != tc.wantCount {
				t.Errorf("prefix %s count %d, want %s %d", d.Prefix, d.BanCount, v6, tc.wantCount)
			}
			switch {
			case tc.wantFor == 0 && !d.Permanent():
				t.Errorf("until %v, want permanent", d.Until)
			case tc.wantFor != 0 && !d.Until.Equal(t0.Add(tc.wantFor)):
				t.Errorf("lasts %v, want %v", d.Until.Sub(t0), tc.wantFor)
			}
			if len(h.asked) != 1 || h.asked[0] != tc.wantAsked {
				t.Errorf("history asked %q, want [%q]", h.asked, tc.wantAsked)
			}
			if want := uint64(0); tc.histErr != nil && tr.Stats().HistoryErrors != 1 || tc.histErr == nil && tr.Stats().HistoryErrors != want {
				t.Errorf("history errors %d", tr.Stats().HistoryErrors)
			}
			// Renewing keeps the count and does not ask again.
			r, _ := banThroughGate(tr, v6, 0, t0.Add(time.Minute))
			if r.BanCount != d.BanCount || len(h.asked) != 1 {
				t.Errorf("renewal: count %d, asked %q", r.BanCount, h.asked)
			}
		})
	}
}

// Adopt takes a ban decided elsewhere (another fleet node) only when it
// bans something new or extends a ban by more than a moment, and never
// wider than this pipeline bans or over an ignored address.
func TestAdopt(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	pfx := netip.MustParsePrefix
	ban := func(p string, until time.Duration) Decision {
		d := Decision{Prefix: pfx(p), Time: now, Origin: "node2", Reason: "fleet"}
		if until != 0 {
			d.Until = now.Add(until)
		}
		return d
	}
	for _, tc := range []struct {
		name      string
		active    []Decision
		adopt     Decision
		want      bool
		wantUntil time.Duration // from now; 0: the adopted ban's
	}{
		{name: "new", adopt: ban("203.0.113.7/32", time.Hour), want: true},
		{name: "same end", active: []Decision{ban("203.0.113.7/32", time.Hour)}, adopt: ban("203.0.113.7/32", time.Hour)},
		{name: "a moment later", active: []Decision{ban("203.0.113.7/32", 50*time.Minute)}, adopt: ban("203.0.113.7/32", 50*time.Minute+30*time.Second)},
		{name: "extended", active: []Decision{ban("203.0.113.7/32", 30*time.Minute)}, adopt: ban("203.0.113.7/32", time.Hour), want: true},
		{name: "permanent, clamped to this pipeline's longest ban", active: []Decision{ban("203.0.113.7/32", time.Hour)}, adopt: ban("203.0.113.7/32", 0)},
		{name: "permanent elsewhere, an hour here", adopt: ban("203.0.113.8/32", 0), want: true, wantUntil: time.Hour},
		{name: "a year, clamped", adopt: ban("203.0.113.8/32", 365*24*time.Hour), want: true, wantUntil: time.Hour},
		{name: "covered by a wider ban", active: []Decision{ban("2001:db8:1:2::/64", time.Hour)}, adopt: ban("2001:db8:1:2::7/128", 2*time.Hour)},
		{name: "multicast", adopt: ban("224.0.0.1/32", time.Hour)},
		{name: "unspecified", adopt: ban("0.0.0.0/32", time.Hour)},
		{name: "link-local", adopt: ban("fe80::1/128", time.Hour)},
		{name: "broadcast", adopt: ban("255.255.255.255/32", time.Hour)},
		{name: "timed over permanent", active: []Decision{ban("203.0.113.7/32", 0)}, adopt: ban("203.0.113.7/32", 50*time.Minute)},
		{name: "over already", adopt: ban("203.0.113.7/32", -time.Minute)},
		{name: "ignored", adopt: ban("192.0.2.9/32", time.Hour)},
		{name: "covers ignored", adopt: ban("192.0.2.0/16", time.Hour)},
		{name: "everything", adopt: ban("0.0.0.0/0", time.Hour)},
		{name: "wider than ipv4_prefix", adopt: ban("198.51.0.0/16", time.Hour)},
		{name: "ipv6 at ipv6_prefix", adopt: ban("2001:db8:1:2::/64", time.Hour), want: true},
		{name: "ipv6 everything", adopt: ban("::/0", time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker(Policy{Pipeline: "sshd", MaxRetry: 3, FindTime: time.Minute, BanTime: time.Hour, MaxTracked: 10, IPv4Prefix: 32, IPv6Prefix: 64, IgnoreIP: []netip.Prefix{pfx("192.0.2.0/24")}})
			tr.Restore(tc.active, now)
			d, ok := adoptThroughGate(tr, tc.adopt, now)
			if ok != tc.want {
				t.Fatalf("Adopt = %v, want %v", ok, tc.want)
			}
			if !ok {
				return
			}
			until := tc.adopt.Until
			if tc.wantUntil != 0 {
				until = now.Add(tc.wantUntil)
			}
			if d.Pipeline != "sshd" || d.Kind != Ban || d.Origin != "node2" || !d.Fleet || !d.Until.Equal(until) {
				t.Errorf("adopted %+v", d)
			}
			if got, ok := tr.BanOf(tc.adopt.Prefix); !ok || !got.Until.Equal(until) {
				t.Errorf("active ban %+v %v", got, ok)
			}
		})
	}
}

// Expire walks the bans only once the earliest is due, yet lifts every ban
// on time: one added later that ends sooner, one of several ending at
// different times, and none of them early; a lifted ban leaves the others
// alone.
func TestExpireOnTime(t *testing.T) {
	tr := newTestTracker(time.Hour)
	ban := func(addr string, d time.Duration) {
		if _, why := banThroughGate(tr, netip.MustParsePrefix(addr+"/32"), d, t0); why != "" {
			t.Fatalf("%s refused: %s", addr, why)
		}
	}
	ban("198.51.100.1", 3*time.Hour)
	ban("198.51.100.2", 2*time.Hour)
	ban("198.51.100.3", time.Hour) // added last, ends first
	ban("198.51.100.4", PermanentBan)
	ban("198.51.100.5", 90*time.Minute)
	if d, ok := tr.PlanUnban(netip.MustParsePrefix("198.51.100.3/32"), "manual", t0); ok {
		tr.Lift(d)
	}
	for _, step := range []struct {
		at   time.Duration
		want []string
	}{
		{59 * time.Minute, nil},
		{time.Hour, nil}, // 198.51.100.3 was lifted by hand
		{89 * time.Minute, nil},
		{90 * time.Minute, []string{"198.51.100.5/32"}},
		{2*time.Hour - time.Second, nil},
		{5 * time.Hour, []string{"198.51.100.1/32", "198.51.100.2/32"}},
		{100 * time.Hour, nil},
	} {
		var got []string
		for _, d := range tr.Expire(t0.Add(step.at)) {
			got = append(got, d.Prefix.String())
		}
		slices.Sort(got)
		if !slices.Equal(got, step.want) {
			t.Errorf("at +%s: expired %v, want %v", step.at, got, step.want)
		}
	}
	if n := tr.Stats().CurrentlyBanned; n != 1 {
		t.Errorf("%d bans left, want the permanent one", n)
	}
}
