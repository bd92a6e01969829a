package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/logjail/logjail/state"
)

const boltPage = 4096 // bbolt's page size on this platform (the OS page)

// fixtureStore writes a store with bans of two pipelines, windows,
// positions and an outbox, and returns its bytes and its bans.
func fixtureStore(t *testing.T) ([]byte, map[string]bool) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	bans := map[string]bool{} // pipeline and prefix
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, pl := range []string{"sshd", "web"} {
		c := &Changes{Positions: map[string][]byte{pl + "\x00/var/log/x": []byte("pos")}}
		for i := range 400 {
			p := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, byte(len(pl)), byte(i)}), 32)
			if i >= 256 {
				p = netip.PrefixFrom(netip.MustParseAddr(fmt.Sprintf("2001:db8::%x", i)), 128)
			}
			bans[pl+" "+p.String()] = true
			c.Decisions = append(c.Decisions, state.Decision{Kind: state.Ban, Pipeline: pl, Prefix: p, Time: now, Until: now.Add(time.Hour), Failures: 3, BanCount: 1, Reason: "3 failures"})
			c.Windows = append(c.Windows, state.WindowChange{Key: netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), Times: []int64{now.UnixNano()}})
		}
		c.Outbox = []OutboxRecord{{Sink: "fleet", Subject: "logjail.fleet.bans." + pl, Data: []byte("{}")}}
		if err := s.Commit(pl, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, File))
	if err != nil {
		t.Fatal(err)
	}
	return b, bans
}

// Offsets in a meta page: the page header (16 bytes), then the meta.
const (
	metaMagic    = 16
	metaVersion  = 20
	metaRoot     = 32
	metaFreelist = 48
	metaPgid     = 56
	metaChecksum = 72
)

// setMeta writes v at off in both meta pages and fixes their checksums, so
// bbolt sees a well-formed meta page saying something wrong.
func setMeta(off int, v uint64, size int) func([]byte) []byte {
	return func(b []byte) []byte {
		for _, page := range []int{0, boltPage} {
			if size == 4 {
				binary.LittleEndian.PutUint32(b[page+off:], uint32(v))
			} else {
				binary.LittleEndian.PutUint64(b[page+off:], v)
			}
			h := fnv.New64a()
			h.Write(b[page+metaMagic : page+metaChecksum])
			binary.LittleEndian.PutUint64(b[page+metaChecksum:], h.Sum64())
		}
		return b
	}
}

// hwm is the end of the pages in use (bbolt grows the file ahead of them).
func hwm(b []byte) int {
	return boltPage * int(max(binary.LittleEndian.Uint64(b[metaPgid:]), binary.LittleEndian.Uint64(b[boltPage+metaPgid:])))
}

// randomPages overwrites the start of n random data pages with random
// bytes: the page header and the first elements.
func randomPages(seed uint64, n int) func([]byte) []byte {
	return func(b []byte) []byte {
		r := rand.New(rand.NewPCG(seed, 42))
		pages := hwm(b) / boltPage
		for range n {
			p := 2 + r.IntN(pages-2)
			for i := range 64 {
				b[p*boltPage+i] = byte(r.Uint32())
			}
		}
		return b
	}
}

