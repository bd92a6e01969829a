package store

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/logjail/logjail/state"
)

// Version is the layout version this build writes and reads.
const Version = 1

var (
	bucketMeta      = []byte("meta")
	bucketBans      = []byte("bans")
	bucketPositions = []byte("positions")
	keyVersion      = []byte("version")
)

// ErrVersion is returned for a store written by a newer logjail.
var ErrVersion = errors.New("state store has an unknown version")

// Store keeps active bans, the ban history and source positions in bbolt,
// so all survive a restart. It implements History for the trackers.
type Store struct {
	db   *bolt.DB
	path string
	// outbox holds each sink's limit and drop count (see SetOutboxLimit).
	outbox outboxLimits
	// broken holds why the store refuses writes (a bbolt panic); log is
	// where that is reported.
	broken atomic.Pointer[error]
	log    atomic.Pointer[slog.Logger]
	// lengths spares Count most of its seeks (see historyLengths).
	lengths historyLengths
}

// File is the store's file name inside the state directory.
const File = "logjail.db"

// Open opens dir/logjail.db, creating it only when the file does not
// exist. A file that exists but cannot be trusted (empty, truncated,
// corrupted, another version, not a logjail store) is refused with a
// DamagedError: it is never reset, because an empty store would make the
// daemon remove every ban from the firewall.
//
// Before the store is used, bbolt's consistency check walks every page
// (about 0.17 s for 100,000 bans, 5 ms without it; BenchmarkOpenStore): a
// damaged page is found at start, not by a panic in a commit. Records are
// decoded when read: an unreadable ban or window, which the daemon reads
// at start, is a DamagedError from Bans or Windows.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	path := filepath.Join(dir, File)
	fresh := false
	switch fi, err := os.Stat(path); {
	case errors.Is(err, fs.ErrNotExist):
		fresh = true
	case err != nil:
		return nil, &DamagedError{Path: path, Reason: err}
	case !fi.Mode().IsRegular():
		return nil, &DamagedError{Path: path, Reason: fmt.Errorf("not a regular file (%s)", fi.Mode().Type())}
	case fi.Size() == 0:
		return nil, &DamagedError{Path: path, Reason: errors.New("the file is empty (0 bytes)")}
	}
	db, err := openBolt(path, false)
	if err != nil {
		if errors.Is(err, ErrLocked) || fresh {
			return nil, fmt.Errorf("state store %s: %w", path, err)
		}
		return nil, &DamagedError{Path: path, Reason: err}
	}
	s := &Store{db: db, path: path}
	if !fresh {
		if err := recoverBolt(func() error { return db.View(consistent) }); err != nil {
			s.closeBroken()
			return nil, &DamagedError{Path: path, Reason: err}
		}
	}
	err = recoverBolt(func() error { return db.Update(initLayout) })
	if err == nil {
		err = recoverBolt(func() error { return db.View(s.lengths.load) })
	}
	if err != nil {
		s.closeBroken()
		return nil, &DamagedError{Path: path, Reason: err}
	}
	return s, nil
}

// OpenScratch opens a new store in dir, which must hold none, for a run
// whose store is thrown away after it (logjail simulate keeps its ban
// history in one): nothing is synced to the disk, which a store that must
// survive a crash cannot afford and a scratch store does not need.
func OpenScratch(dir string) (*Store, error) {
	if _, err := os.Stat(filepath.Join(dir, File)); !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("scratch store in %s: a store is there already", dir)
	}
	s, err := Open(dir)
	if err != nil {
		return nil, err
	}
	s.db.NoSync = true
	return s, nil
}

// ErrLocked is returned when the store is open in another process: a
// running logjail.
var ErrLocked = errors.New("state store locked by another process")

// OpenReadOnly opens an existing store for reading only, as Export
// needs. It fails with ErrLocked while a logjail has the store open.
func OpenReadOnly(dir string) (*Store, error) {
	path := filepath.Join(dir, File)
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no state store in %s", dir)
		}
		return nil, fmt.Errorf("state store %s: %w", path, err)
	}
	db, err := openBolt(path, true)
	if err != nil {
		return nil, fmt.Errorf("state store %s: %w", path, err)
	}
	if err := recoverBolt(func() error { return db.View(checkVersion) }); err != nil {
		s := &Store{db: db, path: path}
		s.closeBroken()
		return nil, fmt.Errorf("state store %s: %w", path, err)
	}
	return &Store{db: db, path: path}, nil
}

// openBolt opens a bbolt file, a panic of bbolt's becoming an error.
func openBolt(path string, readOnly bool) (*bolt.DB, error) {
	var (
		db   *bolt.DB
		file *os.File
	)
	err := recoverBolt(func() (err error) {
		timeout := 2 * time.Second
		if readOnly {
			timeout = 500 * time.Millisecond // a reader only asks whether a logjail holds it
		}
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, ReadOnly: readOnly,
			OpenFile: func(name string, flag int, mode os.FileMode) (*os.File, error) {
				f, err := os.OpenFile(name, flag, mode)
				file = f
				return f, err
			}})
		return err
	})
	var p *panicError
	if errors.As(err, &p) && file != nil {
		// bbolt could not close it. Its memory map keeps the file open
		// (and locked) after Close: the lock is released by hand.
		_ = syscall.Flock(int(file.Fd()), syscall.LOCK_UN)
		file.Close()
	}
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, ErrLocked
	}
	if errors.Is(err, bolt.ErrInvalid) {
		return nil, fmt.Errorf("not a bbolt file, or its header pages are damaged: %w", err)
	}
	return db, err
}

