package nftables

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	nft "github.com/google/nftables"

	"github.com/logjail/logjail/state"
)

// Repair is Reconcile: the firewall watch's way to put back what another
// program removed.
func (f *Firewall) Repair(ctx context.Context, pipeline string, active []state.Decision, now time.Time) error {
	return f.Reconcile(ctx, pipeline, active, now)
}

// Reconcile makes pipeline's sets hold exactly active at now: it deletes
// kernel elements not in active (or in the wrong set: an address in a
// prefix set), adds missing ones with their remaining time, and refreshes
// those whose kernel timeout is off by more than a little. Expired
// decisions count as inactive; of duplicates the longest ban wins;
// d.Pipeline is not consulted. It goes on past failures and returns them
// all, each naming its element.
func (f *Firewall) Reconcile(ctx context.Context, pipeline string, active []state.Decision, now time.Time) error {
	return f.ReconcileListed(ctx, f.List(ctx, pipeline), active, now)
}

// Listing is what a pipeline's sets held when List read them.
type Listing struct {
	pipeline string
	spans    [][]span // of each of setKinds
	errs     []error
}

// List reads pipeline's sets for ReconcileListed. It takes no lock, so
// Apply goes on meanwhile: listing a set costs the kernel more than its
// size (each message of the dump walks the hash table from its start: a
// million elements take seconds), and bans must not wait for that.
func (f *Firewall) List(ctx context.Context, pipeline string) *Listing {
	l := &Listing{pipeline: pipeline}
	for _, k := range setKinds {
		spans, err := f.list(ctx, f.setRef(pipeline, k))
		l.spans = append(l.spans, spans)
		l.errs = append(l.errs, err)
	}
	return l
}

// ReconcileListed is Reconcile on the sets as List read them. What was
// applied to them since does no harm when active is up to date (it holds
// the bans decided since): a ban is added again (an element that exists is
// kept as it is) and an unban deleted again (an absent element is no error).
func (f *Firewall) ReconcileListed(ctx context.Context, l *Listing, active []state.Decision, now time.Time) error {
	if l.pipeline == "" {
		return errors.New("nftables: reconcile without pipeline")
	}
	want, errs := wantedBans(l.pipeline, active, now)
	mu.Lock()
	defer mu.Unlock()
	for i, k := range setKinds {
		set := f.setRef(l.pipeline, k)
		if err := l.errs[i]; err != nil {
			errs = append(errs, fmt.Errorf("nftables: pipeline %q: reconcile: list set %s: %w", l.pipeline, set.Name, err))
			continue
		}
		errs = append(errs, f.reconcileSet(ctx, l.pipeline, set, k, l.spans[i], want))
	}
	return errors.Join(errs...)
}

// wantedBans maps active's normalized prefixes to their remaining time at
// now (0: permanent), the longest of duplicates; expired bans are left out.
func wantedBans(pipeline string, active []state.Decision, now time.Time) (map[netip.Prefix]time.Duration, []error) {
	var errs []error
	want := map[netip.Prefix]time.Duration{}
	for _, d := range active {
		p, err := normalize(d.Prefix)
		if err != nil {
			errs = append(errs, fmt.Errorf("nftables: pipeline %q: reconcile: %w", pipeline, err))
			continue
		}
		if d.Permanent() {
			want[p] = 0
			continue
		}
		r := ceilMS(d.Remaining(now))
		if old, ok := want[p]; r == 0 || ok && (old == 0 || old >= r) {
			continue
		}
		want[p] = r
	}
	return want, errs
}

// reconcileSet makes set, of kind k, which held spans, hold exactly the
// prefixes of want that belong in it.
func (f *Firewall) reconcileSet(ctx context.Context, pipeline string, set *nft.Set, k setKind, spans []span, want map[netip.Prefix]time.Duration) error {
	var del, add, refresh []item
	have := map[netip.Prefix]bool{}
	for _, s := range spans {
		ps, exact := s.prefixes()
		if !exact || kindOf(ps[0]) != k {
			del = append(del, spanItem(set, s))
			continue
		}
		t, ok := want[ps[0]]
		if !ok {
			del = append(del, spanItem(set, s))
			continue
		}
		have[ps[0]] = true
		if !sameExpiry(s, t) {
			refresh = append(refresh, prefixItem(set, ps[0], t))
		}
	}
	var missing []netip.Prefix
	for p := range want {
		if kindOf(p) == k && !have[p] {
			missing = append(missing, p)
		}
	}
	slices.SortFunc(missing, comparePrefix)
	for _, p := range missing {
		add = append(add, prefixItem(set, p, want[p]))
	}
	// Deletions first: they may make room for an overlapping addition.
	return errors.Join(
		f.apply(ctx, pipeline, set, opDelete, del),
		f.apply(ctx, pipeline, set, opAdd, add),
		f.apply(ctx, pipeline, set, opRefresh, refresh))
}

// sameExpiry reports whether the kernel's span already ends as timeout wants.
func sameExpiry(s span, timeout time.Duration) bool {
	if timeout == 0 || s.timeout == 0 {
		return timeout == s.timeout
	}
	d := s.expires - timeout
	return d <= expiryTolerance && d >= -expiryTolerance
}
