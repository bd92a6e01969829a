package nftables

import (
	"context"
	"slices"
	"strings"
	"time"

	nft "github.com/google/nftables"
)

// carried is the bans Setup moves out of sets it recreates, by the name of
// the set they go into, with that set.
type carried struct {
	sets  map[string]*nft.Set
	items map[string][]item
}

// carriedBans reads the bans of the sets Setup is about to recreate because
// they still have the layout before single addresses moved to hash sets:
// an address set (<name>-v4, <name>-v6) with the interval flag and
// otherwise the shape of a prefix set. Their bans must survive the upgrade
// even before Reconcile runs; each goes where it belongs now, with its
// remaining time. A set it cannot read carries nothing: Reconcile refills
// from the store.
func (f *Firewall) carriedBans(ctx context.Context, have []*nft.Set, wanted map[string]*nft.Set) carried {
	out := carried{sets: map[string]*nft.Set{}, items: map[string][]item{}}
	for _, h := range have {
		want, ok := wanted[h.Name]
		if !ok || want.Interval || sameSet(h, want) {
			continue
		}
		netSet, ok := wanted[netSetName(want.Name)]
		if !ok || !sameSet(h, netSet) {
			continue
		}
		spans, err := f.list(ctx, h)
		if err != nil {
			continue
		}
		for _, s := range spans {
			timeout := time.Duration(0)
			if s.timeout != 0 {
				timeout = ceilMS(s.expires)
			}
			ps, _ := s.prefixes()
			for _, p := range ps {
				to := want
				if kindOf(p).net {
					to = netSet
				}
				out.sets[to.Name] = to
				out.items[to.Name] = append(out.items[to.Name], prefixItem(to, p, timeout))
			}
		}
	}
	return out
}

// restoreCarried adds the carried bans to their new sets, which Setup has
// just created. It is best effort: Setup's layout is in place, and the
// Reconcile that follows every Setup puts back from the store any ban that
// could not be carried (one overlapping a prefix set by hand, say), so a
// failure here must not fail the start.
func (f *Firewall) restoreCarried(ctx context.Context, c carried) {
	names := make([]string, 0, len(c.sets))
	for name := range c.sets {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		set := c.sets[name]
		pipeline := strings.TrimPrefix(set.Comment, ruleComment(""))
		_ = f.apply(ctx, pipeline, set, opAdd, c.items[name])
	}
}
