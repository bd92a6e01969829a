package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
)

func needLogger(t *testing.T) {
	t.Helper()
	testkit.NeedProgram(t, "logger", "util-linux")
}

// A gateway receiving syslog from an appliance: the appliance (the peer
// namespace, 192.0.2.2) sends sshd failures with util-linux's logger over
// UDP and TCP; logjail bans the addresses they name in nftables. A forged
// message from a sender outside `allow` bans nobody.
func TestSyslogPipeline(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "ip")
	needLogger(t)
	tn := newTestNet(t)
	s := newSetup(t, e2ePipeline("maxretry: 3", `ingest:
  - syslog: {listen: "udp://192.0.2.1:5514", allow: [192.0.2.2/32]}
  - syslog: {listen: "tcp://192.0.2.1:5514", allow: [192.0.2.2/32]}`, sshdFilter, `enforce:
  - nftables: {}`))
	send := func(t testing.TB, proto string, msg string) {
		t.Helper()
		args := []string{"netns", "exec", tn.peer, "logger", "-n", "192.0.2.1", "-P", "5514", "-t", "sshd", "--id=4242", "--rfc5424"}
		if proto == "tcp" {
			args = append(args, "--tcp", "--octet-count")
		} else {
			args = append(args, "--udp")
		}
		out, err := exec.Command("ip", append(args, msg)...).CombinedOutput()
		if err != nil {
			t.Fatalf("logger: %v\n%s", err, out)
		}
	}
	s.warm = func(t testing.TB) { send(t, "udp", "Server listening on 0.0.0.0 port 22.") }
	s.start(t, tn)

	for i := range 3 {
		send(t, "udp", fmt.Sprintf("Failed password for root from 203.0.113.50 port %d ssh2", 40000+i))
		send(t, "tcp", fmt.Sprintf("Failed password for invalid user admin from 2001:db8:99::5 port %d ssh2", 40000+i))
	}
	// A sender outside allow (192.0.2.4) forges failures for 203.0.113.99.
	testkit.InNetns(t, tn.peer, func() {
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP("192.0.2.4")}, &net.UDPAddr{IP: net.ParseIP("192.0.2.1"), Port: 5514})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for i := range 5 {
			fmt.Fprintf(c, "<38>Nov 25 07:13:1%d gw sshd[77]: Failed password for root from 203.0.113.99 port 1 ssh2", i)
		}
	})

	testkit.WaitFor(t, 10*time.Second, func() error { // syslog failures banned in nftables
		return errors.Join(tn.holds("e2e-v4", "203.0.113.50", 0), tn.holds("e2e-v6", "2001:db8:99::5", 0))
	})
	if _, ok := tn.elements(t, "e2e-v4")[netip.MustParseAddr("203.0.113.99")]; ok {
		t.Fatal("a forged message from outside allow got an address banned")
	}
	st := status(t, s.socket)
	if len(st.Sources) != 2 || st.Sources[0].State != "reading" || st.Sources[1].State != "reading" ||
		st.Sources[0].Rejected != 5 || st.Sources[0].Skipped != 0 {
		t.Errorf("sources %+v: want two reading sources, the UDP one with the 5 forged messages rejected", st.Sources)
	}
}
