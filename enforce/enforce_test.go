package enforce

import (
	"context"
	"testing"
	"time"

	"github.com/logjail/logjail/state"
)

// counter counts the calls an enforcer gets.
type counter struct{ applies, starts, stops int }

func (c *counter) Start(context.Context, []state.Decision, time.Time) error {
	c.starts++
	return nil
}
func (c *counter) Apply(context.Context, []state.Decision) error { c.applies++; return nil }
func (c *counter) Stop()                                         { c.stops++ }

// repairable is a counter that can be repaired, as the firewall can.
type repairable struct {
	counter
	repairs int
}

func (r *repairable) Repair(context.Context, []state.Decision, time.Time) error {
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
			if err := Repair(context.Background(), tc.e, nil, time.Now()); err != nil {
				t.Fatal(err)
			}
			if fw.repairs != 1 || fw.counter != (counter{}) || *action != (counter{}) {
				t.Errorf("firewall %+v, action %+v: want one repair and nothing else", fw, action)
			}
		})
	}
}

// A Multi gives each lifecycle step to every enforcer, however nested.
func TestMultiLifecycle(t *testing.T) {
	a, b := &counter{}, &counter{}
	m := Multi{a, Multi{b}}
	ctx := context.Background()
	if err := m.Start(ctx, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(ctx, []state.Decision{{Kind: state.Ban}}); err != nil {
		t.Fatal(err)
	}
	m.Stop()
	for _, c := range []*counter{a, b} {
		if *c != (counter{applies: 1, starts: 1, stops: 1}) {
			t.Errorf("%+v: want one of each", *c)
		}
	}
}

// OneByOne gives each decision to ban or unban by its kind, in order.
func TestOneByOne(t *testing.T) {
	var got []state.Kind
	rec := func(_ context.Context, d state.Decision) error { got = append(got, d.Kind); return nil }
	ds := []state.Decision{{Kind: state.Ban}, {Kind: state.Unban}, {Kind: state.Ban}}
	if err := OneByOne(context.Background(), ds, rec, rec); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != state.Ban || got[1] != state.Unban || got[2] != state.Ban {
		t.Errorf("got %v", got)
	}
}
