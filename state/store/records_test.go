package store

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/logjail/logjail/state"
)

// jsonRecordBans are the bans of testdata/json-records/logjail.db, a store
// written by a logjail that stored its bans and history as JSON
// (export.json beside it is that logjail's export of it).
var jsonRecordBans = []state.Decision{
	{Kind: state.Ban, Pipeline: "sshd", Prefix: netip.MustParsePrefix("192.0.2.7/32"), Time: t0, Until: t0.Add(time.Hour), Failures: 5, BanCount: 1, Reason: "5 failures within 10m"},
	{Kind: state.Ban, Pipeline: "sshd", Prefix: netip.MustParsePrefix("2001:db8:1::/64"), Time: t0.Add(time.Second), Until: t0.Add(2 * time.Hour), Failures: 3, BanCount: 2, Reason: "3 failures within 10m"},
	{Kind: state.Ban, Pipeline: "sshd", Prefix: netip.MustParsePrefix("203.0.113.9/32"), Time: t0, Until: t0.Add(time.Hour), Failures: 5, BanCount: 1, Reason: "fleet: 5 failures on host-b", Origin: "host-b"},
	{Kind: state.Ban, Pipeline: "web", Prefix: netip.MustParsePrefix("198.51.100.1/32"), Time: t0.Add(1500 * time.Millisecond), BanCount: 1, Reason: "manual"},
}

// sameBan compares two bans field by field, times by instant.
func sameBan(a, b state.Decision) bool {
	return a.Kind == b.Kind && a.Pipeline == b.Pipeline && a.Prefix == b.Prefix && a.Time.Equal(b.Time) && a.Until.Equal(b.Until) &&
		a.Failures == b.Failures && a.BanCount == b.BanCount && a.Reason == b.Reason && a.Origin == b.Origin
}

