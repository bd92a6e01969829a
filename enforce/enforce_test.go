package enforce

import (
	"context"
	"testing"
	"time"

	"github.com/logjail/logjail/state"
)

// counter counts the calls an enforcer gets.
type counter struct{ bans, reconciles int }

func (c *counter) Ban(context.Context, state.Decision) error   { c.bans++; return nil }
func (c *counter) Unban(context.Context, state.Decision) error { return nil }
func (c *counter) Reconcile(context.Context, string, []state.Decision, time.Time) error {
	c.reconciles++
	return nil
}

// repairable is a counter that can be repaired, as the firewall can.
type repairable struct {
	counter
	repairs int
}

func (r *repairable) Repair(context.Context, string, []state.Decision, time.Time) error {
	r.repairs++
	return nil
}

// Repair reaches the repairable enforcers however nested, and no other.
func TestRepairOnlyRepairers(t *testing.T) {
	action, fw := &counter{}, &repairable{}
	for _, tc := range []struct {
		name string
		e    Enforcer
	}{
		{"alone", fw},
		{"beside an action", Multi{action, fw}},
		{"nested", Multi{Multi{action}, Multi{fw}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			*action, *fw = counter{}, repairable{}
			if err := Repair(context.Background(), tc.e, "p", nil, time.Now()); err != nil {
				t.Fatal(err)
			}
			if fw.repairs != 1 || fw.reconciles != 0 || action.bans != 0 || action.reconciles != 0 {
				t.Errorf("firewall %+v, action %+v: want one repair and nothing else", fw, action)
			}
		})
	}
}
