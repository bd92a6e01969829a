package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/logjail/logjail/state"
)

// What `logjail state check` and `logjail state salvage` do: read a store
// that may be damaged, record by record, with the decoders the daemon uses,
// and tell what is readable and what is not.

// BucketReport counts a bucket's records.
type BucketReport struct {
	Records    int `json:"records"`
	Unreadable int `json:"unreadable"`
	// Examples are a few of the unreadable records (key and why).
	Examples []string `json:"examples,omitempty"`
	// Stopped, when set, is why reading the bucket stopped early: records
	// after that point are neither counted nor salvaged.
	Stopped string `json:"stopped,omitempty"`
}

// CheckReport is what Check found.
type CheckReport struct {
	Path string `json:"path"`
	// Sound is true when nothing is wrong: logjail will open the store.
	Sound bool `json:"sound"`
	// Missing is true when there is no store (logjail creates one).
	Missing  bool                    `json:"missing,omitempty"`
	Problems []string                `json:"problems,omitempty"`
	Buckets  map[string]BucketReport `json:"buckets,omitempty"`
}

// recordKV is a readable record, copied out of the memory map.
type recordKV struct{ k, v []byte }

// readBucket is a bucket's readable records; nested buckets (the outbox's
// sinks) by name, with their sequence.
type readBucket struct {
	records []recordKV
	nested  map[string]*readBucket
	seq     uint64
}

const maxExamples = 5

// Check checks the store in dir without changing it: it opens the file
// read-only, runs bbolt's consistency check and decodes every record. It
// fails with ErrLocked while a logjail has the store open.
func Check(dir string) (*CheckReport, error) {
	r, _, err := inspect(filepath.Join(dir, File))
	return r, err
}

// inspect reads the store at path; the readable records are returned for
// salvage (nil when bbolt cannot open the file).
func inspect(path string) (*CheckReport, map[string]*readBucket, error) {
	r := &CheckReport{Path: path, Buckets: map[string]BucketReport{}}
	problem := func(format string, args ...any) { r.Problems = append(r.Problems, fmt.Sprintf(format, args...)) }
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.Missing, r.Sound = true, true
		return r, nil, nil
	case err != nil:
		problem("%v", err)
		return r, nil, nil
	case fi.Size() == 0:
		problem("the file is empty (0 bytes)")
		return r, nil, nil
	}
	db, err := openBolt(path, true)
	if errors.Is(err, ErrLocked) {
		return nil, nil, fmt.Errorf("state store %s: %w (stop logjail first)", path, err)
	}
	if err != nil {
		problem("bbolt cannot open it: %v", err)
		return r, nil, nil
	}
	s := &Store{db: db, path: path}
	defer s.closeBroken()
	if err := recoverBolt(func() error { return db.View(consistent) }); err != nil {
		problem("%v", err)
	}
	if err := recoverBolt(func() error { return db.View(checkVersion) }); err != nil {
		problem("%v", err)
	}
	var names []string
	if err := recoverBolt(func() error {
		return db.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				names = append(names, string(name))
				return nil
			})
		})
	}); err != nil {
		problem("the list of buckets is unreadable: %v", err)
		r.Sound = false
		return r, nil, nil // nothing to salvage
	}
	read := map[string]*readBucket{}
	for _, name := range names {
		rb, rep := readOne(db, name)
		read[name] = rb
		r.Buckets[name] = rep
		if rep.Unreadable > 0 {
			problem("bucket %s: %d unreadable records", name, rep.Unreadable)
		}
		if rep.Stopped != "" {
			problem("bucket %s: reading stopped: %s", name, rep.Stopped)
		}
	}
	r.Sound = len(r.Problems) == 0
	return r, read, nil
}

func checkVersion(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return errors.New("no meta bucket: not a logjail store, or its version was lost")
	}
	if v := meta.Get(keyVersion); string(v) != strconv.Itoa(Version) {
		return fmt.Errorf("%w: %q (this logjail reads version %d)", ErrVersion, v, Version)
	}
	return nil
}