// checkBans fails unless s holds exactly want (in the store's order).
func checkBans(t *testing.T, s *Store, want []state.Decision) {
	t.Helper()
	got, err := s.Bans("")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d bans, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if !sameBan(got[i], want[i]) {
			t.Errorf("ban %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

// copyJSONRecordStore copies the store of JSON records into a new state
// directory.
func copyJSONRecordStore(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("testdata/json-records/logjail.db")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, File), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestJSONRecordsStillRead opens a store whose bans and history an
// earlier logjail wrote as JSON: they are read, checked, exported as that
// logjail exported them, counted, renewed (in the binary form, beside the
// JSON records) and salvaged.
func TestJSONRecordsStillRead(t *testing.T) {
	dir := copyJSONRecordStore(t)
	if rep, err := Check(dir); err != nil || !rep.Sound || rep.Buckets["bans"].Records != 4 || rep.Buckets["history"].Records != 4 {
		t.Fatalf("check: %+v %v", rep, err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkBans(t, s, jsonRecordBans)
	want, err := os.ReadFile("testdata/json-records/export.json")
	if err != nil {
		t.Fatal(err)
	}
	exSameDoc(t, exExport(t, s), string(want))
	if n, err := s.Count("sshd", netip.MustParsePrefix("2001:db8:1::7/128"), false); n != 2 || err != nil {
		t.Errorf("count %d %v, want 2", n, err)
	}
	renewed := jsonRecordBans[0]
	renewed.Time, renewed.Until, renewed.BanCount = t0.Add(time.Minute), t0.Add(3*time.Hour), 2
	if err := s.SaveBan(renewed); err != nil {
		t.Fatal(err)
	}
	forms := recordForms(t, s)
	if forms[recordV1] != 2 || forms['{'] != 6 {
		t.Errorf("after a renewal, records by first byte: %v; want 2 binary (ban, history), 6 JSON", forms)
	}
	if n, _ := s.Count("sshd", renewed.Prefix, false); n != 2 {
		t.Errorf("renewed ban's count %d, want 2", n)
	}
	s = reopenStore(t, s)
	bans := append([]state.Decision{renewed}, jsonRecordBans[1:]...)
	checkBans(t, s, bans)
	s.Close()
	sal, err := Salvage(dir, false)
	if err != nil || sal.Kept["bans"] != 4 || sal.Lost["bans"] != 0 || sal.Kept["history"] != 4 {
		t.Fatalf("salvage: %+v %v", sal, err)
	}
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkBans(t, s, bans)
}

// recordForms counts the ban and history records by their first byte.
func recordForms(t *testing.T, s *Store) map[byte]int {
	t.Helper()
	out := map[byte]int{}
	err := s.view(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketBans, bucketHistory} {
			tx.Bucket(b).ForEach(func(_, v []byte) error {
				out[v[0]]++
				return nil
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBanRecordRoundTrip(t *testing.T) {
	local := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		name string
		d    state.Decision
	}{
		{"IPv4 address", jsonRecordBans[0]},
		{"IPv6 prefix", jsonRecordBans[1]},
		{"fleet origin", jsonRecordBans[2]},
		{"permanent", jsonRecordBans[3]},
		{"nanoseconds, another zone", state.Decision{Kind: state.Ban, Pipeline: "p", Prefix: netip.MustParsePrefix("10.0.0.0/8"), Time: time.Date(2026, 1, 2, 3, 4, 5, 999_999_999, local), Until: time.Date(2262, 1, 1, 0, 0, 0, 1, local), Failures: 300, BanCount: 70000, Reason: "ünïcode"}},
		{"before 1970, empty strings", state.Decision{Kind: state.Ban, Prefix: netip.MustParsePrefix("::/0"), Time: time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC)}},
		{"IPv6 address", state.Decision{Kind: state.Ban, Pipeline: "sshd", Prefix: netip.MustParsePrefix("2001:db8::ffff/128"), Time: t0, Until: t0.Add(time.Second)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := encodeBan(tc.d)
			got, err := decodeBan(v)
			if err != nil || !sameBan(got, tc.d) {
				t.Fatalf("decoded %+v, %v; want %+v", got, err, tc.d)
			}
			for n := range len(v) {
				if _, err := decodeBan(v[:n]); err == nil {
					t.Errorf("the first %d of %d bytes decode", n, len(v))
				}
			}
			if _, err := decodeBan(append(bytes.Clone(v), 0)); err == nil {
				t.Error("a record with a byte too many decodes")
			}
			if _, err := decodeBan(append([]byte{recordV1 + 1}, v[1:]...)); err == nil {
				t.Error("a record of an unknown format decodes")
			}
		})
	}
}

func TestHistoryRecordRoundTrip(t *testing.T) {
	for _, h := range []storedHistory{
		{Count: 1, Last: t0, BanTimeS: 3600},
		{Count: 70000, Last: t0.Add(time.Nanosecond), BanTimeS: -1},
		{Count: 2, Last: t0, BanTimeS: 0.5},
	} {
		v := encodeHistory(h)
		got, err := decodeHistory(v)
		if err != nil || got.Count != h.Count || !got.Last.Equal(h.Last) || got.BanTimeS != h.BanTimeS {
			t.Fatalf("decoded %+v, %v; want %+v", got, err, h)
		}
		for n := range len(v) {
			if _, err := decodeHistory(v[:n]); err == nil {
				t.Errorf("the first %d of %d bytes decode", n, len(v))
			}
		}
	}
}

// FuzzBanRecord decodes any bytes as a ban record without a panic; what
// decodes is written again as it was read.
func FuzzBanRecord(f *testing.F) {
	for _, d := range jsonRecordBans {
		f.Add(encodeBan(d))
	}
	f.Add([]byte(`{"pipeline":"sshd","prefix":"192.0.2.7/32","time":"2026-11-25T07:00:00Z","failures":5,"ban_count":1,"reason":"r"}`))
	f.Fuzz(func(t *testing.T, v []byte) {
		d, err := decodeBan(v)
		if err != nil {
			return
		}
		again, err := decodeBan(encodeBan(d))
		if err != nil || !sameBan(again, d) {
			t.Fatalf("%+v written and read again: %+v, %v", d, again, err)
		}
	})
}

// Remembered lines are written in the binary form and read in both: a
// record an earlier logjail wrote (JSON) beside one written now.
func TestLinesRecords(t *testing.T) {
	s := openTestStore(t)
	old, now := netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8:1::/64")
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketLines)
		if err != nil {
			return err
		}
		return b.Put(linesKey("p", old), []byte(`["Failed password for root","<é>"]`))
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"", "Failed password for ünïcode", string(make([]byte, 300))}
	if err := s.Commit("p", &Changes{Lines: []state.LinesChange{{Prefix: now, Lines: want}}}); err != nil {
		t.Fatal(err)
	}
	lines, bad, err := s.Lines("p")
	if err != nil || bad != 0 || len(lines) != 2 || !slices.Equal(lines[0].Lines, []string{"Failed password for root", "<é>"}) || !slices.Equal(lines[1].Lines, want) {
		t.Fatalf("lines %+v, %d bad, %v", lines, bad, err)
	}
	if lines[0].Marks != nil || lines[1].Marks != nil {
		t.Errorf("lines without marks read with marks: %+v", lines)
	}
	marks := []state.LineMark{{}, {Time: time.Unix(1700000000, 5), Regex: 2, RegexSum: 0xdeadbeef}, {Time: time.Unix(1, 0), Regex: state.NoRegex}}
	for _, tc := range []struct {
		name    string
		marks   []state.LineMark
		version byte
	}{
		{"without marks", nil, recordV1},
		{"with marks", marks, recordV2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := encodeLines(want, tc.marks)
			if v[0] != tc.version {
				t.Errorf("first byte %d, want the format version %d", v[0], tc.version)
			}
			got, gotMarks, err := decodeLines(v)
			if err != nil || !slices.Equal(got, want) || !slices.EqualFunc(gotMarks, tc.marks, sameMark) || (gotMarks == nil) != (tc.marks == nil) {
				t.Errorf("read back %q %+v, %v; want %q %+v", got, gotMarks, err, want, tc.marks)
			}
			for n := range len(v) {
				if _, _, err := decodeLines(v[:n]); err == nil {
					t.Errorf("the first %d of %d bytes decode", n, len(v))
				}
			}
			if _, _, err := decodeLines(append(bytes.Clone(v), 'x')); err == nil {
				t.Error("a record with a byte too many decodes")
			}
		})
	}
}

// A prefix's lines keep their marks through a commit and a read.
func TestLinesMarksStored(t *testing.T) {
	s := openTestStore(t)
	p := netip.MustParsePrefix("203.0.113.9/32")
	marks := []state.LineMark{{Time: time.Unix(1700000000, 0), Regex: 1, RegexSum: state.RegexSum("^denied <HOST>$")}}
	if err := s.Commit("p", &Changes{Lines: []state.LinesChange{{Prefix: p, Lines: []string{"denied 203.0.113.9"}, Marks: marks}}}); err != nil {
		t.Fatal(err)
	}
	got, bad, err := s.Lines("p")
	if err != nil || bad != 0 || len(got) != 1 || !slices.EqualFunc(got[0].Marks, marks, sameMark) {
		t.Fatalf("lines %+v, %d bad, %v; want marks %+v", got, bad, err, marks)
	}
}

func sameMark(a, b state.LineMark) bool {
	return a.Time.Equal(b.Time) && a.Regex == b.Regex && a.RegexSum == b.RegexSum
}
