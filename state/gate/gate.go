// Package gate decides whether an address may be banned. Every path that
// bans (a failure counted from a log, a manual ban, a ban adopted from the
// fleet, a ban restored from the store or an import) asks the same Rules,
// so no path can aim a ban at an address another path refuses.
package gate

import (
	"net/netip"
	"slices"
	"sync/atomic"
)

// Reason names the rule that refused an address; "" admits it.
type Reason string

// The rules, in the order they are asked.
const (
	// NotHost: no attacker's own address (unspecified, broadcast,
	// multicast, link-local incl. 169.254.0.0/16 cloud metadata,
	// loopback), or a prefix holding one.
	NotHost Reason = "not_host"
	// TooWide: a prefix wider than the pipeline counts and bans by.
	TooWide Reason = "too_wide"
	// NATSServer: a NATS server logjail uses (banning it cuts logjail
	// off from the fleet, the ban events or its log source).
	NATSServer Reason = "nats_server"
	// IgnoreSelf: an address of this host (ignoreself).
	IgnoreSelf Reason = "ignoreself"
	// IgnoreIP: in the pipeline's ignoreip.
	IgnoreIP Reason = "ignoreip"
	// IgnoreCommand: the pipeline's ignorecommand passed it.
	IgnoreCommand Reason = "ignorecommand"
)

// Reasons lists every reason, for status and metrics.
var Reasons = []Reason{NotHost, TooWide, NATSServer, IgnoreSelf, IgnoreIP, IgnoreCommand}

// nonHost are the ranges no ban may touch.
var nonHost = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),          // "this network", unspecified
	netip.MustParsePrefix("127.0.0.0/8"),        // loopback, all of it
	netip.MustParsePrefix("169.254.0.0/16"),     // link-local, cloud metadata
	netip.MustParsePrefix("224.0.0.0/4"),        // multicast
	netip.MustParsePrefix("255.255.255.255/32"), // broadcast
	netip.MustParsePrefix("::/128"),             // unspecified
	netip.MustParsePrefix("::1/128"),            // loopback
	netip.MustParsePrefix("fe80::/10"),          // link-local
	netip.MustParsePrefix("ff00::/8"),           // multicast
}

// Canonical unmaps an IPv4-mapped prefix (::ffff:a.b.c.d/128 is
// a.b.c.d/32), drops a zone and masks the host bits: every rule compares
// canonical prefixes, so no spelling slips past one.
func Canonical(p netip.Prefix) netip.Prefix {
	a, bits := p.Addr(), p.Bits()
	if !p.IsValid() {
		return netip.Prefix{}
	}
	if a.Is4In6() {
		a, bits = a.Unmap(), max(bits-96, 0)
	}
	return netip.PrefixFrom(a.WithZone(""), bits).Masked()
}

// Single is addr as a canonical single-address prefix.
func Single(addr netip.Addr) netip.Prefix {
	return Canonical(netip.PrefixFrom(addr, addr.BitLen()))
}

// HostAddress reports whether a could be an attacker's own address.
func HostAddress(a netip.Addr) bool {
	return a.IsValid() && a.Zone() == "" && !overlapsAny(nonHost, Single(a))
}

// overlapsAny reports whether p overlaps one of ps. A single address (what
// every failure asks about) overlaps a prefix that contains it: Contains
// is the cheaper test.
func overlapsAny(ps []netip.Prefix, p netip.Prefix) bool {
	if p.IsSingleIP() {
		a := p.Addr()
		for _, q := range ps {
			if q.Contains(a) {
				return true
			}
		}
		return false
	}
	return slices.ContainsFunc(ps, p.Overlaps)
}

// Addresses is a set of addresses a rule keeps from bans (this host's,
// the NATS servers'); it may change while logjail runs.
type Addresses interface {
	// Overlaps reports whether p holds one of the addresses.
	Overlaps(p netip.Prefix) bool
}

// Set is an Addresses replaced as a whole (the NATS servers, resolved at
// start and on reload); safe for concurrent use.
type Set struct {
	v atomic.Pointer[[]netip.Prefix]
}

// NewSet returns a set of ps.
func NewSet(ps ...netip.Prefix) *Set {
	s := &Set{}
	s.Store(ps)
	return s
}

// Store replaces the set's prefixes.
func (s *Set) Store(ps []netip.Prefix) {
	c := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if p = Canonical(p); p.IsValid() {
			c = append(c, p)
		}
	}
	s.v.Store(&c)
}

// Prefixes returns the set's prefixes.
func (s *Set) Prefixes() []netip.Prefix {
	if s == nil {
		return nil
	}
	if v := s.v.Load(); v != nil {
		return *v
	}
	return nil
}

// Overlaps implements Addresses.
func (s *Set) Overlaps(p netip.Prefix) bool { return overlapsAny(s.Prefixes(), p) }

// Rules are one pipeline's gate.
type Rules struct {
	// IPv4Bits and IPv6Bits are the widest prefixes the pipeline bans
	// (its ipv4_prefix and ipv6_prefix); 0 means single addresses.
	IPv4Bits, IPv6Bits int
	// Servers are the NATS servers' addresses; nil for none.
	Servers Addresses
	// Self are this host's addresses; nil when ignoreself is off.
	Self Addresses
	// IgnoreIP is the pipeline's ignoreip.
	IgnoreIP []netip.Prefix
	// Command is the pipeline's ignorecommand: true keeps the address
	// from bans. nil for none. It runs a program: only Admit asks it.
	Command func(netip.Addr) bool
}

// Widest is the widest prefix length the rules admit for addr's family.
func (r *Rules) Widest(addr netip.Addr) int {
	bits := addr.BitLen()
	switch {
	case addr.Is4() && r.IPv4Bits > 0:
		bits = min(bits, r.IPv4Bits)
	case addr.Is6() && r.IPv6Bits > 0:
		bits = min(bits, r.IPv6Bits)
	}
	return bits
}

// Check asks every rule but the ignorecommand about p, which must be
// canonical (see Canonical): the checks cheap enough for every failure.
func (r *Rules) Check(p netip.Prefix) Reason {
	switch a := p.Addr(); {
	case !p.IsValid() || a.Zone() != "" || a.Is4In6() || overlapsAny(nonHost, p):
		return NotHost
	case p.Bits() < r.Widest(a):
		return TooWide
	case r.Servers != nil && r.Servers.Overlaps(p):
		return NATSServer
	case r.Self != nil && r.Self.Overlaps(p):
		return IgnoreSelf
	case overlapsAny(r.IgnoreIP, p):
		return IgnoreIP
	}
	return ""
}

// Admit asks every rule about p (canonical), the ignorecommand last and
// for single addresses only (it is given an address, not a prefix).
func (r *Rules) Admit(p netip.Prefix) Reason {
	if why := r.Check(p); why != "" {
		return why
	}
	if r.Command != nil && p.IsSingleIP() && r.Command(p.Addr()) {
		return IgnoreCommand
	}
	return ""
}
