package store

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzImport reads any bytes as a state export. CheckExport and
// Import agree: both refuse it (with a message, writing nothing), or
// both accept it with the same counts. What was imported exports as a
// document that checks and imports again unchanged.
func FuzzImport(f *testing.F) {
	const ban = `{"pipeline":"sshd","prefix":"192.0.2.1/32","time":"2026-11-25T07:00:00Z","until":null,"failures":1,"ban_count":1,"reason":"x"}`
	for _, s := range []string{
		`{"logjail_state": 1, "exported_at": "2026-11-25T07:00:00Z", "bans": [` + ban + `]}`,
		`{"logjail_state": 1, "bans": [{"pipeline":"web","prefix":"2001:db8::/64","time":"2026-11-25T07:00:00+01:00","until":"2026-11-25T08:00:00.5+01:00","failures":3,"ban_count":2,"reason":"r","origin":"n","lines":["a","b"]}]}`,
		`{"logjail_state": 1, "history": [{"pipeline":"sshd","prefix":"192.0.2.0/24","count":3,"last":"2026-11-25T07:00:00Z","bantime_s":60}]}`,
		`{"logjail_state": 1, "windows": [{"pipeline":"sshd","key":"2001:db8:0:1::","times":["2026-11-25T07:00:00.000000001Z","2026-11-25T07:00:00Z"]}]}`,
		`{"logjail_state": 1, "positions": [{"pipeline":"sshd","key":"/var/log/auth.log","value":"AAH/"},{"pipeline":"x","key":"journal:a","value":""}]}`,
		`{"logjail_state": 2}`, `{"logjail_state": 1, "bans": null, "history": [], "x": 1}`, `[]`, ``, `{"logjail_state": 1} {}`,
	} {
		f.Add([]byte(s))
	}
	s, err := Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	// export returns the store's export, and it without exported_at to
	// compare.
	export := func(t *testing.T) (doc, cmp string) {
		var b bytes.Buffer
		if err := s.Export(&b); err != nil {
			t.Fatal(err)
		}
		return b.String(), exExportedAt.ReplaceAllString(b.String(), "")
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, before := export(t)
		checked, cerr := CheckExport(bytes.NewReader(data))
		got, ierr := Import(bytes.NewReader(data), s, true)
		if (cerr == nil) != (ierr == nil) {
			t.Fatalf("CheckExport: %v; Import: %v", cerr, ierr)
		}
		if ierr != nil {
			if ierr.Error() == "" {
				t.Fatal("an error without a message")
			}
			if _, after := export(t); after != before {
				t.Fatalf("a refused import changed the store (%v)", ierr)
			}
			return
		}
		if got.Bans != checked.Bans || got.History != checked.History || got.Windows != checked.Windows || got.Positions != checked.Positions {
			t.Fatalf("imported %+v, checked %+v", got, checked)
		}
		doc, first := export(t)
		if _, err := Import(strings.NewReader(doc), s, true); err != nil {
			t.Fatalf("its own export is refused: %v\n%s", err, doc)
		}
		if _, again := export(t); again != first {
			t.Fatalf("export, import, export differ:\n%s\n%s", first, again)
		}
	})
}
