package store

import (
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
}

// note marks length bits in the history's key space.
func (h *historyLengths) note(bits int) {
	h.bits[bits/64].Or(1 << (bits % 64))
}

// notePrefix marks the length of p's history key.
func (h *historyLengths) notePrefix(p netip.Prefix) {
	_, bits := key16(gate.Canonical(p))
	h.note(bits)
}

// mayHold reports whether the history may hold a record of length bits.
func (h *historyLengths) mayHold(bits int) bool {
	return !h.known.Load() || h.bits[bits/64].Load()&(1<<(bits%64)) != 0
}

// load reads the lengths the history holds.
func (h *historyLengths) load(tx *bolt.Tx) error {
	err := tx.Bucket(bucketHistory).ForEach(func(k, _ []byte) error {
		if len(k) >= 17 && k[16] <= 128 {
			h.note(int(k[16]))
		}
		return nil
	})
	if err == nil {
		h.known.Store(true)
	}
	return err
}
