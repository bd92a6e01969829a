package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// StoreVersion is the layout version this build writes and reads.
const StoreVersion = 1

var (
	bucketMeta      = []byte("meta")
	bucketBans      = []byte("bans")
	bucketPositions = []byte("positions")
	keyVersion      = []byte("version")
)

// ErrStoreVersion is returned for a store written by a newer logjail.
var ErrStoreVersion = errors.New("state store has an unknown version")

// Store keeps active bans, the ban history and source positions in bbolt,
// so all survive a restart. It implements History for the trackers.
type Store struct {
	db   *bolt.DB
	path string
	// outbox holds each sink's limit and drop count (see SetOutboxLimit).
	outbox outboxLimits
}

// OpenStore opens (creating it if needed) dir/logjail.db. A store of another
// version, or one that is not a logjail store, is an error: it is never
// silently reset.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	path := filepath.Join(dir, "logjail.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("state store %s: locked by another logjail process", path)
		}
		return nil, fmt.Errorf("state store %s: %w", path, err)
	}
	s := &Store{db: db, path: path}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		switch v := meta.Get(keyVersion); {
		case v == nil:
			if tx.Bucket(bucketBans) != nil {
				return fmt.Errorf("bans without a version: not a logjail store")
			}
			if err := meta.Put(keyVersion, []byte(strconv.Itoa(StoreVersion))); err != nil {
				return err
			}
		case string(v) != strconv.Itoa(StoreVersion):
			return fmt.Errorf("%w: %q (this logjail reads version %d)", ErrStoreVersion, v, StoreVersion)
		}
		for _, b := range [][]byte{bucketBans, bucketPositions, bucketHistory, bucketWindows, bucketOutbox} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("state store %s: %w", path, err)
	}
	return s, nil
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// storedBan is a ban's on-disk form.
type storedBan struct {
	Pipeline string    `json:"pipeline"`
	Prefix   string    `json:"prefix"`
	Time     time.Time `json:"time"`
	Until    time.Time `json:"until,omitzero"`
	Failures int       `json:"failures"`
	BanCount int       `json:"ban_count"`
	Reason   string    `json:"reason"`
	Origin   string    `json:"origin,omitempty"`
}

func banKey(pipeline string, p netip.Prefix) []byte {
	return []byte(pipeline + "\x00" + p.String())
}

// SaveBan records an active ban (replacing an earlier record of the prefix)
// and, in the same transaction, counts it in the ban history (see
// RecordBan: a renewal is not counted twice).
func (s *Store) SaveBan(d Decision) error {
	return s.db.Update(func(tx *bolt.Tx) error { return saveBan(tx, d) })
}

func saveBan(tx *bolt.Tx, d Decision) error {
	v, err := json.Marshal(storedBan{Pipeline: d.Pipeline, Prefix: d.Prefix.String(), Time: d.Time, Until: d.Until, Failures: d.Failures, BanCount: d.BanCount, Reason: d.Reason, Origin: d.Origin})
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketBans).Put(banKey(d.Pipeline, d.Prefix), v); err != nil {
		return err
	}
	return recordBan(tx, d)
}

// DeleteBan removes a ban record; absent is fine.
func (s *Store) DeleteBan(pipeline string, p netip.Prefix) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBans).Delete(banKey(pipeline, p))
	})
}

// Bans returns every stored ban of pipeline ("" for all pipelines).
func (s *Store) Bans(pipeline string) ([]Decision, error) {
	var out []Decision
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBans).ForEach(func(k, v []byte) error {
			var b storedBan
			if err := json.Unmarshal(v, &b); err != nil {
				return fmt.Errorf("ban record %q: %w", k, err)
			}
			if pipeline != "" && b.Pipeline != pipeline {
				return nil
			}
			p, err := netip.ParsePrefix(b.Prefix)
			if err != nil {
				return fmt.Errorf("ban record %q: %w", k, err)
			}
			out = append(out, Decision{Kind: Ban, Pipeline: b.Pipeline, Prefix: p, Time: b.Time, Until: b.Until, Failures: b.Failures, BanCount: b.BanCount, Reason: b.Reason, Origin: b.Origin})
			return nil
		})
	})
	return out, err
}

// Position returns the committed position of a source key, or nil.
func (s *Store) Position(key string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketPositions).Get([]byte(key)); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out, err
}

// SavePositions commits several positions in one transaction.
func (s *Store) SavePositions(pos map[string][]byte) error {
	if len(pos) == 0 {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPositions)
		for k, v := range pos {
			if err := b.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// Scoped returns a view of the store's positions under a key prefix, so that
// two pipelines tailing the same file keep separate positions.
func (s *Store) Scoped(prefix string) ScopedPositions {
	return ScopedPositions{store: s, prefix: prefix + "\x00"}
}

// ScopedPositions implements ingest.Positions for one pipeline.
type ScopedPositions struct {
	store  *Store
	prefix string
}

// Position returns the committed position of key within the scope.
func (p ScopedPositions) Position(key string) ([]byte, error) {
	return p.store.Position(p.prefix + key)
}

// Key returns the store key of a source key within the scope.
func (p ScopedPositions) Key(key string) string { return p.prefix + key }
