package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/logjail/logjail/daemon"
	"github.com/logjail/logjail/internal/testkit"
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
	t.Parallel()
	testkit.NeedRoot(t, "ip")
	tn := newTestNet(t)
	tn.listen(t, 2222)
	s := newSetup(t, restartConfig)
	s.extra = []string{"--metrics", "127.0.0.1:9469"}
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
	testkit.WaitFor(t, 10*time.Second, func() error {
		return errors.Join(tn.holds("e2e-v4", v4.String(), 50*time.Minute), tn.holds("e2e-v6", v6.String(), 0))
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
	if m := scrapeMetrics(t, tn); !strings.Contains(m, "logjail_firewall_restores_total 1") {
		t.Errorf("metrics do not count the restore:\n%s", m)
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
	tn.waitHolds(t, 25*time.Second, "e2e-v4", v4.String()) // the flushed set refilled
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
	t.Parallel()
	testkit.NeedRoot(t, "ip")
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
	for _, v := range []string{"-v4", "-v4-net", "-v6", "-v6-net"} {
		if _, err := tryElements(tn, "e2e"+v); err == nil {
			t.Errorf("the removed pipeline's set e2e%s is still there", v)
		}
		if _, err := tryElements(tn, "other"+v); err != nil {
			t.Errorf("the new pipeline's set other%s: %v", v, err)
		}
	}
	if bans := banned(t, s.socket); len(bans) != 0 {
		t.Errorf("bans after removing their pipeline: %+v", bans)
	}
}

// ipv6_prefix: 64 counts an attacker rotating addresses inside its /64 as
// one, and bans the whole prefix as an interval in the prefix set.
func TestPrefixBan(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "ip")
	tn := newTestNet(t)
	tn.listen(t, 2222)
	s := newSetup(t, e2ePipeline("maxretry: 2", "ipv6_prefix: 64", fileSource, sshdFilter, nftables2222))
	// The attacker's /64 is not the server's own (a prefix holding the
	// host's address is never banned whole: ignoreself).
	for i := 2; i <= 4; i++ {
		testkit.Run(t, "ip", "-n", tn.peer, "-6", "addr", "add", fmt.Sprintf("2001:db8:1::%d/64", i), "dev", "ljp", "nodad")
	}
	testkit.Run(t, "ip", "-n", tn.srv, "-6", "route", "add", "2001:db8:1::/64", "dev", "ljs")
	if !tn.connect(t, "2001:db8:1::4", "2001:db8::1", 2222) {
		t.Fatal("2001:db8:1::4 cannot connect before any ban")
	}
	s.start(t, tn)
	s.appendLines(t, time.Now(), failures("2001:db8:1::2", 1)...)
	s.appendLines(t, time.Now(), failures("2001:db8:1::3", 1)...)
	waitBans(t, 10*time.Second, s.socket, "2001:db8:1::/64")
	// The prefix is an interval in the prefix set, not in the address set.
	tn.waitHolds(t, 10*time.Second, "e2e-v6-net", "2001:db8:1::")
	if els := tn.elements(t, "e2e-v6"); len(els) != 0 {
		t.Errorf("the address set holds %v, want nothing", els)
	}
	// An address of the prefix that never failed is blocked too.
	if tn.connect(t, "2001:db8:1::4", "2001:db8::1", 2222) {
		t.Error("2001:db8:1::4, inside the banned /64, connects")
	}
	if !tn.connect(t, "2001:db8::4", "2001:db8::1", 2222) {
		t.Error("2001:db8::4, outside the banned /64, cannot connect")
	}
	if !tn.connect(t, "192.0.2.4", "192.0.2.1", 2222) {
		t.Error("IPv4 traffic is blocked by an IPv6 prefix ban")
	}
}

// scrapeMetrics reads logjail's /metrics inside the srv namespace. The
// socket is made on a thread in that namespace, so the request is plain
// HTTP/1.0 written by hand rather than through http.Client's own dialer.
func scrapeMetrics(t *testing.T, tn *testNet) string {
	t.Helper()
	var c net.Conn
	testkit.InNetns(t, tn.srv, func() {
		var err error
		if c, err = net.DialTimeout("tcp", "127.0.0.1:9469", 2*time.Second); err != nil {
			t.Fatalf("metrics: %v", err)
		}
	})
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(c, "GET /metrics HTTP/1.0\r\nHost: logjail\r\n\r\n")
	b, _ := io.ReadAll(c)
	return string(b)
}

// Another program changes logjail's table without flushing it: a running
// logjail notices each change within seconds and restores the table: the
// banned address is dropped again and a bystander connects (a policy drop
// would shut it out).
func TestFirewallRepairedAfterAnyChange(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "ip", "nft")
	tn := newTestNet(t)
	tn.listen(t, 2222)
	s := newSetup(t, restartConfig)
	s.start(t, tn)
	if out, err := exec.Command(binary, "ban", "e2e", "192.0.2.2", "--for", "1h", "--socket", s.socket).CombinedOutput(); err != nil {
		t.Fatalf("logjail ban: %v\n%s", err, out)
	}
	for i, change := range [][]string{
		{"chain", "inet", "logjail", "input", "{ policy drop ; }"},
		{"insert", "rule", "inet", "logjail", "input", "ip", "saddr", "192.0.2.2", "accept"},
		{"add", "chain", "inet", "logjail", "sneak", "{ type filter hook input priority -2 ; policy drop ; }"},
		{"add", "table", "inet", "logjail", "{ flags dormant ; }"},
		// The prefix set, with the rules using it (the chain's, all of them).
		{"flush", "chain", "inet", "logjail", "input", ";", "delete", "set", "inet", "logjail", "e2e-v4-net"},
	} {
		t.Run(strings.Join(change, " "), func(t *testing.T) {
			testkit.Run(t, append([]string{"ip", "netns", "exec", tn.srv, "nft"}, change...)...)
			testkit.WaitFor(t, 10*time.Second, func() error {
				n := restores(t, s.socket)
				other, banned := tn.connect(t, "192.0.2.3", "192.0.2.1", 2222), tn.connect(t, "192.0.2.2", "192.0.2.1", 2222)
				return testkit.Check(n == uint64(i+1) && other && !banned,
					"the table repaired: %d restores (want %d), 192.0.2.3 connects %t (want true), banned 192.0.2.2 connects %t (want false)", n, i+1, other, banned)
			})
			for _, set := range []string{"e2e-v4", "e2e-v4-net", "e2e-v6", "e2e-v6-net"} {
				if _, err := tryElements(tn, set); err != nil {
					t.Errorf("set %s after the repair: %v", set, err)
				}
			}
		})
	}
}