// readOne reads a top-level bucket, each record through its decoder. A
// panic stops the bucket: what was read before it is kept.
func readOne(db *bolt.DB, name string) (*readBucket, BucketReport) {
	rb := &readBucket{}
	var rep BucketReport
	decode := decoders[name]
	if decode == nil {
		decode = func([]byte, []byte, bool) error { return nil } // a bucket this build does not know
	}
	bad := func(k []byte, why error) {
		rep.Unreadable++
		if len(rep.Examples) < maxExamples {
			rep.Examples = append(rep.Examples, fmt.Sprintf("%q: %v", k, why))
		}
	}
	err := recoverBolt(func() error {
		return db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte(name))
			return walk(b, rb, &rep, func(k, v []byte, nested bool) {
				if err := decode(k, v, nested); err != nil {
					bad(k, err)
					return
				}
				rep.Records++
			})
		})
	})
	if err != nil {
		rep.Stopped = err.Error()
	}
	return rb, rep
}

// walk copies b's records that pass ok into rb; nested buckets hold records
// decoded with nested set.
func walk(b *bolt.Bucket, rb *readBucket, rep *BucketReport, each func(k, v []byte, nested bool)) error {
	rb.seq = b.Sequence()
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil {
			sub := b.Bucket(k)
			if sub == nil {
				continue
			}
			if rb.nested == nil {
				rb.nested = map[string]*readBucket{}
			}
			nb := &readBucket{}
			rb.nested[string(k)] = nb
			nb.seq = sub.Sequence()
			sc := sub.Cursor()
			for sk, sv := sc.First(); sk != nil; sk, sv = sc.Next() {
				before := rep.Records
				each(sk, sv, true)
				if rep.Records > before {
					nb.records = append(nb.records, recordKV{bytes.Clone(sk), bytes.Clone(sv)})
				}
			}
			continue
		}
		before := rep.Records
		each(k, v, false)
		if rep.Records > before {
			rb.records = append(rb.records, recordKV{bytes.Clone(k), bytes.Clone(v)})
		}
	}
	return nil
}

// decoders check one record of each bucket as the daemon reads it; nested
// is set for a record of a nested bucket (only the outbox has them).
var decoders = map[string]func(k, v []byte, nested bool) error{
	string(bucketMeta): func(k, v []byte, _ bool) error {
		if string(k) == string(keyVersion) && string(v) != strconv.Itoa(Version) {
			return fmt.Errorf("version %q", v)
		}
		return nil
	},
	string(bucketBans): func(k, v []byte, _ bool) error {
		d, err := decodeBan(v)
		if err != nil {
			return err
		}
		if !bytes.Equal(k, banKey(d.Pipeline, d.Prefix)) {
			return errors.New("the key does not match the record")
		}
		return nil
	},
	string(bucketPositions): func(k, _ []byte, _ bool) error {
		if !bytes.Contains(k, []byte{0}) {
			return errors.New("no pipeline in the key")
		}
		return nil
	},
	string(bucketHistory): func(k, v []byte, _ bool) error {
		if _, _, ok := parseHistoryKey(k); !ok {
			return errors.New("bad key")
		}
		_, err := decodeHistory(v)
		return err
	},
	string(bucketWindows): func(k, v []byte, _ bool) error {
		if _, rest, ok := bytes.Cut(k, []byte{0}); !ok || len(rest) != 16 {
			return errors.New("bad key")
		}
		if len(v)%8 != 0 {
			return fmt.Errorf("%d bytes, not a list of times", len(v))
		}
		return nil
	},
	string(bucketTotals): func(_, v []byte, _ bool) error {
		var t state.Totals
		return json.Unmarshal(v, &t)
	},
	string(bucketLines): func(k, v []byte, _ bool) error {
		_, rest, ok := bytes.Cut(k, []byte{0})
		if !ok || len(rest) != 17 || rest[16] > 128 {
			return errors.New("bad key")
		}
		_, _, err := decodeLines(v)
		return err
	},
	string(bucketOutbox): func(k, v []byte, nested bool) error {
		if !nested || len(k) != 8 {
			return errors.New("not a queued message")
		}
		var r OutboxRecord
		return json.Unmarshal(v, &r)
	},
}

