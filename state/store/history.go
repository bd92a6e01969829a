package store

import (
	"bytes"
	"net/netip"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/logjail/logjail/state"
	"github.com/logjail/logjail/state/gate"
)

// The ban history (fail2ban's "bips" table): per pipeline and prefix, how
// many times the prefix was banned and when last, kept for dbpurgeage so
// that bantime_increment can lengthen a repeat offender's ban.
//
// Keys are the prefix's start address in 16 bytes (IPv4 as IPv4-mapped
// IPv6), its length in that 128-bit space (one byte), then the pipeline
// name: the records of a prefix, and of the prefixes inside it, are adjacent,
// so Count finds the overlapping records of every pipeline with a few seeks.

var bucketHistory = []byte("history")

// HistoryRecord is one prefix's ban history in one pipeline.
type HistoryRecord struct {
	Pipeline string
	Prefix   netip.Prefix
	// Count is the ban count of the prefix's last ban: its bans in this
	// pipeline, or in every pipeline when it was decided with overalljails.
	Count int
	// Last is when the last ban was decided (or renewed).
	Last time.Time
	// BanTime is that ban's duration; PermanentBan for ever.
	BanTime time.Duration
}

// outdatedFactor keeps the history of a long ban longer than dbpurgeage, as
// fail2ban does: a record goes once both its last ban and three times that
// ban's duration after it are older than dbpurgeage.
const outdatedFactor = 3

var v4InV6 = [12]byte{10: 0xff, 11: 0xff}

// historyKey returns the record key of p in pipeline.
func historyKey(pipeline string, p netip.Prefix) []byte {
	a, bits := key16(gate.Canonical(p))
	k := make([]byte, 0, 17+len(pipeline))
	k = append(k, a[:]...)
	k = append(k, byte(bits))
	return append(k, pipeline...)
}

// key16 returns a canonical prefix's start and length in the 128-bit space.
func key16(p netip.Prefix) ([16]byte, int) {
	if p.Addr().Is4() {
		return p.Addr().As16(), p.Bits() + 96
	}
	return p.Addr().As16(), p.Bits()
}

func parseHistoryKey(k []byte) (pipeline string, p netip.Prefix, ok bool) {
	if len(k) < 17 || k[16] > 128 {
		return "", netip.Prefix{}, false
	}
	a := netip.AddrFrom16([16]byte(k[:16]))
	bits := int(k[16])
	if a.Is4In6() {
		if bits < 96 {
			return "", netip.Prefix{}, false
		}
		a, bits = a.Unmap(), bits-96
	}
	return string(k[17:]), netip.PrefixFrom(a, bits), true
}

// recordBan counts d in the history: the record keeps the highest ban count
// seen and the newest ban's time, so recording a ban twice (a renewal, or a
// replay after a crash) counts it once.
func recordBan(tx *bolt.Tx, d state.Decision) error {
	b := tx.Bucket(bucketHistory)
	k := historyKey(d.Pipeline, d.Prefix)
	var r storedHistory
	if v := b.Get(k); v != nil {
		// An unreadable record is replaced, not fatal to the ban.
		r, _ = decodeHistory(v)
	}
	r.Count = max(r.Count, d.BanCount, 1)
	if !d.Time.Before(r.Last) {
		r.Last = d.Time
		r.BanTimeS = -1
		if !d.Permanent() {
			r.BanTimeS = d.Until.Sub(d.Time).Seconds()
		}
	}
	return b.Put(k, encodeHistory(r))
}

// RecordBan counts ban d in the ban history. SaveBan does it too, in the
// same transaction as the ban itself; RecordBan is for bans that are not
// stored as active (an import of history).
func (s *Store) RecordBan(d state.Decision) error {
	s.lengths.notePrefix(d.Prefix)
	return s.update(func(tx *bolt.Tx) error { return recordBan(tx, d) })
}

