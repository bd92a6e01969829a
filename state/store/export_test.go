package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/state"
)

func exExport(t *testing.T, s *Store) string {
	t.Helper()
	var b bytes.Buffer
	if err := s.Export(&b); err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b.Bytes()) {
		t.Fatalf("export is not JSON:\n%s", b.String())
	}
	return b.String()
}

var exExportedAt = regexp.MustCompile(`"exported_at": "[^"]*"`)

// sameDoc compares two exports but for exported_at.
func exSameDoc(t *testing.T, got, want string) {
	t.Helper()
	g, w := exExportedAt.ReplaceAllString(got, ""), exExportedAt.ReplaceAllString(want, "")
	if g != w {
		t.Fatalf("documents differ\ngot:\n%s\nwant:\n%s", got, want)
	}
}

func exImport(t *testing.T, doc string, s *Store, replace bool) ImportStats {
	t.Helper()
	st, err := Import(strings.NewReader(doc), s, replace)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, doc)
	}
	return st
}

func exBan(pipeline, prefix string, at time.Time, d time.Duration) state.Decision {
	b := state.Decision{Kind: state.Ban, Pipeline: pipeline, Prefix: netip.MustParsePrefix(prefix), Time: at, Failures: 3, BanCount: 1, Reason: "3 failures"}
	if d > 0 {
		b.Until = at.Add(d)
	}
	return b
}

