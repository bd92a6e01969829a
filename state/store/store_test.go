package store

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/logjail/logjail/state"
)

func TestStoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ban := state.Decision{Kind: state.Ban, Pipeline: "sshd", Prefix: netip.MustParsePrefix("2001:db8::7/128"), Time: t0, Until: t0.Add(time.Hour), Failures: 5, BanCount: 1, Reason: "5 failures"}
	perm := state.Decision{Kind: state.Ban, Pipeline: "web", Prefix: netip.MustParsePrefix("198.51.100.1/32"), Time: t0}
	for _, d := range []state.Decision{ban, perm} {
		if err := s.SaveBan(d); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SavePositions(map[string][]byte{"sshd\x00/var/log/auth.log": []byte("pos")}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Bans("sshd")
	if err != nil || len(got) != 1 {
		t.Fatalf("bans %+v %v", got, err)
	}
	g := got[0]
	if g.Prefix != ban.Prefix || !g.Until.Equal(ban.Until) || g.Failures != 5 || g.Reason != ban.Reason {
		t.Errorf("got %+v, want %+v", g, ban)
	}
	all, _ := s.Bans("")
	if len(all) != 2 {
		t.Fatalf("all bans %d", len(all))
	}
	for _, b := range all {
		if b.Pipeline == "web" && !b.Permanent() {
			t.Errorf("permanent ban came back with until %v", b.Until)
		}
	}
	if p, _ := s.Scoped("sshd").Position("/var/log/auth.log"); string(p) != "pos" {
		t.Errorf("position %q", p)
	}
	if p, _ := s.Scoped("web").Position("/var/log/auth.log"); p != nil {
		t.Errorf("position leaked across scopes: %q", p)
	}
	if err := s.DeleteBan("sshd", ban.Prefix); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Bans("sshd"); len(got) != 0 {
		t.Errorf("after delete: %+v", got)
	}
}

func TestStoreRefusesOtherVersions(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(filepath.Join(dir, "logjail.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyVersion, []byte("99")) })
	db.Close()
	if _, err := Open(dir); !errors.Is(err, ErrVersion) {
		t.Fatalf("want ErrVersion, got %v", err)
	}
}

func TestStoreRefusesCorruptFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "logjail.db"), []byte(strings.Repeat("not a bbolt file ", 500)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil {
		t.Fatal("opened a corrupt store")
	}
}
