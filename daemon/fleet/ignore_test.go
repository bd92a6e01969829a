package fleet

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	enfnats "github.com/logjail/logjail/enforce/nats"
	"github.com/logjail/logjail/state"
	"github.com/logjail/logjail/state/gate"
)

// A ban from the fleet passes the whole gate, the ignorecommand included:
// an address the command passes is never adopted, and the refusal is
// counted under its rule. The command runs a program, so it is asked only
// about a ban that would be adopted: not about one the other rules refuse,
// a duplicate, an expired ban or one already in force here, nor about a
// prefix (it is given addresses).
func TestAdoptAsksTheIgnoreCommand(t *testing.T) {
	const passed = "203.0.113.1"
	expired := with(ban("b", "203.0.113.2", 32), func(e *enfnats.Event) {
		until := adoptNow.Add(-time.Second)
		e.Until = &until
	})
	inForce := state.Decision{Kind: state.Ban, Pipeline: "sshd", Prefix: netip.MustParsePrefix("203.0.113.9/32"), Time: adoptNow, Until: adoptNow.Add(2 * time.Hour)}
	for _, tc := range []struct {
		name    string
		events  []enfnats.Event
		applied []string // prefixes adopted
		asked   []string // addresses the command was asked about
		refused uint64   // the command's refusals
	}{
		{"passed by the command", []enfnats.Event{ban("b", passed, 32)}, nil, []string{passed}, 1},
		{"mapped, passed by the command", []enfnats.Event{ban("b", "::ffff:"+passed, 128)}, nil, []string{passed}, 1},
		{"own ban replayed, passed by the command", []enfnats.Event{ban("self", passed, 32)}, nil, []string{passed}, 1},
		{"another address", []enfnats.Event{ban("b", "203.0.113.2", 32)}, []string{"203.0.113.2/32"}, []string{"203.0.113.2"}, 0},
		{"duplicate asked once", []enfnats.Event{ban("b", "203.0.113.2", 32), ban("c", "203.0.113.2", 32)}, []string{"203.0.113.2/32"}, []string{"203.0.113.2"}, 0},
		{"expired not asked", []enfnats.Event{expired}, nil, nil, 0},
		{"already in force not asked", []enfnats.Event{ban("b", "203.0.113.9", 32)}, nil, nil, 0},
		{"NATS server not asked", []enfnats.Event{ban("b", natsServer.String(), 32)}, nil, nil, 0},
		{"prefix not asked", []enfnats.Event{ban("b", "2001:db8:1:2::", 64)}, []string{"2001:db8:1:2::/64"}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var asked []string
			tr := testTrackerAsking(func(a netip.Addr) bool {
				asked = append(asked, a.String())
				return a.String() == passed
			})
			tr.Record(inForce)
			p := &fakePipeline{tracker: tr, now: adoptNow}
			testFleet(&fakeDirectory{running: map[string]Pipeline{"sshd": p}, shared: map[string]bool{"sshd": true}}).adopt(context.Background(), tc.events)
			var applied []string
			for _, d := range p.applied {
				applied = append(applied, d.Prefix.String())
			}
			if !slices.Equal(applied, tc.applied) {
				t.Errorf("adopted %q, want %q", applied, tc.applied)
			}
			if !slices.Equal(asked, tc.asked) {
				t.Errorf("ignorecommand asked about %q, want %q", asked, tc.asked)
			}
			if n := tr.Stats().Refused[gate.IgnoreCommand]; n != tc.refused {
				t.Errorf("ignorecommand refusals %d, want %d", n, tc.refused)
			}
		})
	}
}
