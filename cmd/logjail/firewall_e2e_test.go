package main

import (
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/logjail/logjail/daemon"
)

// nftConn opens a netlink connection in the srv namespace: the test plays
// "another program" changing the firewall under logjail.
func (tn *testNet) nftConn(t *testing.T) *nftables.Conn {
	t.Helper()
	f, err := os.Open("/run/netns/" + tn.srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	conn, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// `nft flush ruleset` (or a firewall reload, or a mistake) under a running
// logjail: within seconds the table and every ban are back, with their
// remaining time, and the restore is counted. A set flushed by hand is
// refilled too.
func TestFirewallRestoredAfterFlush(t *testing.T) {
	needRoot(t)
	tn := newTestNet(t)
	tn.listen(t, 2222)
	s := newSetup(t, restartConfig)
	s.start(t, tn)
	for _, a := range []string{"192.0.2.2", "2001:db8::2"} {
		if out, err := exec.Command(binary, "ban", "e2e", a, "--for", "1h", "--socket", s.socket).CombinedOutput(); err != nil {
			t.Fatalf("logjail ban: %v\n%s", err, out)
		}
	}
	v4, v6 := netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8::2")
	if _, ok := tn.elements(t, "e2e-v4")[v4]; !ok {
		t.Fatal("ban not in the set")
	}

	conn := tn.nftConn(t)
	conn.FlushRuleset()
	if err := conn.Flush(); err != nil {
		t.Fatalf("flush ruleset: %v", err)
	}
	if tn.connect(t, "192.0.2.2", "192.0.2.1", 2222) == false {
		t.Fatal("after the flush the address should get through until logjail restores the ban")
	}
	eventually(t, 10*time.Second, "table and bans restored", func() bool {
		els4, err4 := tryElements(tn, "e2e-v4")
		els6, err6 := tryElements(tn, "e2e-v6")
		if err4 != nil || err6 != nil {
			return false
		}
		_, ok4 := els4[v4]
		_, ok6 := els6[v6]
		return ok4 && ok6 && els4[v4] > 50*time.Minute
	})
	if tn.connect(t, "192.0.2.2", "192.0.2.1", 2222) {
		t.Error("192.0.2.2 connects after the restore")
	}
	out, err := exec.Command(binary, "status", "--json", "--socket", s.socket).Output()
	if err != nil {
		t.Fatal(err)
	}
	var st daemon.Status
	if err := json.Unmarshal(out, &st); err != nil || st.FirewallRestores < 1 {
		t.Errorf("status %s: want firewall_restores ≥ 1 (%v)", out, err)
	}

	// Flushing one set leaves the layout alone; the elements come back.
	set, err := conn.GetSetByName(&nftables.Table{Name: "logjail", Family: nftables.TableFamilyINet}, "e2e-v4")
	if err != nil {
		t.Fatal(err)
	}
	conn.FlushSet(set)
	if err := conn.Flush(); err != nil {
		t.Fatalf("flush set: %v", err)
	}
	eventually(t, 25*time.Second, "flushed set refilled", func() bool {
		els, err := tryElements(tn, "e2e-v4")
		_, ok := els[v4]
		return err == nil && ok
	})
}

// tryElements is elements without failing while the table is missing.
func tryElements(tn *testNet, set string) (map[netip.Addr]time.Duration, error) {
	f, err := os.Open("/run/netns/" + tn.srv)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	conn, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
	if err != nil {
		return nil, err
	}
	s, err := conn.GetSetByName(&nftables.Table{Name: "logjail", Family: nftables.TableFamilyINet}, set)
	if err != nil {
		return nil, err
	}
	els, err := conn.GetSetElements(s)
	if err != nil {
		return nil, err
	}
	out := map[netip.Addr]time.Duration{}
	for _, e := range els {
		if a, ok := netip.AddrFromSlice(e.Key); ok && !e.IntervalEnd {
			out[a.Unmap()] = e.Expires
		}
	}
	return out, nil
}

// `logjail reload` with a pipeline removed: its sets and bans leave the
// kernel; the new pipeline's sets appear.
func TestReloadRemovesPipelineFromFirewall(t *testing.T) {
	needRoot(t)
	tn := newTestNet(t)
	s := newSetup(t, restartConfig)
	s.start(t, tn)
	if out, err := exec.Command(binary, "ban", "e2e", "192.0.2.2", "--socket", s.socket).CombinedOutput(); err != nil {
		t.Fatalf("logjail ban: %v\n%s", err, out)
	}
	writeConfig(t, s.config, strings.ReplaceAll(strings.ReplaceAll(restartConfig, "LOGFILE", s.logFile), "  e2e:", "  other:"))
	if out, err := exec.Command(binary, "reload", "--socket", s.socket).CombinedOutput(); err != nil {
		t.Fatalf("logjail reload: %v\n%s", err, out)
	}
	if _, err := tryElements(tn, "e2e-v4"); err == nil {
		t.Error("the removed pipeline's set is still there")
	}
	if _, err := tryElements(tn, "other-v4"); err != nil {
		t.Errorf("the new pipeline's set: %v", err)
	}
	if bans := banned(t, s.socket); len(bans) != 0 {
		t.Errorf("bans after removing their pipeline: %+v", bans)
	}
}