// restores reads firewall_restores from logjail status --json.
func restores(t *testing.T, socket string) uint64 {
	t.Helper()
	out, err := exec.Command(binary, "status", "--json", "--socket", socket).Output()
	if err != nil {
		t.Fatal(err)
	}
	var st daemon.Status
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatal(err)
	}
	return st.FirewallRestores
}

// oldLayoutTable is the table as logjail wrote it before single addresses
// moved to hash sets: one interval,timeout set per family, holding bans.
const oldLayoutTable = `delete table inet logjail
table inet logjail {
	set e2e-v4 { type ipv4_addr; flags interval,timeout; elements = { 192.0.2.2 timeout 1h } }
	set e2e-v6 { type ipv6_addr; flags interval,timeout; elements = { 2001:db8::2 } }
	chain input {
		type filter hook input priority -1; policy accept;
		ip saddr @e2e-v4 tcp dport 2222 drop comment "logjail pipeline e2e"
		ip6 saddr @e2e-v6 tcp dport 2222 drop comment "logjail pipeline e2e"
	}
}
`

// A logjail started on a table of the earlier layout (an upgrade) rebuilds
// it into hash and prefix sets with every active ban kept, and the banned
// address stays dropped.
func TestFirewallUpgradedFromIntervalLayout(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "ip", "nft")
	tn := newTestNet(t)
	tn.listen(t, 2222)
	s := newSetup(t, restartConfig)
	first := s.start(t, tn)
	for _, args := range [][]string{{"192.0.2.2", "--for", "1h"}, {"2001:db8::2"}} {
		if out, err := exec.Command(binary, append(append([]string{"ban", "e2e"}, args...), "--socket", s.socket)...).CombinedOutput(); err != nil {
			t.Fatalf("logjail ban: %v\n%s", err, out)
		}
	}
	waitCommitted(t, 5*time.Second, s.socket)
	first.kill()
	first.cmd.Process.Wait()

	file := s.dir + "/old-layout.nft"
	if err := os.WriteFile(file, []byte(oldLayoutTable), 0o600); err != nil {
		t.Fatal(err)
	}
	testkit.Run(t, "ip", "netns", "exec", tn.srv, "nft", "-f", file)
	if tn.connect(t, "192.0.2.2", "192.0.2.1", 2222) {
		t.Fatal("192.0.2.2 connects under the old layout")
	}

	s.start(t, tn)
	if err := errors.Join(tn.holds("e2e-v4", "192.0.2.2", 50*time.Minute), tn.holds("e2e-v6", "2001:db8::2", 0)); err != nil {
		t.Error(err)
	}
	conn := tn.nftConn(t)
	for _, name := range []string{"e2e-v4", "e2e-v6", "e2e-v4-net", "e2e-v6-net"} {
		set, err := conn.GetSetByName(&nftables.Table{Name: "logjail", Family: nftables.TableFamilyINet}, name)
		if err != nil {
			t.Errorf("set %s after the upgrade: %v", name, err)
			continue
		}
		if set.Interval != strings.HasSuffix(name, "-net") {
			t.Errorf("set %s: interval flag %t after the upgrade", name, set.Interval)
		}
	}
	if tn.connect(t, "192.0.2.2", "192.0.2.1", 2222) {
		t.Error("192.0.2.2 connects after the upgrade")
	}
	if !tn.connect(t, "192.0.2.3", "192.0.2.1", 2222) {
		t.Error("bystander 192.0.2.3 cannot connect after the upgrade")
	}
}
