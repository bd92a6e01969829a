package state

import (
	"net/netip"
	"testing"
	"time"
)

// A run-time change of maxretry or findtime keeps the failures counted:
// lowering maxretry bans at the next failure a key that already has as
// many, raising it lets the key count on; a refused change leaves the
// tracker as it was.
func TestRetune(t *testing.T) {
	for _, tc := range []struct {
		name    string
		change  func(*Policy)
		before  int // failures of the address before the change
		wantBan int // failures after the change that ban (0: none of 5)
		ok      bool
	}{
		{"maxretry lowered below the count", func(p *Policy) { p.MaxRetry = 2 }, 2, 1, true},
		{"maxretry lowered to the count", func(p *Policy) { p.MaxRetry = 3 }, 2, 1, true},
		{"maxretry raised", func(p *Policy) { p.MaxRetry = 6 }, 2, 4, true},
		{"findtime shortened below the spacing", func(p *Policy) { p.FindTime = 15 * time.Second }, 2, 0, true},
		{"bantime only", func(p *Policy) { p.BanTime = 2 * time.Hour }, 2, 1, true},
		{"prefix length refused", func(p *Policy) { p.IPv4Prefix = 24 }, 2, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker(Policy{Pipeline: "sshd", MaxRetry: 3, FindTime: 10 * time.Minute, BanTime: time.Hour, MaxTracked: 100})
			at := t0
			for range tc.before {
				at = at.Add(10 * time.Second)
				if _, ok := failThroughGate(tr, failure("203.0.113.5", at), at); ok {
					t.Fatal("banned before the change")
				}
			}
			p := tr.Policy()
			tc.change(&p)
			if _, ok := tr.Retune(p, at); ok != tc.ok {
				t.Fatalf("Retune ok %v, want %v", ok, tc.ok)
			}
			for n := 1; n <= 5; n++ {
				at = at.Add(10 * time.Second)
				if _, ok := failThroughGate(tr, failure("203.0.113.5", at), at); ok {
					if n != tc.wantBan {
						t.Fatalf("banned at failure %d after the change, want %d", n, tc.wantBan)
					}
					return
				}
			}
			if tc.wantBan != 0 {
				t.Fatalf("no ban after 5 failures, want one at %d", tc.wantBan)
			}
		})
	}
}

// Retune re-checks the active bans against the new gate, as a reload does.
func TestRetuneLiftsRefusedBans(t *testing.T) {
	tr := newTestTracker(time.Hour)
	if _, why := banThroughGate(tr, netip.MustParsePrefix("198.51.100.2/32"), time.Hour, t0); why != "" {
		t.Fatal(why)
	}
	p := tr.Policy()
	p.MaxRetry = 7
	p.IgnoreIP = append(p.IgnoreIP, netip.MustParsePrefix("198.51.100.0/24"))
	lifted, ok := tr.Retune(p, t0)
	if !ok || len(lifted) != 1 || lifted[0].Kind != Unban || len(tr.Active()) != 0 {
		t.Fatalf("lifted %+v ok %v active %v", lifted, ok, tr.Active())
	}
	if got := tr.Policy(); got.MaxRetry != 7 || len(got.IgnoreIP) != 3 {
		t.Errorf("policy %+v", got)
	}
}
