package nftables

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/logjail/logjail/state"
)

// A reconcile on a listing read before bans and unbans were applied
// (the firewall watch lists without holding up Apply) leaves the sets as
// active says, when active holds those changes: the ban applied after the
// listing stays, the unban stays lifted, an element the listing held that
// active does not is removed, and a missing one is put back.
func TestReconcileListedAfterChanges(t *testing.T) {
	ns := newNetNS(t)
	f := ns.firewall(t)
	setup(t, f, PipelineSpec{Name: "p"})
	ctx := context.Background()
	if err := f.Apply(ctx, []state.Decision{
		decision("p", "192.0.2.1/32", time.Hour), // unbanned after the listing
		decision("p", "192.0.2.2/32", time.Hour), // stays
		decision("p", "192.0.2.3/32", time.Hour), // not active: removed
	}); err != nil {
		t.Fatal(err)
	}
	l := f.List(ctx, "p")
	if err := f.Apply(ctx, []state.Decision{
		unbanDecision("p", "192.0.2.1/32"),
		decision("p", "192.0.2.4/32", 2*time.Hour), // banned after the listing
	}); err != nil {
		t.Fatal(err)
	}
	active := []state.Decision{
		decision("p", "192.0.2.2/32", time.Hour),
		decision("p", "192.0.2.4/32", 2*time.Hour),
		decision("p", "2001:db8::/64", time.Hour), // missing
	}
	if err := f.ReconcileListed(ctx, l, active, time.Now()); err != nil {
		t.Fatal(err)
	}
	wantElements(t, f, "p", elem("192.0.2.2/32", time.Hour), elem("192.0.2.4/32", 2*time.Hour), elem("2001:db8::/64", time.Hour))
	if err := f.ReconcileListed(ctx, &Listing{}, active, time.Now()); err == nil {
		t.Error("a listing of no pipeline reconciled")
	}
}

// BenchmarkListSet measures listing a set of n elements, as the element
// check of the firewall watch does: the kernel walks its hash table from
// the start for each message of the dump, so the time grows faster than n
// (a million elements take longer than the 30 s a netlink exchange may,
// which is why the daemon's element check stops at 250k bans).
//
//	go test -run '^$' -bench ListSet -benchtime 3x ./enforce/nftables/
func BenchmarkListSet(b *testing.B) {
	for _, n := range []int{100_000, 250_000} {
		b.Run(fmt.Sprintf("elements=%d", n), func(b *testing.B) {
			f := newNetNS(b).firewall(b)
			setup(b, f, PipelineSpec{Name: "sshd"})
			applyBans(b, f, 0, n, time.Now())
			set := f.setRef("sshd", setKind{})
			b.ResetTimer()
			for range b.N {
				spans, err := f.list(context.Background(), set)
				if err != nil || len(spans) != n {
					b.Fatalf("%d elements listed (%v), want %d", len(spans), err, n)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/list")
		})
	}
}
