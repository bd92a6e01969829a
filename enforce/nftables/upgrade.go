package nftables

import (
	"context"
	"errors"
	"fmt"
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

// ErrNotCarried marks a Setup whose layout is in place but which could not
// move some bans of the earlier layout into it. Nothing is lost: the
// Reconcile that follows every Setup puts back from the store any ban not
// carried (one overlapping a prefix set by hand, say), so a caller logs
// this and goes on.
var ErrNotCarried = errors.New("nftables: some bans of the earlier layout were not carried into the new sets (the reconcile that follows restores them from the state store)")

// restoreCarried adds the carried bans to their new sets, which Setup has
// just created; see ErrNotCarried for what a failure means.
func (f *Firewall) restoreCarried(ctx context.Context, c carried) error {
	names := make([]string, 0, len(c.sets))
	for name := range c.sets {
		names = append(names, name)
	}
	slices.Sort(names)
	var errs []error
	for _, name := range names {
		set := c.sets[name]
		pipeline := strings.TrimPrefix(set.Comment, ruleComment(""))
		if err := f.apply(ctx, pipeline, set, opAdd, c.items[name]); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrNotCarried, errors.Join(errs...))
	}
	return nil
}
