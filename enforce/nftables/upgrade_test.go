package nftables

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	nft "github.com/google/nftables"

	"github.com/logjail/logjail/state"
)

// oldLayout builds pipeline's table as logjail wrote it before single
// addresses moved to hash sets: one interval,timeout set per family
// (<name>-v4, <name>-v6), each rule looking it up, holding bans.
func oldLayout(t *testing.T, ns *netns, f *Firewall, spec PipelineSpec, bans []Element) {
	t.Helper()
	c := ns.conn(t)
	c.AddTable(f.tableRef())
	ch := c.AddChain(f.chainRef(chainSpec{HookInput, nft.ChainHookInput}))
	for _, v6 := range []bool{false, true} {
		old := f.setRef(spec.Name, setKind{v6: v6, net: true})
		old.Name = f.setRef(spec.Name, setKind{v6: v6}).Name
		var elems []nft.SetElement
		for _, b := range bans {
			if b.Prefix.Addr().Is6() == v6 {
				elems = append(elems, intervalElems(b.Prefix, b.Expires)...)
			}
		}
		if err := c.AddSet(old, elems); err != nil {
			t.Fatal(err)
		}
		if err := f.addRule(c, ch, old, spec, v6); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
}

// An upgrade: Setup on a table of the old layout builds the new one and
// keeps every active ban, each in the set it now belongs in, with its
// remaining time, before any Reconcile; Check then finds nothing amiss and
// the banned address is dropped.
func TestSetupUpgradesOldLayoutKeepingBans(t *testing.T) {
	ns := newNetNS(t)
	f := ns.firewall(t)
	ln := ns.listen(t)
	spec := PipelineSpec{Name: "sshd"}
	bans := []Element{
		elem("127.0.0.2/32", time.Hour),
		elem("192.0.2.7/32", 0), // permanent
		elem("198.51.100.0/24", 2*time.Hour),
		elem("2001:db8::1/128", time.Hour),
		elem("2001:db8:1::/64", 3*time.Hour),
	}
	oldLayout(t, ns, f, spec, bans)
	if got := dial(t, ns, "127.0.0.2", ln.Addr()); got != timedOut {
		t.Fatalf("banned 127.0.0.2 under the old layout: %s", got)
	}

	setup(t, f, spec)
	got, _ := layout(t, ns, DefaultTable)
	want := snapshot{
		Chains: map[string]string{"input": chainInput},
		Sets:   sets("sshd"),
		Rules:  map[string][]string{"input": rules("sshd", "", "drop")},
	}
	if got.String() != want.String() {
		t.Errorf("upgraded layout:\n%s\nwant:\n%s", got, want)
	}
	if err := f.Check(context.Background()); err != nil {
		t.Errorf("Check after the upgrade: %v", err)
	}
	wantElements(t, f, "sshd", bans...)
	for _, k := range setKinds {
		set := f.setRef("sshd", k)
		spans, err := f.list(context.Background(), set)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range spans {
			if ps, _ := s.prefixes(); len(ps) != 1 || kindOf(ps[0]) != k {
				t.Errorf("set %s holds %v, which belongs elsewhere", set.Name, ps)
			}
		}
	}
	if got := dial(t, ns, "127.0.0.2", ln.Addr()); got != timedOut {
		t.Errorf("banned 127.0.0.2 after the upgrade: %s", got)
	}
	if got := dial(t, ns, "127.0.0.3", ln.Addr()); got != connected {
		t.Errorf("bystander 127.0.0.3 after the upgrade: %s", got)
	}
}

// Bans go to the set of their prefix length, and Unban and Reconcile find
// them there: an address in the hash set, a prefix in the interval set; an
// address found in the prefix set (put there by hand) moves.
func TestBansGoToTheirSet(t *testing.T) {
	ns := newNetNS(t)
	f := ns.firewall(t)
	setup(t, f, PipelineSpec{Name: "p"})
	ban(t, f, "p", "192.0.2.1/32", time.Hour)
	ban(t, f, "p", "192.0.2.0/24", time.Hour) // over the address: both stay
	ban(t, f, "p", "2001:db8::1/128", time.Hour)
	ban(t, f, "p", "2001:db8::/64", time.Hour)
	holds := func(k setKind, want ...string) {
		t.Helper()
		spans, err := f.list(context.Background(), f.setRef("p", k))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range spans {
			got = append(got, s.String())
		}
		if len(got) != len(want) || len(want) > 0 && got[0] != want[0] {
			t.Errorf("set %s holds %v, want %v", f.setRef("p", k).Name, got, want)
		}
	}
	holds(setKind{}, "192.0.2.1/32")
	holds(setKind{net: true}, "192.0.2.0/24")
	holds(setKind{v6: true}, "2001:db8::1/128")
	holds(setKind{v6: true, net: true}, "2001:db8::/64")
	unban(t, f, "p", "192.0.2.1/32")
	unban(t, f, "p", "2001:db8::/64")
	holds(setKind{})
	holds(setKind{v6: true, net: true})
	wantElements(t, f, "p", elem("192.0.2.0/24", time.Hour), elem("2001:db8::1/128", time.Hour))

	c := ns.conn(t)
	if err := c.SetAddElements(f.setRef("p", setKind{net: true}), intervalElems(netip.MustParsePrefix("10.0.0.9/32"), 0)); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Reconcile(context.Background(), "p", []state.Decision{decision("p", "10.0.0.9/32", 0)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	holds(setKind{}, "10.0.0.9/32")
	holds(setKind{net: true})
}

// A ban that cannot be carried into its new set is not dropped silently:
// Setup's caller hears ErrNotCarried, naming the set and the ban.
func TestRestoreCarriedReportsWhatItCouldNotCarry(t *testing.T) {
	ns := newNetNS(t)
	f := ns.firewall(t)
	setup(t, f, PipelineSpec{Name: "sshd"})
	gone := f.setRef("gone", setKind{}) // no such set in the kernel
	c := carried{
		sets:  map[string]*nft.Set{gone.Name: gone},
		items: map[string][]item{gone.Name: {prefixItem(gone, netip.MustParsePrefix("192.0.2.7/32"), time.Hour)}},
	}
	err := f.restoreCarried(context.Background(), c)
	if !errors.Is(err, ErrNotCarried) || !strings.Contains(err.Error(), "192.0.2.7") || !strings.Contains(err.Error(), gone.Name) {
		t.Errorf("restoreCarried into a missing set: %v", err)
	}
}