// fill gives a store a record of every kind, and the odd ones.
func exFill(t *testing.T, s *Store) {
	t.Helper()
	local := time.FixedZone("CET", 3600)
	err := s.Commit("sshd", &Changes{
		Positions: map[string][]byte{
			"sshd\x00/var/log/auth.log":       []byte("\x00\x01binary\xff"),
			"sshd\x00journal:sshd.service":    []byte("s=abc;i=12"),
			"sshd\x00/var/log/\xffodd.log":    []byte("x"), // not UTF-8
			"unscoped-key":                    []byte("old"),
			"web\x00/var/log/nginx/error.log": {},
		},
		Windows: []state.WindowChange{
			{Key: netip.MustParseAddr("198.51.100.4"), Times: []int64{t0.UnixNano(), t0.Add(1500 * time.Millisecond).UnixNano()}},
			{Key: netip.MustParseAddr("2001:db8:0:1::"), Times: []int64{t0.Add(time.Nanosecond).UnixNano()}},
		},
		Decisions: []state.Decision{
			exBan("sshd", "192.0.2.7/32", t0.In(local), time.Hour),
			exBan("sshd", "2001:db8::/64", t0, 0), // permanent
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveBan(exBan("web", "203.0.113.9/32", t0.Add(time.Minute), 10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// History without an active ban (an earlier ban of the address).
	old := exBan("web", "198.51.100.0/24", t0.Add(-48*time.Hour), time.Hour)
	old.BanCount = 4
	if err := s.RecordBan(old); err != nil {
		t.Fatal(err)
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	src := openTestStore(t)
	exFill(t, src)
	doc := exExport(t, src)
	for _, want := range []string{
		`"logjail_state": 1`,
		`{"pipeline":"sshd","prefix":"192.0.2.7/32","time":"2026-11-25T07:00:00Z","until":"2026-11-25T08:00:00Z","failures":3,"ban_count":1,"reason":"3 failures"}`,
		`{"pipeline":"sshd","prefix":"2001:db8::/64","time":"2026-11-25T07:00:00Z","until":null,`,
		`{"pipeline":"web","prefix":"198.51.100.0/24","count":4,"last":"2026-11-23T07:00:00Z","bantime_s":3600}`,
		`{"pipeline":"sshd","prefix":"2001:db8::/64","count":1,"last":"2026-11-25T07:00:00Z","bantime_s":-1}`,
		`{"pipeline":"sshd","key":"198.51.100.4","times":["2026-11-25T07:00:00Z","2026-11-25T07:00:01.5Z"]}`,
		`{"pipeline":"sshd","key":"2001:db8:0:1::","times":["2026-11-25T07:00:00.000000001Z"]}`,
		`{"pipeline":"sshd","key":"/var/log/auth.log","value":"AAFiaW5hcnn/"}`,
		`{"pipeline":"web","key":"/var/log/nginx/error.log","value":""}`,
		`{"pipeline":"","key":"unscoped-key","key_base64":"dW5zY29wZWQta2V5","value":"b2xk"}`,
		`"key_base64":"c3NoZAAvdmFyL2xvZy//b2RkLmxvZw=="`,
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("export lacks %s", want)
		}
	}
	if t.Failed() {
		t.Fatalf("export:\n%s", doc)
	}

	for _, replace := range []bool{false, true} {
		dst := openTestStore(t)
		st := exImport(t, doc, dst, replace)
		want := ImportStats{Bans: 3, History: 4, Windows: 2, Positions: 5, Replaced: replace, Pipelines: []string{"sshd", "web"}}
		if st.Bans != want.Bans || st.History != want.History || st.Windows != want.Windows || st.Positions != want.Positions || st.Kept != 0 ||
			st.Replaced != replace || strings.Join(st.Pipelines, ",") != "sshd,web" {
			t.Errorf("replace=%v: stats %+v, want %+v", replace, st, want)
		}
		exSameDoc(t, exExport(t, dst), doc)

		// The store's readers see what they saw in the source.
		for _, pipeline := range []string{"sshd", "web"} {
			a, _ := src.Bans(pipeline)
			b, _ := dst.Bans(pipeline)
			if len(a) != len(b) {
				t.Fatalf("%s bans %v, want %v", pipeline, b, a)
			}
			for i := range a {
				if a[i].Prefix != b[i].Prefix || !a[i].Time.Equal(b[i].Time) || !a[i].Until.Equal(b[i].Until) || a[i].Reason != b[i].Reason || a[i].BanCount != b[i].BanCount {
					t.Errorf("%s ban %+v, want %+v", pipeline, b[i], a[i])
				}
			}
		}
		w, _ := dst.Windows("sshd")
		if len(w) != 2 || w[0].Key != netip.MustParseAddr("198.51.100.4") || len(w[0].Times) != 2 || w[0].Times[1] != t0.Add(1500*time.Millisecond).UnixNano() {
			t.Errorf("windows %+v", w)
		}
		for k, v := range map[string]string{"sshd\x00/var/log/auth.log": "\x00\x01binary\xff", "sshd\x00/var/log/\xffodd.log": "x", "unscoped-key": "old"} {
			if got, _ := dst.Position(k); string(got) != v {
				t.Errorf("position %q = %q, want %q", k, got, v)
			}
		}
		if n, _ := dst.Count("web", netip.MustParsePrefix("198.51.100.7/32"), false); n != 4 {
			t.Errorf("history count %d, want 4", n)
		}
	}
}

func TestImportMerge(t *testing.T) {
	doc := exExport(t, mergeSource(t))

	t.Run("merge", func(t *testing.T) {
		s := mergeHost(t)
		st := exImport(t, doc, s, false)
		if st.Bans != 3 || st.Positions != 1 || st.Kept != 2 || st.Windows != 1 || st.Replaced {
			t.Errorf("stats %+v, want 3 bans, 1 position written, 2 kept", st)
		}
		want := map[string]string{"192.0.2.1": "2h0m0s", "192.0.2.2": "3h0m0s", "192.0.2.3": "permanent", "192.0.2.4": "1h0m0s", "192.0.2.5": "2h0m0s"}
		if got := untils(t, s); !exEqualMaps(got, want) {
			t.Errorf("bans %v, want %v", got, want)
		}
		if pos(s, "/a.log") != "host" || pos(s, "/b.log") != "doc" || pos(s, "/c.log") != "host" {
			t.Errorf("positions a=%s b=%s c=%s, want host doc host", pos(s, "/a.log"), pos(s, "/b.log"), pos(s, "/c.log"))
		}
		w, _ := s.Windows("sshd")
		if len(w) != 1 || len(w[0].Times) != 3 || w[0].Times[0] != 1 || w[0].Times[2] != 3 {
			t.Errorf("window %+v, want the times of both", w)
		}
		h, _ := s.BanHistory("sshd")
		for _, r := range h {
			if r.Prefix.Addr().String() == "192.0.2.9" && (r.Count != 7 || !r.Last.Equal(t0)) {
				t.Errorf("history %+v, want count 7 (the higher) and last %s (the newer)", r, t0)
			}
		}
		// Importing the same document again changes nothing.
		before := exExport(t, s)
		exImport(t, doc, s, false)
		exSameDoc(t, exExport(t, s), before)
	})
	t.Run("replace", func(t *testing.T) {
		s := mergeHost(t)
		st := exImport(t, doc, s, true)
		if st.Bans != 4 || st.Positions != 2 || st.Kept != 0 || !st.Replaced {
			t.Errorf("stats %+v", st)
		}
		exSameDoc(t, exExport(t, s), doc)
	})
}

// mergeSource is the store whose export TestImportMerge imports: bans
// shorter, longer, permanent and new, positions, a window and history.
func mergeSource(t *testing.T) *Store {
	t.Helper()
	s := openTestStore(t)
	if err := s.SaveBan(exBan("sshd", "192.0.2.1/32", t0, time.Hour)); err != nil { // shorter than the store's
		t.Fatal(err)
	}
	if err := s.SaveBan(exBan("sshd", "192.0.2.2/32", t0, 3*time.Hour)); err != nil { // longer
		t.Fatal(err)
	}
	if err := s.SaveBan(exBan("sshd", "192.0.2.3/32", t0, 0)); err != nil { // permanent
		t.Fatal(err)
	}
	if err := s.SaveBan(exBan("sshd", "192.0.2.4/32", t0, time.Hour)); err != nil { // new
		t.Fatal(err)
	}
	err := s.Commit("sshd", &Changes{
		Positions: map[string][]byte{"sshd\x00/a.log": []byte("doc"), "sshd\x00/b.log": []byte("doc")},
		Windows:   []state.WindowChange{{Key: netip.MustParseAddr("198.51.100.1"), Times: []int64{2, 3}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	old := exBan("sshd", "192.0.2.9/32", t0.Add(-time.Hour), time.Minute)
	old.BanCount = 7
	if err := s.RecordBan(old); err != nil {
		t.Fatal(err)
	}
	return s
}

// mergeHost is the host's store the document goes into.
func mergeHost(t *testing.T) *Store {
	t.Helper()
	s := openTestStore(t)
	for _, b := range []state.Decision{
		exBan("sshd", "192.0.2.1/32", t0, 2*time.Hour),
		exBan("sshd", "192.0.2.2/32", t0, 2*time.Hour),
		exBan("sshd", "192.0.2.3/32", t0, 2*time.Hour),
		exBan("sshd", "192.0.2.5/32", t0, 2*time.Hour), // only here
	} {
		if err := s.SaveBan(b); err != nil {
			t.Fatal(err)
		}
	}
	err := s.Commit("sshd", &Changes{
		Positions: map[string][]byte{"sshd\x00/a.log": []byte("host"), "sshd\x00/c.log": []byte("host")},
		Windows:   []state.WindowChange{{Key: netip.MustParseAddr("198.51.100.1"), Times: []int64{1, 3}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	recent := exBan("sshd", "192.0.2.9/32", t0, time.Minute)
	recent.BanCount = 2
	if err := s.RecordBan(recent); err != nil {
		t.Fatal(err)
	}
	return s
}

// untils maps each ban's address to how long after t0 it ends.
func untils(t *testing.T, s *Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	bans, err := s.Bans("")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bans {
		out[b.Prefix.Addr().String()] = "permanent"
		if !b.Permanent() {
			out[b.Prefix.Addr().String()] = b.Until.Sub(t0).String()
		}
	}
	return out
}

// pos is the position of sshd's file k.
func pos(s *Store, k string) string {
	v, _ := s.Position("sshd\x00" + k)
	return string(v)
}

func exEqualMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestImportRejectsBadDocuments(t *testing.T) {
	const okBan = `{"pipeline":"sshd","prefix":"192.0.2.1/32","time":"2026-11-25T07:00:00Z","until":null,"failures":1,"ban_count":1,"reason":"x"}`
	doc := func(sections string) string {
		return `{"logjail_state": 1, "exported_at": "2026-11-25T07:00:00Z"` + sections + `}`
	}
	for _, tc := range []struct{ name, doc, want string }{
		{"not json", `bans: []`, "not a logjail state export: invalid character"},
		{"empty", ``, "not a logjail state export: EOF"},
		{"list", `[]`, "not a logjail state export"},
		{"no version", `{"bans": []}`, `no "logjail_state" version`},
		{"bad version", `{"logjail_state": "one"}`, `logjail_state: "one" is not a format version`},
		{"newer", `{"logjail_state": 2, "bans": [{"whatever": true}]}`, "format 2, written by a newer logjail; this logjail imports format 1 at most"},
		{"unknown section", doc(`, "ban": []`), `unknown field "ban"`},
		{"trailing", doc(``) + ` {}`, "data after the document"},
		{"bad exported_at", `{"logjail_state": 1, "exported_at": "yesterday"}`, `exported_at: "yesterday" is not an RFC 3339 time`},
		{"section not a list", doc(`, "bans": {}`), "bans: not a list of records"},
		{"bad prefix", doc(`, "bans": [` + okBan + `, {"pipeline":"sshd","prefix":"x","time":"2026-11-25T07:00:00Z","until":null}]`), `bans[1]: prefix "x": `},
		{"bad time", doc(`, "bans": [{"pipeline":"sshd","prefix":"192.0.2.1","time":"2026-11-25 07:00","until":null}]`), `bans[0]: time: "2026-11-25 07:00" is not an RFC 3339 time`},
		{"bad until", doc(`, "bans": [{"pipeline":"sshd","prefix":"192.0.2.1","time":"2026-11-25T07:00:00Z","until":"soon"}]`), `bans[0]: until: "soon" is not`},
		{"until missing", doc(`, "bans": [{"pipeline":"sshd","prefix":"192.0.2.1","time":"2026-11-25T07:00:00Z"}]`), `bans[0]: until: missing (null for a permanent ban)`},
		{"until before time", doc(`, "bans": [{"pipeline":"sshd","prefix":"192.0.2.1","time":"2026-11-25T07:00:00Z","until":"2026-11-25T06:00:00Z"}]`), `bans[0]: until 2026-11-25T06:00:00Z is before time`},
		{"no pipeline", doc(`, "bans": [{"prefix":"192.0.2.1","time":"2026-11-25T07:00:00Z","until":null}]`), `bans[0]: no pipeline`},
		{"unknown field", doc(`, "bans": [{"pipeline":"sshd","prefix":"192.0.2.1","time":"2026-11-25T07:00:00Z","untill":null}]`), `bans[0]: unknown field "untill"`},
		{"wrong type", doc(`, "bans": [{"pipeline":"sshd","prefix":"192.0.2.1","time":"2026-11-25T07:00:00Z","until":null,"failures":"3"}]`), `bans[0]: failures: a JSON string where a number is expected`},
		{"duplicate ban", doc(`, "bans": [` + okBan + `,` + strings.Replace(okBan, "192.0.2.1/32", "192.0.2.1", 1) + `]`), `bans[1]: pipeline sshd, prefix 192.0.2.1/32 again (as bans[0])`},
		{"history count", doc(`, "history": [{"pipeline":"sshd","prefix":"192.0.2.1/32","count":0,"last":"2026-11-25T07:00:00Z","bantime_s":60}]`), `history[0]: count 0: at least 1`},
		{"history bantime", doc(`, "history": [{"pipeline":"sshd","prefix":"192.0.2.1/32","count":1,"last":"2026-11-25T07:00:00Z","bantime_s":-5}]`), `history[0]: bantime_s -5`},
		{"history prefix", doc(`, "history": [{"pipeline":"sshd","prefix":"192.0.2.300/32","count":1,"last":"2026-11-25T07:00:00Z","bantime_s":1}]`), `history[0]: prefix "192.0.2.300/32"`},
		{"window key", doc(`, "windows": [{"pipeline":"sshd","key":"nope","times":["2026-11-25T07:00:00Z"]}]`), `windows[0]: key "nope": not an address`},
		{"window time", doc(`, "windows": [{"pipeline":"sshd","key":"192.0.2.1","times":["2026-11-25T07:00:00Z","later"]}]`), `windows[0]: times[1]: "later" is not`},
		{"window range", doc(`, "windows": [{"pipeline":"sshd","key":"192.0.2.1","times":["3000-01-01T00:00:00Z"]}]`), `windows[0]: times[0]: 3000-01-01T00:00:00Z is out of range`},
		{"window empty", doc(`, "windows": [{"pipeline":"sshd","key":"192.0.2.1","times":[]}]`), `windows[0]: times: none`},
		{"position value", doc(`, "positions": [{"pipeline":"sshd","key":"/a","value":"%%%"}]`), `positions[0]: illegal base64`},
		{"position null", doc(`, "positions": [{"pipeline":"sshd","key":"/a","value":null}]`), `positions[0]: no value`},
		{"position pipeline", doc(`, "positions": [{"pipeline":"","key":"/a","value":""}]`), `positions[0]: no pipeline`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTestStore(t)
			exFill(t, s)
			before := exExport(t, s)
			_, err := Import(strings.NewReader(tc.doc), s, true)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one with %q", err, tc.want)
			}
			exSameDoc(t, exExport(t, s), before) // nothing written, not even the replace
			if _, err := CheckExport(strings.NewReader(tc.doc)); err == nil {
				t.Error("CheckExport accepts it")
			}
		})
	}
}

func TestCheckExport(t *testing.T) {
	s := openTestStore(t)
	exFill(t, s)
	st, err := CheckExport(strings.NewReader(exExport(t, s)))
	if err != nil {
		t.Fatal(err)
	}
	if st.Bans != 3 || st.History != 4 || st.Windows != 2 || st.Positions != 5 {
		t.Errorf("stats %+v", st)
	}
	// An empty document is a valid (empty) state.
	if _, err := CheckExport(strings.NewReader(`{"logjail_state": 1}`)); err != nil {
		t.Error(err)
	}
}

func TestOpenStoreReadOnly(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenReadOnly(dir); err == nil || !strings.Contains(err.Error(), "no state store in") {
		t.Fatalf("empty dir: %v", err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	exFill(t, s)
	want := exExport(t, s)
	if _, err := OpenReadOnly(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("while open: %v, want ErrLocked", err)
	}
	s.Close()
	ro, err := OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	exSameDoc(t, exExport(t, ro), want)
	// Readers share the store; a writer waits for them.
	ro2, err := OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	ro2.Close()
}