// withBolt changes the store through bbolt itself: a valid file holding
// wrong records.
func withBolt(t *testing.T, fn func(tx *bolt.Tx) error) func([]byte) []byte {
	return func(b []byte) []byte {
		path := filepath.Join(t.TempDir(), "x.db")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(fn); err != nil {
			t.Fatal(err)
		}
		db.Close()
		out, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
}

type corruption struct {
	name    string
	corrupt func([]byte) []byte
	// readable is true when bbolt can still open the file, so that a
	// salvage keeps records; lost is then how many bans it loses at most
	// (-1: any number).
	readable bool
	lost     int
}

func corruptions(t *testing.T) []corruption {
	truncate := func(n func(int) int) func([]byte) []byte {
		return func(b []byte) []byte { return b[:n(len(b))] }
	}
	zero := func(from, n int) func([]byte) []byte {
		return func(b []byte) []byte { clear(b[from : from+n]); return b }
	}
	garble := func(bucket []byte) func(tx *bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			k, _ := tx.Bucket(bucket).Cursor().First()
			return tx.Bucket(bucket).Put(k, []byte("\x00garbled{"))
		}
	}
	return []corruption{
		{name: "zero bytes", corrupt: truncate(func(int) int { return 0 })},
		{name: "truncated to 100 bytes", corrupt: truncate(func(int) int { return 100 })},
		{name: "truncated to one page", corrupt: truncate(func(int) int { return boltPage })},
		{name: "truncated to the meta pages", corrupt: truncate(func(int) int { return 2 * boltPage })},
		{name: "truncated to three pages", corrupt: truncate(func(int) int { return 3 * boltPage })},
		{name: "truncated to half", corrupt: truncate(func(n int) int { return n / 2 / boltPage * boltPage })},
		{name: "last used page cut", corrupt: func(b []byte) []byte { return b[:hwm(b)-boltPage] }},
		{name: "cut mid-page", corrupt: func(b []byte) []byte { return b[:hwm(b)-boltPage-1000] }},
		{name: "both meta pages zeroed", corrupt: zero(0, 2*boltPage)},
		{name: "wrong magic", corrupt: setMeta(metaMagic, 0xdeadbeef, 4)},
		{name: "wrong bbolt version", corrupt: setMeta(metaVersion, 7, 4)},
		{name: "root page out of range", corrupt: setMeta(metaRoot, 1<<40, 8)},
		{name: "freelist page out of range", corrupt: setMeta(metaFreelist, 1<<40, 8)},
		{name: "high water mark past the file", corrupt: setMeta(metaPgid, 1<<20, 8)},
		{name: "high water mark too low", corrupt: setMeta(metaPgid, 3, 8)},
		{name: "random bytes on pages, seed 1", corrupt: randomPages(1, 3), readable: true, lost: -1},
		{name: "random bytes on pages, seed 2", corrupt: randomPages(2, 3), readable: true, lost: -1},
		{name: "random bytes on pages, seed 3", corrupt: randomPages(3, 4), readable: true, lost: -1},
		{name: "random bytes on pages, seed 4", corrupt: randomPages(4, 8), readable: true, lost: -1},
		{name: "random bytes on pages, seed 5", corrupt: randomPages(5, 4), readable: true, lost: -1},
		{name: "a ban's value garbled", corrupt: withBolt(t, garble(bucketBans)), readable: true, lost: 1},
		{name: "a window's value garbled", corrupt: withBolt(t, garble(bucketWindows)), readable: true},
		{name: "logjail layout version 99", corrupt: withBolt(t, func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyVersion, []byte("99"))
		}), readable: true},
		{name: "layout version lost", corrupt: withBolt(t, func(tx *bolt.Tx) error {
			return tx.DeleteBucket(bucketMeta)
		}), readable: true},
		{name: "another program's bbolt file", corrupt: func([]byte) []byte {
			return withBolt(t, func(tx *bolt.Tx) error {
				_, err := tx.CreateBucket([]byte("not-logjail"))
				return err
			})(nil)
		}, readable: true, lost: -1},
	}
}