// consistent runs bbolt's consistency check: every page reachable once,
// none both free and in use, every key in order. bbolt runs it on a
// goroutine of its own, where a page pointer aimed outside the file would
// fault and kill the process; so every page is first read here, on the
// caller's goroutine, where recoverBolt turns such a fault into an error.
func consistent(tx *bolt.Tx) error {
	fi, err := os.Stat(tx.DB().Path())
	if err != nil {
		return err
	}
	if tx.Size() > fi.Size() {
		return fmt.Errorf("truncated: the file has %d bytes, its pages need %d", fi.Size(), tx.Size())
	}
	touched.Store(uint32(touchAll(tx.Cursor(), tx.Bucket)))
	var errs []error
	for err := range tx.Check() {
		if len(errs) < 10 {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("bbolt consistency check: %w", errors.Join(errs...))
	}
	return nil
}

// touched keeps touchAll's reads from being optimised away.
var touched atomic.Uint32

// touchAll reads every key and value below a cursor, nested buckets too.
func touchAll(c *bolt.Cursor, bucket func([]byte) *bolt.Bucket) byte {
	var x byte
	for k, v := c.First(); k != nil; k, v = c.Next() {
		x ^= k[len(k)-1]
		if len(v) > 0 {
			x ^= v[len(v)-1]
		}
		if v == nil {
			if b := bucket(k); b != nil {
				x ^= touchAll(b.Cursor(), b.Bucket)
			}
		}
	}
	return x
}

// initLayout checks the version and creates the buckets of a new store.
func initLayout(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	var v []byte
	if meta != nil {
		v = meta.Get(keyVersion)
	}
	if v == nil {
		// Only a store with nothing in it may be made a logjail store:
		// a bbolt file of another program, or one whose version was lost,
		// is refused.
		if name := firstBucket(tx); name != "" {
			return fmt.Errorf("not a logjail store: bucket %q but no layout version", name)
		}
		var err error
		if meta, err = tx.CreateBucket(bucketMeta); err != nil {
			return err
		}
		if err := meta.Put(keyVersion, []byte(strconv.Itoa(Version))); err != nil {
			return err
		}
	} else if string(v) != strconv.Itoa(Version) {
		return fmt.Errorf("%w: %q (this logjail reads version %d)", ErrVersion, v, Version)
	}
	for _, b := range [][]byte{bucketBans, bucketPositions, bucketHistory, bucketWindows, bucketOutbox} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

func firstBucket(tx *bolt.Tx) string {
	k, _ := tx.Cursor().First()
	return string(k)
}

// Close closes the store. A broken store's lock may be held by the
// transaction that panicked: then the file is left to the process's exit.
func (s *Store) Close() error {
	if s.Broken() != nil {
		return s.closeBroken()
	}
	return s.db.Close()
}

// closeBroken closes a store that panicked, without waiting for ever on a
// lock the panic left held.
func (s *Store) closeBroken() error {
	done := make(chan error, 1)
	go func() { done <- recoverBolt(s.db.Close) }()
	select {
	case err := <-done:
		return err
	case <-time.After(2 * time.Second):
		return fmt.Errorf("state store %s: not closed (a panic left it locked)", s.path)
	}
}

// banKey is a ban record's key: the pipeline, a 0 byte, the prefix.
func banKey(pipeline string, p netip.Prefix) []byte {
	k := make([]byte, 0, len(pipeline)+44)
	return p.AppendTo(append(append(k, pipeline...), 0))
}

// SaveBan records an active ban (replacing an earlier record of the prefix)
// and, in the same transaction, counts it in the ban history (see
// RecordBan: a renewal is not counted twice).
func (s *Store) SaveBan(d state.Decision) error {
	s.lengths.notePrefix(d.Prefix)
	return s.update(func(tx *bolt.Tx) error { return saveBan(tx, d) })
}

func saveBan(tx *bolt.Tx, d state.Decision) error {
	if err := tx.Bucket(bucketBans).Put(banKey(d.Pipeline, d.Prefix), encodeBan(d)); err != nil {
		return err
	}
	return recordBan(tx, d)
}

// DeleteBan removes a ban record; absent is fine.
func (s *Store) DeleteBan(pipeline string, p netip.Prefix) error {
	return s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBans).Delete(banKey(pipeline, p))
	})
}

// Bans returns every stored ban of pipeline ("" for all pipelines).
func (s *Store) Bans(pipeline string) ([]state.Decision, error) {
	var out []state.Decision
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBans).ForEach(func(k, v []byte) error {
			d, err := decodeBan(v)
			if err != nil {
				return s.damaged(bucketBans, k, err)
			}
			if pipeline == "" || d.Pipeline == pipeline {
				out = append(out, d)
			}
			return nil
		})
	})
	return out, err
}

// damaged is the error of a record the daemon cannot do without.
func (s *Store) damaged(bucket, key []byte, err error) error {
	return &DamagedError{Path: s.path, Reason: fmt.Errorf("bucket %s: record %q is unreadable: %w", bucket, key, err)}
}

// Position returns the committed position of a source key, or nil.
func (s *Store) Position(key string) ([]byte, error) {
	var out []byte
	err := s.view(func(tx *bolt.Tx) error {
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
	return s.update(func(tx *bolt.Tx) error {
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
