package nftables

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"time"

	nft "github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/logjail/logjail/state"
)

// maxBatch is how many prefixes go into one netlink batch. Two limits: a
// message's element list is one attribute with a 16-bit length, which the
// netlink package wraps around silently (the kernel then sees a truncated
// list), and a whole batch must fit the socket's default send buffer (~200
// KiB). An IPv6 prefix takes at most 76 bytes, so 500 make a 38 KB list and
// a refresh (three lists) about 110 KB. TestBatchFits checks both.
const maxBatch = 500

// expiryTolerance is how far a kernel element's remaining time may be off
// before Reconcile refreshes it; it absorbs the time between the store's now
// and the kernel's clock.
const expiryTolerance = 2 * time.Second

// Element is a ban in the kernel.
type Element struct {
	Prefix netip.Prefix
	// Expires is the ban's remaining time; 0 for a ban without timeout.
	Expires time.Duration
}

// normalize maps p to the key the sets hold: masked, IPv4-mapped IPv6 as
// IPv4 (the kernel sees such clients as IPv4; a shorter prefix around the
// mapped range stays IPv6). /0 is refused: banning everyone is never what a
// pipeline means.
func normalize(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() {
		return netip.Prefix{}, fmt.Errorf("invalid prefix %q", p)
	}
	p = p.Masked()
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	if p.Bits() == 0 {
		return netip.Prefix{}, fmt.Errorf("refusing to ban %s: every address", p)
	}
	return p, nil
}