// Every corruption is refused with an error naming the file and the ways
// out, without a panic; `state check` finds it; `state salvage` keeps the
// readable bans.
func TestCorruptStoreRefused(t *testing.T) {
	good, bans := fixtureStore(t)
	for _, tc := range corruptions(t) {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, File)
			if err := os.WriteFile(path, tc.corrupt(append([]byte(nil), good...)), 0o600); err != nil {
				t.Fatal(err)
			}
			err := openAndRead(dir)
			if err == nil {
				t.Fatal("the damaged store was opened and read")
			}
			if !errors.Is(err, ErrDamaged) {
				t.Errorf("error is not ErrDamaged: %v", err)
			}
			for _, want := range []string{path, "logjail state check", "logjail state salvage", "--start-over"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not say %q: %v", want, err)
				}
			}
			if fi, err := os.Stat(path); err != nil || fi.Size() == 0 && tc.name != "zero bytes" {
				t.Errorf("the damaged file was removed or emptied: %v", err)
			}

			rep, err := Check(dir)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Sound || len(rep.Problems) == 0 {
				t.Errorf("state check found nothing wrong: %+v", rep)
			}

			sal, err := Salvage(dir, false)
			switch {
			case !tc.readable && err == nil:
				if sal.Kept[string(bucketBans)] > 0 {
					t.Logf("salvaged %d bans from a store bbolt mostly cannot read", sal.Kept[string(bucketBans)])
				}
			case !tc.readable:
				if !strings.Contains(err.Error(), "--start-over") {
					t.Errorf("salvage of an unreadable store does not point to --start-over: %v", err)
				}
				if sal, err = Salvage(dir, true); err != nil {
					t.Fatalf("start over: %v", err)
				}
			case err != nil:
				t.Fatalf("salvage: %v", err)
			}
			if _, err := os.Stat(sal.Moved); err != nil {
				t.Errorf("the damaged file was not moved aside: %v", err)
			}
			s, err := Open(dir)
			if err != nil {
				t.Fatalf("after salvage: %v", err)
			}
			defer s.Close()
			got, err := s.Bans("")
			if err != nil {
				t.Fatalf("after salvage: %v", err)
			}
			for _, b := range got {
				if !bans[b.Pipeline+" "+b.Prefix.String()] {
					t.Errorf("salvage made up a ban of %s", b.Prefix)
				}
			}
			if tc.readable && tc.lost >= 0 && len(got) < len(bans)-tc.lost {
				t.Errorf("salvage kept %d of %d bans, want at least %d", len(got), len(bans), len(bans)-tc.lost)
			}
			t.Logf("salvage kept %d of %d bans; report %+v", len(got), len(bans), sal)
		})
	}
}

// openAndRead does what the daemon does with its store at start: open it,
// read every pipeline's bans and windows, then commit.
func openAndRead(dir string) error {
	s, err := Open(dir)
	if err != nil {
		return err
	}
	defer s.Close()
	for _, pl := range []string{"sshd", "web"} {
		if _, err := s.Bans(pl); err != nil {
			return err
		}
		if _, err := s.Windows(pl); err != nil {
			return err
		}
	}
	return s.Commit("sshd", &Changes{Positions: map[string][]byte{"sshd\x00/x": []byte("1")}})
}

// A store whose pages are damaged while it is open (another program wrote
// into the file) panics inside bbolt: the panic becomes an error, the
// store is broken and refuses writes, and the process goes on.
func TestPanicBreaksStore(t *testing.T) {
	good, _ := fixtureStore(t)
	dir := t.TempDir()
	path := filepath.Join(dir, File)
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Every data page in use gets a garbage header, through the file: the
	// memory map shows it.
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	junk := []byte(strings.Repeat("\xff", 16))
	for off := 2 * boltPage; off < hwm(good); off += boltPage {
		if _, err := f.WriteAt(junk, int64(off)); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	if _, err := s.Bans(""); !errors.Is(err, ErrBroken) {
		t.Fatalf("reading the damaged pages: want ErrBroken, got %v", err)
	}
	if s.Broken() == nil {
		t.Fatal("the store is not marked broken")
	}
	err = s.SaveBan(state.Decision{Kind: state.Ban, Pipeline: "sshd", Prefix: netip.MustParsePrefix("192.0.2.9/32"), Time: time.Now()})
	if !errors.Is(err, ErrBroken) || !strings.Contains(err.Error(), path) {
		t.Fatalf("a write to a broken store: want ErrBroken naming %s, got %v", path, err)
	}
}

// Neither check nor salvage runs while a logjail holds the store.
func TestCheckAndSalvageRefuseAHeldStore(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Check(dir); !errors.Is(err, ErrLocked) {
		t.Errorf("check of a held store: want ErrLocked, got %v", err)
	}
	for _, startOver := range []bool{false, true} {
		if _, err := Salvage(dir, startOver); !errors.Is(err, ErrLocked) {
			t.Errorf("salvage (start over %v) of a held store: want ErrLocked, got %v", startOver, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, File)); err != nil {
		t.Errorf("the held store was moved: %v", err)
	}
}
