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
			failThroughGate(tr, failure(a.String(), t0), t0)
			_, ok := failThroughGate(tr, failure(a.String(), t0), t0)
			return ok
		}},
		{"manual", func(tr *Tracker, a netip.Addr) bool {
			_, why := banThroughGate(tr, netip.PrefixFrom(a, a.BitLen()), 0, t0)
			return why == ""
		}},
		{"fleet", func(tr *Tracker, a netip.Addr) bool {
			_, ok := adoptThroughGate(tr, Decision{Prefix: netip.PrefixFrom(a, a.BitLen()), Time: t0, Until: t0.Add(time.Hour), Origin: "node9"}, t0)
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
	if d, ok := failThroughGate(tr, failure("198.51.100.200", t0), t0); ok {
		t.Fatalf("banned the host's new address: %+v", d)
	}
	if n := tr.Stats().Refused[gate.IgnoreSelf]; n != 1 {
		t.Errorf("ignoreself refusals %d, want 1", n)
	}
}

// The ignorecommand runs a program: the tracker never asks it. Fail hands
// the address whose failures are due a ban to its caller, which asks the
// gate once; Decide counts the answer.
func TestIgnoreCommandAskedByTheCaller(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		addr    string
		ignored bool
	}{
		{"203.0.113.1", true},
		{"::ffff:203.0.113.1", true},
		{"203.0.113.2", false},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			var asked []netip.Addr
			tr := NewTracker(Policy{Pipeline: "sshd", MaxRetry: 2, FindTime: time.Hour, BanTime: time.Hour, MaxTracked: 100,
				IgnoreCheck: func(a netip.Addr) bool {
					asked = append(asked, a)
					return a == netip.MustParseAddr("203.0.113.1")
				}})
			if _, full := tr.Fail(failure(tc.addr, t0), t0); full {
				t.Fatal("due a ban after one failure of two")
			}
			c, full := tr.Fail(failure(tc.addr, t0), t0)
			if !full || len(asked) != 0 {
				t.Fatalf("candidate %v, command asked %v: want a candidate and no command run by the tracker", full, asked)
			}
			d, banned := tr.Decide(c, tr.Gate().Admit(gate.Single(c.Addr)))
			if len(asked) != 1 || asked[0].String() != "203.0.113.1" && asked[0].String() != "203.0.113.2" {
				t.Errorf("command asked %v, want once for the unmapped address", asked)
			}
			st := tr.Stats()
			if tc.ignored {
				if banned || len(tr.Active()) != 0 || st.Ignored != 1 || st.Refused[gate.IgnoreCommand] != 1 || tr.LastRefused().Reason != gate.IgnoreCommand {
					t.Errorf("banned %v %+v, stats %+v: want the ignorecommand's refusal counted and no ban", banned, d, st)
				}
				return
			}
			if !banned || d.Prefix.String() != "203.0.113.2/32" || st.Ignored != 0 || len(tr.Active()) != 1 {
				t.Errorf("banned %v %+v, stats %+v: want a ban", banned, d, st)
			}
		})
	}
}
