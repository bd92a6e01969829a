package state

import (
	"net/netip"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/hostile"
	"github.com/logjail/logjail/state/gate"
)

// The same hostile addresses, plain and IPv4-mapped, through every path a
// ban can take in the tracker: failures counted from a log (local
// detection, the fleet's shared failures and recidive's bans source all
// arrive as failures), a manual ban, a ban adopted from the fleet and a
// stored or imported ban restored at start. Every one is refused, and
// counted under the rule that refused it.
func TestGateOnEveryPath(t *testing.T) {
	const server = "198.51.100.4"
	self := gate.NewSet(netip.MustParsePrefix("192.0.2.1/32"))
	t0 := time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)
	newTracker := func() *Tracker {
		return NewTracker(Policy{Pipeline: "sshd", MaxRetry: 2, FindTime: time.Hour, BanTime: time.Hour, MaxTracked: 100,
			Self: self, Servers: gate.NewSet(netip.MustParsePrefix(server + "/32"))})
	}
	want := map[string]gate.Reason{server: gate.NATSServer, "::ffff:" + server: gate.NATSServer, "192.0.2.1": gate.IgnoreSelf, "::ffff:192.0.2.1": gate.IgnoreSelf}
	paths := []struct {
		name string
		ban  func(tr *Tracker, a netip.Addr) bool
	}{
		{"log line", func(tr *Tracker, a netip.Addr) bool {
			tr.Fail(failure(a.String(), t0), t0)
			_, ok := tr.Fail(failure(a.String(), t0), t0)
			return ok
		}},
		{"manual", func(tr *Tracker, a netip.Addr) bool {
			_, why := tr.Ban(netip.PrefixFrom(a, a.BitLen()), 0, "manual", t0)
			return why == ""
		}},
		{"fleet", func(tr *Tracker, a netip.Addr) bool {
			_, ok := tr.Adopt(Decision{Prefix: netip.PrefixFrom(a, a.BitLen()), Time: t0, Until: t0.Add(time.Hour), Origin: "node9"}, t0)
			return ok
		}},
		{"restore", func(tr *Tracker, a netip.Addr) bool {
			lifted := tr.Restore([]Decision{{Kind: Ban, Pipeline: "sshd", Prefix: netip.PrefixFrom(a, a.BitLen()), Time: t0, Until: t0.Add(time.Hour)}}, t0)
			return len(lifted) == 0
		}},
	}
	for _, p := range paths {
		for _, tok := range hostile.Tokens(server, "192.0.2.1") {
			t.Run(p.name+"/"+tok, func(t *testing.T) {
				tr := newTracker()
				if p.ban(tr, netip.MustParseAddr(tok)) || len(tr.Active()) != 0 {
					t.Fatalf("%s banned: %+v", tok, tr.Active())
				}
				why := want[tok]
				if why == "" {
					why = gate.NotHost
				}
				if n := tr.Stats().Refused[why]; n == 0 {
					t.Errorf("refusals %v, want one for %s", tr.Stats().Refused, why)
				}
			})
		}
		// The gate lets an attacker through on the same path.
		t.Run(p.name+"/attacker", func(t *testing.T) {
			tr := newTracker()
			if !p.ban(tr, netip.MustParseAddr("::ffff:203.0.113.9")) || len(tr.Active()) != 1 || tr.Active()[0].Prefix.String() != "203.0.113.9/32" {
				t.Fatalf("attacker not banned as 203.0.113.9/32: %+v", tr.Active())
			}
		})
	}
}

// A host address the gate learns after the tracker was made (followed
// live) is refused from then on.
func TestGateSeesNewHostAddresses(t *testing.T) {
	self := gate.NewSet()
	t0 := time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)
	tr := NewTracker(Policy{Pipeline: "sshd", MaxRetry: 1, FindTime: time.Hour, BanTime: time.Hour, MaxTracked: 100, Self: self})
	self.Store([]netip.Prefix{netip.MustParsePrefix("198.51.100.200/32")})
	if d, ok := tr.Fail(failure("198.51.100.200", t0), t0); ok {
		t.Fatalf("banned the host's new address: %+v", d)
	}
	if n := tr.Stats().Refused[gate.IgnoreSelf]; n != 1 {
		t.Errorf("ignoreself refusals %d, want 1", n)
	}
}
