package state

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// prefixIndex maps prefixes to slots. An IPv4 prefix, a flood's every
// key, is kept under a uint64 (address and length): a map the runtime
// hashes and compares in one step, and less than half the size of one
// keyed by netip.Prefix. Every other prefix (IPv6, and the invalid ones)
// is kept as it is.
//
// In a flood every failure asks whether its address is banned already,
// among 100k bans: the answer is nearly always no, and a map lookup that
// large misses the cache. So a bitset of hashes (a one-hash Bloom filter,
// about 8 bits per key, small enough to stay in cache) answers most of
// the noes: a clear bit means the key is not there. A removed key's bit
// stays set until the bitset is rebuilt, which it is when it grows or
// once removals outnumber the keys.
type prefixIndex struct {
	v4    map[uint64]int32
	other map[netip.Prefix]int32
	maybe []uint64 // the bitset; its length a power of two
	// removed counts the removals since the bitset was last rebuilt.
	removed int
}

// minMaybeWords is the smallest bitset: 4 KiB.
const minMaybeWords = 512

func newPrefixIndex() prefixIndex {
	return prefixIndex{v4: map[uint64]int32{}, other: map[netip.Prefix]int32{}, maybe: make([]uint64, minMaybeWords)}
}

// v4Key is p's key in the v4 map; false when p is not a valid IPv4 prefix.
func v4Key(p netip.Prefix) (uint64, bool) {
	if !p.IsValid() || !p.Addr().Is4() {
		return 0, false
	}
	a := p.Addr().As4()
	return uint64(binary.BigEndian.Uint32(a[:]))<<8 | uint64(p.Bits()), true // conversion: a length, 0 to 32
}

// bit is p's place in a bitset of words words (a power of two).
func bit(p netip.Prefix, words int) (word int, mask uint64) {
	a := p.Addr().As16()
	h := binary.BigEndian.Uint64(a[:8])*0x9e3779b97f4a7c15 ^ binary.BigEndian.Uint64(a[8:])
	h = (h ^ uint64(p.Bits()+1)) * 0xff51afd7ed558ccd // conversion: a length, -1 to 128
	h ^= h >> 29
	n := uint64(words) * 64 // conversion: a length
	i := (h * 0xc4ceb9fe1a85ec53 >> 32) & (n - 1)
	return int(i >> 6), 1 << (i & 63) // conversion: i < n, a length
}

func (x *prefixIndex) get(p netip.Prefix) (int32, bool) {
	if w, m := bit(p, len(x.maybe)); x.maybe[w]&m == 0 {
		return 0, false
	}
	if k, ok := v4Key(p); ok {
		i, ok := x.v4[k]
		return i, ok
	}
	i, ok := x.other[p]
	return i, ok
}

func (x *prefixIndex) set(p netip.Prefix, i int32) {
	if k, ok := v4Key(p); ok {
		x.v4[k] = i
	} else {
		x.other[p] = i
	}
	if x.len()*8 > len(x.maybe)*64 {
		x.rebuild()
		return
	}
	w, m := bit(p, len(x.maybe))
	x.maybe[w] |= m
}

func (x *prefixIndex) remove(p netip.Prefix) {
	if k, ok := v4Key(p); ok {
		delete(x.v4, k)
	} else {
		delete(x.other, p)
	}
	if x.removed++; x.removed > x.len()+minMaybeWords*64/8 {
		x.rebuild()
	}
}

func (x *prefixIndex) len() int { return len(x.v4) + len(x.other) }

// rebuild sizes the bitset for about 8 bits per key and sets the bits of
// the keys there are.
func (x *prefixIndex) rebuild() {
	words := max(minMaybeWords, 1<<bits.Len(uint(x.len()*8/64))) // conversion: a count
	if words == len(x.maybe) {
		clear(x.maybe)
	} else {
		x.maybe = make([]uint64, words)
	}
	for k := range x.v4 {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], uint32(k>>8)) // conversion: the address's 32 bits
		x.mark(netip.PrefixFrom(netip.AddrFrom4(a), int(k&0xff)))
	}
	for p := range x.other {
		x.mark(p)
	}
	x.removed = 0
}

func (x *prefixIndex) mark(p netip.Prefix) {
	w, m := bit(p, len(x.maybe))
	x.maybe[w] |= m
}