// SalvageReport says what a salvage kept and what it lost.
type SalvageReport struct {
	// Moved is where the damaged file went.
	Moved string `json:"moved"`
	// Kept and Lost count the records of each bucket.
	Kept map[string]int `json:"kept"`
	Lost map[string]int `json:"lost"`
	// Stopped lists the buckets whose reading stopped early: how many
	// records were lost in them is unknown.
	Stopped map[string]string `json:"stopped,omitempty"`
	// StartedOver is true when nothing was copied (--start-over).
	StartedOver bool `json:"started_over,omitempty"`
}

// Salvage replaces the store in dir with a new one holding every readable
// record of the old, which is moved aside to logjail.db.broken-TIMESTAMP.
// With startOver nothing is copied: the new store is empty. A store bbolt
// cannot open at all can only be started over. It refuses while a logjail
// holds the store.
func Salvage(dir string, startOver bool) (*SalvageReport, error) {
	path := filepath.Join(dir, File)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("state store %s: %w", path, err)
	}
	// bbolt's own lock on the file says whether a logjail holds it.
	if err := probeLock(path); err != nil {
		return nil, err
	}
	rep := &SalvageReport{Kept: map[string]int{}, Lost: map[string]int{}, Stopped: map[string]string{}, StartedOver: startOver}
	var read map[string]*readBucket
	if !startOver {
		chk, rb, err := inspect(path)
		if err != nil {
			return nil, err
		}
		if rb == nil {
			return nil, fmt.Errorf("state store %s: nothing can be read from it (%v); `logjail state salvage --start-over` moves it aside and begins with an empty store", path, chk.Problems)
		}
		read = rb
		for name, b := range chk.Buckets {
			rep.Kept[name] = b.Records
			rep.Lost[name] = b.Unreadable
			if b.Stopped != "" {
				rep.Stopped[name] = b.Stopped
			}
		}
	}
	tmp := path + ".salvage"
	os.Remove(tmp)
	if err := writeSalvaged(tmp, read); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("writing the new store %s: %w", tmp, err)
	}
	rep.Moved = path + ".broken-" + time.Now().UTC().Format("20060102T150405Z")
	if err := os.Rename(path, rep.Moved); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return rep, nil
}

// probeLock fails when another process holds bbolt's lock on path.
func probeLock(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return fmt.Errorf("state store %s: %w (stop logjail first)", path, ErrLocked)
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

// writeSalvaged makes a new store at path with the records of read, in the
// layout a fresh store has.
func writeSalvaged(path string, read map[string]*readBucket) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := initLayout(tx); err != nil {
			return err
		}
		for _, name := range slices.Sorted(maps.Keys(read)) {
			if name == string(bucketMeta) {
				continue // the new store gets this build's version
			}
			if err := putBucket(tx, []byte(name), read[name]); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

type bucketMaker interface {
	CreateBucketIfNotExists([]byte) (*bolt.Bucket, error)
}

func putBucket(parent bucketMaker, name []byte, rb *readBucket) error {
	b, err := parent.CreateBucketIfNotExists(name)
	if err != nil {
		return err
	}
	for _, r := range rb.records {
		if err := b.Put(r.k, r.v); err != nil {
			return err
		}
	}
	for sub, nb := range rb.nested {
		if err := putBucket(b, []byte(sub), nb); err != nil {
			return err
		}
	}
	return b.SetSequence(rb.seq)
}
