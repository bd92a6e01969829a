package nftables

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/logjail/logjail/state"
)

// BenchmarkBan measures one ban (an element added with its timeout) in a
// test namespace: the cost each ban adds to a pipeline.
//
//	go test -run '^$' -bench Ban -benchtime 2000x ./enforce/nftables/
func BenchmarkBan(b *testing.B) {
	ns := newNetNS(b)
	f := ns.firewall(b)
	setup(b, f, PipelineSpec{Name: "sshd"})
	now := time.Now()
	b.ResetTimer()
	for i := range b.N {
		a := netip.AddrFrom4([4]byte{100, 64 + byte(i>>16&63), byte(i >> 8), byte(i)})
		d := state.Decision{Kind: state.Ban, Pipeline: "sshd", Prefix: netip.PrefixFrom(a, 32), Time: now, Until: now.Add(time.Hour)}
		if err := f.Ban(context.Background(), d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBanBatch is the same through Apply, 100 bans per call.
//
//	go test -run '^$' -bench BanBatch -benchtime 20000x ./enforce/nftables/
func BenchmarkBanBatch(b *testing.B) {
	ns := newNetNS(b)
	f := ns.firewall(b)
	setup(b, f, PipelineSpec{Name: "sshd"})
	now := time.Now()
	var batch []state.Decision
	b.ResetTimer()
	for i := range b.N {
		a := netip.AddrFrom4([4]byte{100, 64 + byte(i>>16&63), byte(i >> 8), byte(i)})
		batch = append(batch, state.Decision{Kind: state.Ban, Pipeline: "sshd", Prefix: netip.PrefixFrom(a, 32), Time: now, Until: now.Add(time.Hour)})
		if len(batch) == 100 || i == b.N-1 {
			if err := f.Apply(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// Apply keeps the order of the decisions across sets and operations: a
// prefix banned then unbanned in one call ends unbanned, a renewed ban gets
// the later timeout, an expired ban is not added.
func TestApplyInOrder(t *testing.T) {
	ns := newNetNS(t)
	f := ns.firewall(t)
	setup(t, f, PipelineSpec{Name: "sshd"}, PipelineSpec{Name: "web"})
	err := f.Apply(context.Background(), []state.Decision{
		decision("sshd", "192.0.2.1/32", time.Hour),
		decision("sshd", "192.0.2.2/32", time.Hour),
		decision("sshd", "2001:db8::/64", 2*time.Hour),
		decision("web", "198.51.100.0/24", 0), // permanent
		unbanDecision("sshd", "192.0.2.2/32"),
		decision("sshd", "192.0.2.1/32", 3*time.Hour),  // renewed
		decision("sshd", "192.0.2.3/32", -time.Minute), // over already
		unbanDecision("sshd", "192.0.2.9/32"),          // absent: fine
	})
	if err != nil {
		t.Fatal(err)
	}
	wantElements(t, f, "sshd", elem("192.0.2.1/32", 3*time.Hour), elem("2001:db8::/64", 2*time.Hour))
	wantElements(t, f, "web", elem("198.51.100.0/24", 0))
}

// A wider ban over narrower prefixes (a /64 decided while a /96 of it is
// banned) replaces them in the interval set rather than failing; single
// addresses live in the hash set and stay beside it.
func TestWiderBanReplacesNarrower(t *testing.T) {
	ns := newNetNS(t)
	f := ns.firewall(t)
	setup(t, f, PipelineSpec{Name: "sshd"})
	ban := func(p string, d time.Duration) state.Decision { return decision("sshd", p, d) }
	ctx := context.Background()
	if err := f.Apply(ctx, []state.Decision{ban("2001:db8:1:2::7/128", time.Hour), ban("2001:db8:1:2::/96", time.Hour), ban("2001:db8:9::1/128", time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := f.Ban(ctx, ban("2001:db8:1:2::/64", 2*time.Hour)); err != nil {
		t.Fatalf("wider ban: %v", err)
	}
	if err := f.Apply(ctx, []state.Decision{ban("192.0.2.16/28", time.Hour), ban("192.0.2.0/24", 2*time.Hour)}); err != nil {
		t.Fatalf("wider ban in a batch: %v", err)
	}
	wantElements(t, f, "sshd", elem("192.0.2.0/24", 2*time.Hour), elem("2001:db8:1:2::/64", 2*time.Hour),
		elem("2001:db8:1:2::7/128", time.Hour), elem("2001:db8:9::1/128", time.Hour))

	// The narrower bans end later (their unbans) without touching the
	// wider one, also when one starts where the wider one starts.
	if err := f.Apply(ctx, []state.Decision{ban("2001:db8:1:3::/96", time.Hour), ban("2001:db8:1:3::/64", 2*time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := f.Apply(ctx, []state.Decision{unbanDecision("sshd", "2001:db8:1:2::7/128"), unbanDecision("sshd", "2001:db8:1:2::/96"),
		unbanDecision("sshd", "2001:db8:1:3::/96"), unbanDecision("sshd", "192.0.2.16/28")}); err != nil {
		t.Fatal(err)
	}
	wantElements(t, f, "sshd", elem("192.0.2.0/24", 2*time.Hour), elem("2001:db8:1:2::/64", 2*time.Hour), elem("2001:db8:1:3::/64", 2*time.Hour), elem("2001:db8:9::1/128", time.Hour))
}

// banRateSizes are the set sizes BenchmarkBanRate measures at: the insert
// rate must stay flat as the set grows (issue 13). Filling the 1M set takes
// a few seconds before the timer starts.
var banRateSizes = []int{10_000, 100_000, 1_000_000}

// BenchmarkBanRate measures bans inserted through Apply in batches of 1,000
// non-adjacent addresses into a set already holding n active bans, and
// reports bans/s. The set is filled before the timer starts.
//
//	go test -run '^$' -bench BanRate -benchtime 20000x ./enforce/nftables/
func BenchmarkBanRate(b *testing.B) {
	for _, n := range banRateSizes {
		b.Run(fmt.Sprintf("active=%d", n), func(b *testing.B) {
			ns := newNetNS(b)
			f := ns.firewall(b)
			setup(b, f, PipelineSpec{Name: "sshd"})
			now := time.Now()
			applyBans(b, f, 0, n, now)
			b.ResetTimer()
			applyBans(b, f, n, b.N, now)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "bans/s")
		})
	}
}

// applyBans bans count addresses from the first'th on, 1,000 per Apply.
// Addresses are every other one of 10.0.0.0/8, so no two are adjacent.
func applyBans(b *testing.B, f *Firewall, first, count int, now time.Time) {
	b.Helper()
	batch := make([]state.Decision, 0, 1000)
	for i := first; i < first+count; i++ {
		n := uint32(2 * i)
		a := netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
		batch = append(batch, state.Decision{Kind: state.Ban, Pipeline: "sshd", Prefix: netip.PrefixFrom(a, 32), Time: now, Until: now.Add(time.Hour)})
		if len(batch) == cap(batch) || i == first+count-1 {
			if err := f.Apply(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// BenchmarkRestore measures a start after a restart: 100k active bans
// (single addresses, as a flood leaves them) reconciled into an empty
// table, as Firewall.Reconcile does for Start; the goal is under
// 2 s. Each run gets a fresh namespace and table, set up before the timer.
//
//	go test -run '^$' -bench Restore -benchtime 3x ./enforce/nftables/
func BenchmarkRestore(b *testing.B) {
	const n = 100_000
	now := time.Now()
	active := make([]state.Decision, n)
	for i := range active {
		u := uint32(2 * i)
		a := netip.AddrFrom4([4]byte{10, byte(u >> 16), byte(u >> 8), byte(u)})
		active[i] = state.Decision{Kind: state.Ban, Pipeline: "sshd", Prefix: netip.PrefixFrom(a, 32), Time: now, Until: now.Add(time.Hour)}
	}
	var elapsed time.Duration
	for range b.N {
		b.StopTimer()
		f := newNetNS(b).firewall(b)
		setup(b, f, PipelineSpec{Name: "sshd"})
		b.StartTimer()
		start := time.Now()
		if err := f.Reconcile(context.Background(), "sshd", active, now); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
		b.StopTimer()
		if got, err := f.Elements("sshd"); err != nil || len(got) != n {
			b.Fatalf("%d elements after the restore (%v), want %d", len(got), err, n)
		}
	}
	b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/restore")
}