// ceilMS rounds d up to whole milliseconds, the kernel's timeout unit: a
// remaining 0.4ms must not become timeout 0, which means "never expires".
func ceilMS(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

func key(a netip.Addr) []byte { return a.AsSlice() }

// lastAddr is the highest address in p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// intervalElems encodes p as the interval set's elements: the start, which
// carries the timeout, and the exclusive end flagged as interval end (with no
// timeout: the kernel keeps none on end elements). A prefix reaching the top
// of the address space has no end element, as nft does it.
func intervalElems(p netip.Prefix, timeout time.Duration) []nft.SetElement {
	elems := []nft.SetElement{{Key: key(p.Addr()), Timeout: timeout}}
	if end := lastAddr(p).Next(); end.IsValid() {
		elems = append(elems, nft.SetElement{Key: key(end), IntervalEnd: true})
	}
	return elems
}

// span is an interval as the kernel holds it: [start, end), end invalid
// meaning up to the top of the address space.
type span struct {
	start, end netip.Addr
	timeout    time.Duration // 0: none
	expires    time.Duration
}

// prefixes splits s into the fewest CIDR prefixes; exact says whether s is one.
func (s span) prefixes() (ps []netip.Prefix, exact bool) {
	for a := s.start; a.IsValid() && (!s.end.IsValid() || a.Less(s.end)); {
		bits := a.BitLen()
		for b := 0; b < a.BitLen(); b++ {
			p := netip.PrefixFrom(a, b)
			if p.Masked().Addr() == a && (!s.end.IsValid() || lastAddr(p).Less(s.end)) {
				bits = b
				break
			}
		}
		p := netip.PrefixFrom(a, bits)
		ps = append(ps, p)
		a = lastAddr(p).Next()
	}
	return ps, len(ps) == 1
}

func (s span) elems() []nft.SetElement {
	elems := []nft.SetElement{{Key: key(s.start)}}
	if s.end.IsValid() {
		elems = append(elems, nft.SetElement{Key: key(s.end), IntervalEnd: true})
	}
	return elems
}

func (s span) String() string {
	if ps, exact := s.prefixes(); exact {
		return ps[0].String()
	}
	if !s.end.IsValid() {
		return s.start.String() + "-top"
	}
	return s.start.String() + "-" + s.end.Prev().String()
}

// list reads set's intervals. The kernel lists start and end elements
// separately; each start pairs with the lowest end above it (intervals never
// overlap). Ends without a start (nft's historic 0.0.0.0 end, the end of an
// expired start not yet collected) are dropped. A hash set's elements are
// single addresses.
func (f *Firewall) list(ctx context.Context, set *nft.Set) ([]span, error) {
	c, err := f.listConn(ctx)
	if err != nil {
		return nil, err
	}
	elems, err := c.GetSetElements(set)
	if err != nil {
		return nil, err
	}
	var starts []span
	var ends []netip.Addr
	for _, e := range elems {
		a, ok := netip.AddrFromSlice(e.Key)
		if !ok {
			return nil, fmt.Errorf("element with %d-byte key", len(e.Key))
		}
		if e.IntervalEnd {
			ends = append(ends, a)
			continue
		}
		s := span{start: a, timeout: e.Timeout}
		if !set.Interval {
			s.end = a.Next() // a hash set's element is one address
		}
		if e.Timeout != 0 {
			// Expires 0 would read as "no timeout"; it is just about over.
			s.expires = max(e.Expires, time.Millisecond)
		}
		starts = append(starts, s)
	}
	slices.SortFunc(ends, netip.Addr.Compare)
	slices.SortFunc(starts, func(a, b span) int { return a.start.Compare(b.start) })
	if !set.Interval {
		return starts, nil
	}
	for i := range starts {
		j := sort.Search(len(ends), func(j int) bool { return starts[i].start.Less(ends[j]) })
		if j < len(ends) {
			starts[i].end = ends[j]
		}
	}
	return starts, nil
}

// Elements lists pipeline's bans in the kernel, IPv4 first, by address
// (of both sets of a family). For tests and status; a range not added by
// logjail shows as its prefixes.
func (f *Firewall) Elements(pipeline string) ([]Element, error) {
	mu.Lock()
	defer mu.Unlock()
	var out []Element
	for _, k := range setKinds {
		set := f.setRef(pipeline, k)
		spans, err := f.list(context.Background(), set)
		if err != nil {
			return nil, fmt.Errorf("nftables: pipeline %q: list set %s: %w", pipeline, set.Name, err)
		}
		for _, s := range spans {
			ps, _ := s.prefixes()
			for _, p := range ps {
				out = append(out, Element{Prefix: p, Expires: s.expires})
			}
		}
	}
	// Families stay apart: comparePrefix orders IPv4 before IPv6.
	slices.SortStableFunc(out, func(a, b Element) int { return comparePrefix(a.Prefix, b.Prefix) })
	return out, nil
}

// op is what a batch does with its items.
type op int

const (
	opAdd     op = iota // add; an existing equal element is kept as it is
	opDelete            // delete; an absent element is no error
	opRefresh           // add, delete, add: the element exists afterwards with the new timeout, whether or not it did before
)

func (o op) String() string {
	return [...]string{"add", "delete", "refresh"}[o]
}

// item is one prefix (or kernel range) of a batch.
type item struct {
	what  string           // for errors
	add   []nft.SetElement // start (with timeout) and end
	inter []nft.SetElement // the same keys without timeout, for deletion
}

// prefixItem is p in set: an interval in an interval set, a key in a hash set.
func prefixItem(set *nft.Set, p netip.Prefix, timeout time.Duration) item {
	if !set.Interval {
		return item{what: p.String(), add: []nft.SetElement{{Key: key(p.Addr()), Timeout: timeout}}, inter: []nft.SetElement{{Key: key(p.Addr())}}}
	}
	return item{what: p.String(), add: intervalElems(p, timeout), inter: intervalElems(p, 0)}
}

// spanItem is the kernel's element s of set, for deletion.
func spanItem(set *nft.Set, s span) item {
	if !set.Interval {
		return item{what: s.String(), inter: []nft.SetElement{{Key: key(s.start)}}}
	}
	return item{what: s.String(), inter: s.elems()}
}

// flush sends items as one batch: all or nothing.
func (f *Firewall) flush(ctx context.Context, set *nft.Set, o op, items []item) error {
	c, err := f.conn(ctx)
	if err != nil {
		return err
	}
	var add, del []nft.SetElement
	for _, it := range items {
		add = append(add, it.add...)
		del = append(del, it.inter...)
	}
	switch o {
	case opAdd:
		err = c.SetAddElements(set, add)
	case opDelete:
		err = c.SetDeleteElements(set, del)
	case opRefresh:
		// The first add is a no-op if the element exists and creates it
		// otherwise, so the delete always finds it, and the second add
		// sets the new timeout; the batch is atomic, so the ban never
		// lapses in between.
		err = errors.Join(c.SetAddElements(set, add), c.SetDeleteElements(set, del), c.SetAddElements(set, add))
	}
	if err != nil {
		return err
	}
	return c.Flush()
}

// clearInside makes room for a wider ban: an interval set cannot hold a
// prefix over narrower ones (a /64 decided while one of its addresses is
// banned on its own), so the narrower elements inside it.what go; the
// wider ban covers them. It reports whether it removed any.
func (f *Firewall) clearInside(ctx context.Context, set *nft.Set, it item) bool {
	p, err := netip.ParsePrefix(it.what)
	if err != nil {
		return false
	}
	spans, err := f.list(ctx, set)
	if err != nil {
		return false
	}
	var inside []item
	for _, s := range spans {
		ps, _ := s.prefixes()
		for _, q := range ps {
			if q.Bits() > p.Bits() && p.Contains(q.Addr()) {
				inside = append(inside, spanItem(set, s))
				break
			}
		}
	}
	if len(inside) == 0 {
		return false
	}
	return f.flush(ctx, set, opDelete, inside) == nil
}

// ignorable reports errors that mean the work is done: deleting an absent element.
func ignorable(o op, err error) bool { return o == opDelete && errors.Is(err, unix.ENOENT) }

// apply runs items in batches of maxBatch; a failed batch is retried item by
// item so that one bad element does not block the rest. The error names
// every element that failed.
func (f *Firewall) apply(ctx context.Context, pipeline string, set *nft.Set, o op, items []item) error {
	var errs []error
	fail := func(it item, err error) {
		errs = append(errs, elemErr(pipeline, set.Name, o.String(), it.what, err))
	}
	for chunk := range slices.Chunk(items, maxBatch) {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("nftables: pipeline %q: set %s: %s: %w", pipeline, set.Name, o, err))
			break
		}
		err := f.flush(ctx, set, o, chunk)
		if err == nil || ignorable(o, err) && len(chunk) == 1 {
			continue
		}
		for _, it := range chunk {
			if len(chunk) > 1 {
				err = f.flush(ctx, set, o, []item{it})
			}
			if err != nil && o == opRefresh && errors.Is(err, unix.EEXIST) && f.clearInside(ctx, set, it) {
				err = f.flush(ctx, set, o, []item{it})
			}
			if err != nil && !ignorable(o, err) {
				fail(it, err)
			}
		}
	}
	return errors.Join(errs...)
}

