package store

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/logjail/logjail/state"
)

var bucketWindows = []byte("windows")

// Changes are what one pipeline processed since its last commit. They are
// written in one transaction, so after a crash the store holds the
// positions and exactly the state those positions produced: re-reading
// from them neither loses nor double-counts a failure.
type Changes struct {
	Positions map[string][]byte // store keys (ScopedPositions.Key) → values
	Windows   []state.WindowChange
	// Decisions are the bans to store (with their history) and the
	// unbans to delete, in the order they were taken: an unban and the
	// re-ban that follows it (an expiry, then the attacker's next
	// failure) must not swap, nor a ban and the unban that lifts it.
	Decisions []state.Decision
	// Outbox holds messages to publish (ban events, fleet failures),
	// stored with the state that produced them so a crash loses none.
	Outbox []OutboxRecord
	// Totals, when set, replaces the pipeline's stored counters; Lines
	// updates its remembered failure lines.
	Totals *state.Totals
	Lines  []state.LinesChange
}

// Empty reports whether there is nothing to write.
func (c *Changes) Empty() bool {
	return len(c.Positions) == 0 && len(c.Windows) == 0 && len(c.Decisions) == 0 && len(c.Outbox) == 0 && c.Totals == nil && len(c.Lines) == 0
}

// Commit writes a pipeline's changes atomically.
func (s *Store) Commit(pipeline string, c *Changes) error {
	if c.Empty() {
		return nil
	}
	for _, d := range c.Decisions {
		if d.Kind == state.Ban {
			s.lengths.notePrefix(d.Prefix)
		}
	}
	return s.update(func(tx *bolt.Tx) error {
		pos := tx.Bucket(bucketPositions)
		for k, v := range c.Positions {
			if err := pos.Put([]byte(k), v); err != nil {
				return err
			}
		}
		win := tx.Bucket(bucketWindows)
		for _, w := range c.Windows {
			key := windowKey(pipeline, w.Key)
			if len(w.Times) == 0 {
				if err := win.Delete(key); err != nil {
					return err
				}
				continue
			}
			if err := win.Put(key, encodeTimes(w.Times)); err != nil {
				return err
			}
		}
		if err := decide(tx, pipeline, c.Decisions); err != nil {
			return err
		}
		if err := s.putTotals(tx, pipeline, c.Totals); err != nil {
			return err
		}
		if err := s.putLines(tx, pipeline, c.Lines); err != nil {
			return err
		}
		return s.appendOutbox(tx, c.Outbox)
	})
}

// decide stores ds in order: a ban with its history record, an unban
// as the deletion of the ban record (its history stays).
func decide(tx *bolt.Tx, pipeline string, ds []state.Decision) error {
	bans := tx.Bucket(bucketBans)
	for _, d := range ds {
		var err error
		switch d.Kind {
		case state.Ban:
			err = saveBan(tx, d)
		case state.Unban:
			err = bans.Delete(banKey(pipeline, d.Prefix))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func windowKey(pipeline string, key netip.Addr) []byte {
	k16 := key.As16()
	return append([]byte(pipeline+"\x00"), k16[:]...)
}

// encodeTimes is a window's stored form: its times (Unix nanoseconds) as
// 8-byte big-endian numbers.
func encodeTimes(times []int64) []byte {
	v := make([]byte, 8*len(times))
	for i, t := range times {
		binary.BigEndian.PutUint64(v[8*i:], uint64(t))
	}
	return v
}

// decodeTimes reads a window's stored times; v's length is a multiple of 8.
func decodeTimes(v []byte) []int64 {
	var times []int64
	for i := 0; i+8 <= len(v); i += 8 {
		times = append(times, int64(binary.BigEndian.Uint64(v[i:])))
	}
	return times
}

// Windows returns a pipeline's stored windows.
func (s *Store) Windows(pipeline string) ([]state.WindowChange, error) {
	var out []state.WindowChange
	prefix := []byte(pipeline + "\x00")
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketWindows).Cursor()
		for k, v := c.Seek(prefix); k != nil && len(k) == len(prefix)+16 && string(k[:len(prefix)]) == string(prefix); k, v = c.Next() {
			if len(v)%8 != 0 {
				return s.damaged(bucketWindows, k, fmt.Errorf("%d bytes, not a list of times", len(v)))
			}
			out = append(out, state.WindowChange{Key: netip.AddrFrom16([16]byte(k[len(prefix):])).Unmap(), Times: decodeTimes(v)})
		}
		return nil
	})
	return out, err
}

// WindowPipelines lists the pipelines with stored windows.
func (s *Store) WindowPipelines() []string {
	var out []string
	_ = s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketWindows).ForEach(func(k, _ []byte) error {
			name, _, _ := strings.Cut(string(k), "\x00")
			if len(out) == 0 || out[len(out)-1] != name {
				out = append(out, name)
			}
			return nil
		})
	})
	return out
}

// DropWindows forgets a pipeline's stored windows and the failure lines
// remembered with them (a pipeline removed).
func (s *Store) DropWindows(pipeline string) error {
	prefix := []byte(pipeline + "\x00")
	return s.update(func(tx *bolt.Tx) error {
		if lines := tx.Bucket(bucketLines); lines != nil {
			c := lines.Cursor()
			for k, _ := c.Seek(prefix); k != nil && string(k[:min(len(k), len(prefix))]) == string(prefix); k, _ = c.Seek(prefix) {
				if err := c.Delete(); err != nil {
					return err
				}
			}
		}
		c := tx.Bucket(bucketWindows).Cursor()
		for k, _ := c.Seek(prefix); k != nil && string(k[:min(len(k), len(prefix))]) == string(prefix); k, _ = c.Seek(prefix) {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}