// Count implements History: the highest ban count among the history records
// that overlap p (p itself, prefixes inside it, prefixes containing it) of
// pipeline, or of every pipeline with all. 0 when the prefix has no history.
func (s *Store) Count(pipeline string, p netip.Prefix, all bool) (int, error) {
	p = gate.Canonical(p)
	start, bits := key16(p)
	lowest := 0
	if p.Addr().Is4() {
		lowest = 96
	}
	end := start
	for i := bits; i < 128; i++ {
		end[i/8] |= 0x80 >> (i % 8)
	}
	if bits == 128 && !s.lengths.mayHoldAddress(start, lowest) {
		return 0, nil // no record of it, nor of a prefix holding it
	}
	best := 0
	err := s.view(func(tx *bolt.Tx) error {
		visit := func(k, v []byte) error {
			if len(k) < 17 || (!all && string(k[17:]) != pipeline) {
				return nil
			}
			if p.Addr().Is6() && bytes.HasPrefix(k, v4InV6[:]) {
				return nil // an IPv4 record inside an IPv6 prefix such as ::/64
			}
			r, err := decodeHistory(v)
			if err != nil {
				return nil // unreadable: as if absent (RecordBan replaces it)
			}
			best = max(best, r.Count)
			return nil
		}
		c := tx.Bucket(bucketHistory).Cursor()
		// Records starting inside p: p itself, the prefixes inside it, and
		// the shorter ones starting where p starts (they contain p).
		for k, v := c.Seek(start[:]); k != nil && len(k) >= 16 && bytes.Compare(k[:16], end[:]) <= 0; k, v = c.Next() {
			if err := visit(k, v); err != nil {
				return err
			}
		}
		// Shorter prefixes containing p that start before it.
		for l := lowest; l < bits; l++ {
			if !s.lengths.mayHold(l) {
				continue
			}
			m := start
			for i := l; i < 128; i++ {
				m[i/8] &^= 0x80 >> (i % 8)
			}
			if m == start {
				continue // seen above
			}
			key := append(m[:], byte(l))
			for k, v := c.Seek(key); k != nil && bytes.HasPrefix(k, key); k, v = c.Next() {
				if err := visit(k, v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return best, err
}

// BanHistory returns the history records of pipeline ("" for every pipeline).
func (s *Store) BanHistory(pipeline string) ([]HistoryRecord, error) {
	var out []HistoryRecord
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketHistory).ForEach(func(k, v []byte) error {
			name, p, ok := parseHistoryKey(k)
			if !ok || (pipeline != "" && name != pipeline) {
				return nil
			}
			r, err := decodeHistory(v)
			if err != nil {
				return nil
			}
			out = append(out, r.record(name, p))
			return nil
		})
	})
	return out, err
}

// HistoryOf returns the history records of pipeline about a: its own and
// those of the prefixes containing it, narrowest first (a lookup per
// prefix length, whatever the size of the history).
func (s *Store) HistoryOf(pipeline string, a netip.Addr) ([]HistoryRecord, error) {
	a = a.Unmap().WithZone("")
	var out []HistoryRecord
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketHistory)
		for bits := a.BitLen(); bits >= 0; bits-- {
			p, _ := a.Prefix(bits)
			v := b.Get(historyKey(pipeline, p))
			if v == nil {
				continue
			}
			if r, err := decodeHistory(v); err == nil {
				out = append(out, r.record(pipeline, p))
			}
		}
		return nil
	})
	return out, err
}

func (r storedHistory) record(pipeline string, p netip.Prefix) HistoryRecord {
	h := HistoryRecord{Pipeline: pipeline, Prefix: p, Count: r.Count, Last: r.Last, BanTime: state.PermanentBan}
	if r.BanTimeS >= 0 {
		h.BanTime = time.Duration(r.BanTimeS * float64(time.Second))
	}
	return h
}

// PurgeHistory forgets the ban history older than before (now − dbpurgeage)
// in every pipeline, as fail2ban purges its database: a record goes when its
// last ban was decided before `before` and also ended three times its
// duration before it; the history of a permanent ban is kept. It returns the
// number of records removed.
func (s *Store) PurgeHistory(before time.Time) (int, error) {
	return s.PurgeHistoryFunc(func(string) time.Time { return before })
}

// PurgeHistoryFunc is PurgeHistory with a limit per pipeline (each
// pipeline's now − dbpurgeage); a zero time keeps the pipeline's history.
func (s *Store) PurgeHistoryFunc(before func(pipeline string) time.Time) (int, error) {
	purged := 0
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketHistory)
		var old [][]byte
		err := b.ForEach(func(k, v []byte) error {
			name, p, ok := parseHistoryKey(k)
			if r, err := decodeHistory(v); ok && err == nil {
				limit := before(name)
				h := r.record(name, p)
				if limit.IsZero() || h.BanTime == state.PermanentBan || !h.Last.Before(limit) || !h.Last.Add(outdatedFactor*h.BanTime).Before(limit) {
					return nil
				}
			}
			old = append(old, bytes.Clone(k)) // old, or unreadable
			return nil
		})
		if err != nil {
			return err
		}
		// Deleting while iterating skips keys in bbolt: delete afterwards.
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		purged = len(old)
		return nil
	})
	return purged, err
}

var _ state.History = (*Store)(nil)
