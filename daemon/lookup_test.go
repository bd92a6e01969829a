package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
)

// `banned ADDR…` is answered by the daemon: a /64 ban covers an address in
// it, the bans of two pipelines are both listed, an address banned
// nowhere has an empty list, and a bad address is named.
func TestBannedAddrs(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "p.log")
	c := loadConfig(t, dir, "pipelines:\n"+
		"  p:\n    enabled: true\n    maxretry: 1\n    ipv6_prefix: 64\n    ingest: [{file: {paths: ["+log+"]}}]\n    match: {failregex: ['^denied <HOST>$']}\n"+
		"  q:\n    enabled: true\n    ingest: [{file: {paths: ["+filepath.Join(dir, "q.log")+"]}}]\n    match: {failregex: ['^denied <HOST>$']}\n")
	cl, stop := startDaemon(t, dir, Options{Config: c})
	defer stop()
	ctx := context.Background()
	// The file is followed from its end once the source has seen it:
	// write until the source reads, then the failure.
	waitSourceRead(t, cl, "p", log, "started")
	f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("denied 2001:db8:1:2::5\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	testkit.WaitFor(t, 10*time.Second, func() error {
		if bans, err := cl.Banned(ctx); err != nil || len(bans) == 0 {
			return fmt.Errorf("the /64 is not banned yet: %v", err)
		}
		return nil
	})
	if _, err := cl.Ban(ctx, BanRequest{Pipeline: "q", Addr: "2001:db8:1:2::7"}); err != nil {
		t.Fatal(err)
	}

	got, err := cl.BannedAddrs(ctx, []string{"2001:db8:1:2::7", "2001:db8:1:2:ffff::1", "::ffff:192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		addr string
		bans []string // pipeline addr
	}{
		{"2001:db8:1:2::7", []string{"p 2001:db8:1:2::/64", "q 2001:db8:1:2::7"}},
		{"2001:db8:1:2:ffff::1", []string{"p 2001:db8:1:2::/64"}},
		{"192.0.2.1", []string{}},
	} {
		var bans []string
		for _, b := range got[i].Bans {
			bans = append(bans, b.Pipeline+" "+b.Addr)
		}
		if got[i].Addr != tc.addr || got[i].Bans == nil || !slices.Equal(bans, tc.bans) {
			t.Errorf("%s: %+v; want bans %v", tc.addr, got[i], tc.bans)
		}
	}
	if _, err := cl.BannedAddrs(ctx, []string{"192.0.2.1", "300.1.1.1"}); err == nil || !strings.Contains(err.Error(), `"300.1.1.1"`) {
		t.Errorf("a bad address: %v; want an error naming it", err)
	}
	if _, err := cl.BannedAddrs(ctx, []string{"192.0.2.0/24"}); err == nil || !strings.Contains(err.Error(), "prefix") {
		t.Errorf("a prefix: %v; want an error", err)
	}
}
