package store

import (
	"hash/maphash"
	"net/netip"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"

	"github.com/logjail/logjail/state/gate"
)

// historyLengths says which prefix lengths (in the 128-bit space of the
// history's keys) the ban history may hold. Count looks for records of
// prefixes containing the one it is asked about with a seek for each
// shorter length, 32 for an IPv4 address, once per ban decided; when only
// addresses were ever banned (a flood), no shorter length is there and
// none of those seeks is needed. It may say more than the history holds
// (a purged record's length stays), never less.
type historyLengths struct {
	// known is set once the history's lengths have been read (Open); a
	// store opened otherwise has every length.
	known atomic.Bool
	bits  [3]atomic.Uint64 // lengths 0 to 128
	// addrs holds the single addresses the history may hold (a Bloom
	// filter: it may say more, never less): a flood's new attacker, whose
	// address the history has no record of, costs Count no read
	// transaction (see mayHoldAddress). Made with the first single
	// address: an idle daemon without bans holds none of it.
	addrs atomic.Pointer[[addrBits / 64]atomic.Uint64]
	// filtered is set once the filter covers the history (Open).
	filtered bool
}

// addrBits is the size of the filter of addresses: 1 MiB, which a
// million addresses fill to a few percent of false positives (each only
// costs the lookup the filter spares).
const addrBits = 1 << 23

var addrSeed = maphash.MakeSeed()

// addrHashes returns the filter's bit positions for address key a.
func addrHashes(a [16]byte) [3]uint64 {
	h := maphash.Comparable(addrSeed, a)
	h1, h2 := h&(addrBits-1), (h>>32)|1
	return [3]uint64{h1, (h1 + h2) & (addrBits - 1), (h1 + 2*h2) & (addrBits - 1)}
}

// note marks length bits in the history's key space.
func (h *historyLengths) note(bits int) {
	h.bits[bits/64].Or(1 << (bits % 64))
}

// notePrefix marks the length of p's history key, and a single address.
func (h *historyLengths) notePrefix(p netip.Prefix) {
	a, bits := key16(gate.Canonical(p))
	h.note(bits)
	if bits == 128 {
		h.noteAddress(a)
	}
}

// noteAddress adds single address a (its history key's start) to the
// filter.
func (h *historyLengths) noteAddress(a [16]byte) {
	f := h.addrs.Load()
	if f == nil {
		h.addrs.CompareAndSwap(nil, new([addrBits / 64]atomic.Uint64))
		f = h.addrs.Load()
	}
	for _, i := range addrHashes(a) {
		f[i/64].Or(1 << (i % 64))
	}
}

// mayHoldAddress reports whether the history may hold a record that
// overlaps single address a (its history key's start): its own, or one of
// a shorter length. Without the filter (a store not opened by Open) it
// may.
func (h *historyLengths) mayHoldAddress(a [16]byte, lowest int) bool {
	if !h.known.Load() || !h.filtered {
		return true
	}
	for l := lowest; l < 128; l++ {
		if h.mayHold(l) {
			return true
		}
	}
	f := h.addrs.Load()
	if f == nil {
		return false // no single address recorded
	}
	for _, i := range addrHashes(a) {
		if f[i/64].Load()&(1<<(i%64)) == 0 {
			return false
		}
	}
	return true
}

// mayHold reports whether the history may hold a record of length bits.
func (h *historyLengths) mayHold(bits int) bool {
	return !h.known.Load() || h.bits[bits/64].Load()&(1<<(bits%64)) != 0
}

// load reads the lengths and the single addresses the history holds.
func (h *historyLengths) load(tx *bolt.Tx) error {
	err := tx.Bucket(bucketHistory).ForEach(func(k, _ []byte) error {
		if len(k) >= 17 && k[16] <= 128 {
			h.note(int(k[16]))
		}
		if len(k) >= 17 && k[16] == 128 {
			h.noteAddress([16]byte(k[:16]))
		}
		return nil
	})
	if err == nil {
		h.filtered = true // before known: mayHoldAddress reads it once known
		h.known.Store(true)
	}
	return err
}
