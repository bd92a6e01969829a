package state

import (
	"encoding/binary"
	"net/netip"
)

// prefixIndex maps prefixes to slots. An IPv4 prefix, a flood's every
// key, is kept under a uint64 (address and length): a map the runtime
// hashes and compares in one step, and less than half the size of one
// keyed by netip.Prefix, so the lookup every failure makes in a flood's
// 100k bans (is its address banned already?) misses the cache less.
// Every other prefix (IPv6, and the invalid ones) is kept as it is.
type prefixIndex struct {
	v4    map[uint64]int32
	other map[netip.Prefix]int32
}

func newPrefixIndex() prefixIndex {
	return prefixIndex{v4: map[uint64]int32{}, other: map[netip.Prefix]int32{}}
}

// v4Key is p's key in the v4 map; false when p is not a valid IPv4 prefix.
func v4Key(p netip.Prefix) (uint64, bool) {
	if !p.IsValid() || !p.Addr().Is4() {
		return 0, false
	}
	a := p.Addr().As4()
	return uint64(binary.BigEndian.Uint32(a[:]))<<8 | uint64(p.Bits()), true // conversion: a length, 0 to 32
}

func (x prefixIndex) get(p netip.Prefix) (int32, bool) {
	if k, ok := v4Key(p); ok {
		i, ok := x.v4[k]
		return i, ok
	}
	i, ok := x.other[p]
	return i, ok
}

func (x prefixIndex) set(p netip.Prefix, i int32) {
	if k, ok := v4Key(p); ok {
		x.v4[k] = i
		return
	}
	x.other[p] = i
}

func (x prefixIndex) remove(p netip.Prefix) {
	if k, ok := v4Key(p); ok {
		delete(x.v4, k)
		return
	}
	delete(x.other, p)
}

func (x prefixIndex) len() int { return len(x.v4) + len(x.other) }
