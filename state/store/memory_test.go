package store

import (
	"net/netip"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/logjail/logjail/state"
)

// Totals and remembered lines are written with a commit and read back; a
// line record that cannot be read is counted and left out, never fatal.
func TestStoreKeepsTotalsAndLines(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	v4, v6 := netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8:1::/64")
	err = s.Commit("p", &Changes{
		Totals: &state.Totals{Failed: 12, Banned: 2, Ignored: 1, Stale: 3},
		Lines:  []state.LinesChange{{Prefix: v4, Lines: []string{"a", "b"}}, {Prefix: v6, Lines: []string{"c"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit("p", &Changes{Lines: []state.LinesChange{{Prefix: v6}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit("q", &Changes{Lines: []state.LinesChange{{Prefix: v6, Lines: []string{"other pipeline"}}}}); err != nil {
		t.Fatal(err)
	}
	// A damaged record beside the good ones.
	err = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLines).Put(linesKey("p", netip.MustParsePrefix("192.0.2.8/32")), []byte("{not json"))
	})
	if err != nil {
		t.Fatal(err)
	}
	tot, err := s.Totals("p")
	if err != nil || tot != (state.Totals{Failed: 12, Banned: 2, Ignored: 1, Stale: 3}) {
		t.Errorf("totals %+v %v", tot, err)
	}
	if tot, err := s.Totals("none"); err != nil || tot != (state.Totals{}) {
		t.Errorf("totals of a pipeline never committed: %+v %v", tot, err)
	}
	lines, bad, err := s.Lines("p")
	if err != nil || bad != 1 || len(lines) != 1 || lines[0].Prefix != v4 || !slices.Equal(lines[0].Lines, []string{"a", "b"}) {
		t.Errorf("lines %+v, %d bad, %v: want only 192.0.2.7's and one bad record", lines, bad, err)
	}
}
