package nftables

import (
	"context"
	"testing"
	"time"

	nft "github.com/google/nftables"
)

// The ruleset's generation stays while nothing changes and moves with any
// change, logjail's own (a ban) or another program's (a table added), and
// Check remembers the generation it found the table clean at. That a
// change made after a clean Check is still seen is what
// TestCheckRepairsAnyChange proves for every kind of change.
func TestGenerationFollowsChanges(t *testing.T) {
	ns := newNetNS(t)
	f := ns.firewall(t)
	ctx := context.Background()
	setup(t, f, PipelineSpec{Name: "p", Ports: []uint16{22}})
	gen := func() uint32 {
		t.Helper()
		g, err := f.generation(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	g0 := gen()
	if g := gen(); g != g0 {
		t.Fatalf("generation %d, then %d with no change", g0, g)
	}
	if err := f.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if !f.clean || f.cleanGen != g0 {
		t.Errorf("after a clean Check: clean %v at generation %d, want true at %d", f.clean, f.cleanGen, g0)
	}
	ban(t, f, "p", "192.0.2.1/32", time.Hour)
	g1 := gen()
	if g1 == g0 {
		t.Errorf("a ban left the generation at %d", g0)
	}
	c := ns.conn(t)
	c.AddTable(&nft.Table{Name: "other", Family: nft.TableFamilyINet})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	g2 := gen()
	if g2 == g1 {
		t.Errorf("another program's table left the generation at %d", g1)
	}
	if err := f.Check(ctx); err != nil || f.cleanGen != g2 {
		t.Errorf("Check after the changes: %v, clean at generation %d, want nil at %d", err, f.cleanGen, g2)
	}
}
