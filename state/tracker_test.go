package state

import (
	"net/netip"
	"testing"
	"time"

	"github.com/logjail/logjail/match"
)

func failure(addr string, at time.Time) match.Failure {
	return match.Failure{Pipeline: "sshd", Addr: netip.MustParseAddr(addr), Time: at, Line: "line of " + addr}
}

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
		d, ok = tr.Fail(failure("203.0.113.5", at), at)
	}
	if !ok || d.Kind != Ban || d.Prefix != netip.MustParsePrefix("203.0.113.5/32") || d.Failures != 3 {
		t.Fatalf("got %+v %v", d, ok)
	}
	if want := t0.Add(2*time.Second + time.Hour); !d.Until.Equal(want) {
		t.Errorf("until %v, want %v", d.Until, want)
	}
	// Failures still arriving from a banned address do not ban again.
	if _, ok := tr.Fail(failure("203.0.113.5", t0.Add(3*time.Second)), t0.Add(3*time.Second)); ok {
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
				if _, ok := tr.Fail(failure(tc.addr, tc.at(i)), tc.now(i)); ok {
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
		d, _ = tr.Fail(failure("198.51.100.7", atSec(i)), atSec(i))
	}
	if !d.Permanent() {
		t.Fatalf("want permanent, got until %v", d.Until)
	}
	if got := tr.Expire(t0.Add(100 * 365 * 24 * time.Hour)); len(got) != 0 {
		t.Fatalf("permanent ban expired: %+v", got)
	}
	m := tr.Ban(netip.MustParsePrefix("::ffff:203.0.113.9/128"), 5*time.Minute, "manual", t0)
	if m.Prefix != netip.MustParsePrefix("203.0.113.9/32") || !m.Until.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("manual ban %+v", m)
	}
	// Renewing keeps one ban and moves its end.
	m = tr.Ban(netip.MustParsePrefix("203.0.113.9/32"), time.Hour, "manual", t0.Add(time.Minute))
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
