package store

import (
	"encoding/json"
	"fmt"
	"net/netip"

	bolt "go.etcd.io/bbolt"

	"github.com/logjail/logjail/state"
)

// What a pipeline remembers besides windows and bans (see state.Totals and
// state.LinesChange), kept with them so a restart does not start it over.
var (
	bucketTotals = []byte("totals")
	bucketLines  = []byte("lines")
)

func (s *Store) putTotals(tx *bolt.Tx, pipeline string, c *state.Totals) error {
	if c == nil {
		return nil
	}
	b, err := tx.CreateBucketIfNotExists(bucketTotals)
	if err != nil {
		return err
	}
	v, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return b.Put([]byte(pipeline), v)
}

// Totals returns a pipeline's stored counters (zero when none are stored).
func (s *Store) Totals(pipeline string) (state.Totals, error) {
	var c state.Totals
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTotals)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(pipeline))
		if v == nil {
			return nil
		}
		if err := json.Unmarshal(v, &c); err != nil {
			return fmt.Errorf("totals of pipeline %s: %w", pipeline, err)
		}
		return nil
	})
	return c, err
}

func linesKey(pipeline string, p netip.Prefix) []byte {
	a := p.Addr().As16()
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	return append(append([]byte(pipeline+"\x00"), a[:]...), byte(bits))
}

func (s *Store) putLines(tx *bolt.Tx, pipeline string, ls []state.LinesChange) error {
	if len(ls) == 0 {
		return nil
	}
	b, err := tx.CreateBucketIfNotExists(bucketLines)
	if err != nil {
		return err
	}
	for _, l := range ls {
		k := linesKey(pipeline, l.Prefix)
		if len(l.Lines) == 0 {
			if err := b.Delete(k); err != nil {
				return err
			}
			continue
		}
		if err := b.Put(k, encodeLines(l.Lines, l.Marks)); err != nil {
			return err
		}
	}
	return nil
}

// Lines returns a pipeline's remembered failure lines by prefix. A record
// that cannot be read is left out and reported in bad.
func (s *Store) Lines(pipeline string) (out []state.LinesChange, bad int, err error) {
	prefix := []byte(pipeline + "\x00")
	err = s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLines)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && len(k) == len(prefix)+17 && string(k[:len(prefix)]) == string(prefix); k, v = c.Next() {
			a := netip.AddrFrom16([16]byte(k[len(prefix):]))
			bits := int(k[len(k)-1])
			if a.Is4In6() {
				a, bits = a.Unmap(), bits-96
			}
			p, perr := a.Prefix(bits)
			lines, marks, lerr := decodeLines(v)
			if perr != nil || bits < 0 || lerr != nil {
				bad++
				continue
			}
			out = append(out, state.LinesChange{Prefix: p, Lines: lines, Marks: marks})
		}
		return nil
	})
	return out, bad, err
}