// elemErr names pipeline, set and element. Of a failed batch's errors it
// keeps the first, the cause (later messages often fail only because of it),
// with a hint for the usual ones.
func elemErr(pipeline, set, what, elem string, err error) error {
	err = cause(err)
	switch {
	case errors.Is(err, unix.ENOENT):
		err = fmt.Errorf("%w (set missing? Setup configures the pipeline's sets)", err)
	case errors.Is(err, unix.EEXIST):
		err = fmt.Errorf("%w (overlaps another prefix in the set)", err)
	}
	return fmt.Errorf("nftables: pipeline %q: set %s: %s %s: %w", pipeline, set, what, elem, err)
}

// target resolves a decision to its normalized prefix and set.
func (f *Firewall) target(d state.Decision) (netip.Prefix, *nft.Set, error) {
	if d.Pipeline == "" {
		return netip.Prefix{}, nil, fmt.Errorf("nftables: decision for %s without pipeline", d.Prefix)
	}
	p, err := normalize(d.Prefix)
	if err != nil {
		return netip.Prefix{}, nil, fmt.Errorf("nftables: pipeline %q: %w", d.Pipeline, err)
	}
	return p, f.setRef(d.Pipeline, kindOf(p)), nil
}

// Ban adds d.Prefix to its pipeline's set with the ban's remaining time as
// timeout (none for a permanent ban). A prefix already banned gets the new
// timeout, longer or shorter. A ban already over is lifted instead.
func (f *Firewall) Ban(ctx context.Context, d state.Decision) error {
	p, set, err := f.target(d)
	if err != nil {
		return err
	}
	var timeout time.Duration
	if !d.Permanent() {
		if timeout = ceilMS(d.Remaining(time.Now())); timeout == 0 {
			return f.Unban(ctx, d)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	return f.apply(ctx, d.Pipeline, set, opRefresh, []item{prefixItem(set, p, timeout)})
}

// Apply bans and unbans many prefixes with as few netlink transactions as
// their order allows: consecutive decisions for the same set and operation
// go into one batch. A kernel commit costs milliseconds whatever its size,
// so a wave of bans is applied at the rate of batches, not of bans.
func (f *Firewall) Apply(ctx context.Context, ds []state.Decision) error {
	var errs []error
	var set *nft.Set
	var o op
	var pipeline string
	var items []item
	send := func() {
		if len(items) > 0 {
			if err := f.apply(ctx, pipeline, set, o, items); err != nil && !ignorable(o, err) {
				errs = append(errs, err)
			}
		}
		items = items[:0]
	}
	mu.Lock()
	defer mu.Unlock()
	now := time.Now()
	for _, d := range ds {
		p, s, err := f.target(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		next, timeout := opDelete, time.Duration(0)
		if d.Kind == state.Ban {
			next = opRefresh
			if !d.Permanent() {
				if timeout = ceilMS(d.Remaining(now)); timeout == 0 {
					next = opDelete // over already
				}
			}
		}
		if set == nil || s.Name != set.Name || next != o || d.Pipeline != pipeline {
			send()
			set, o, pipeline = s, next, d.Pipeline
		}
		items = append(items, prefixItem(s, p, timeout))
	}
	send()
	return errors.Join(errs...)
}

// Unban removes d.Prefix from its pipeline's set; an absent prefix (or set)
// is success.
func (f *Firewall) Unban(ctx context.Context, d state.Decision) error {
	p, set, err := f.target(d)
	if err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	if err := f.flush(ctx, set, opDelete, []item{prefixItem(set, p, 0)}); err != nil && !ignorable(opDelete, err) {
		return elemErr(d.Pipeline, set.Name, "unban", p.String(), err)
	}
	return nil
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}
