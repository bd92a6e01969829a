package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logjail/logjail/enforce/mail/mailtest"
	"github.com/logjail/logjail/internal/testkit"
)

// The mail enforcer in the real binary: logjail runs in the srv namespace
// with nftables and mail enforcers; an SMTP server (go-smtp's) and a whois
// server listen on 127.0.0.1 inside that namespace. A ban is mailed with
// the whois record and the log lines; a burst of bans in two pipelines
// sharing one mail configuration makes one mail (or very few), not one
// each; SIGTERM sends a mail still waiting for its batch window.
func TestMailEnforcer(t *testing.T) {
	t.Parallel()
	testkit.NeedRoot(t, "ip")
	tn := newTestNet(t)
	tn.listen(t, 2222)
	sink := startMailSink(t, tn.srv)
	whois := startWhoisIn(t, tn.srv)

	const mailTemplate = `{to: [admin@example.org], from: "logjail <logjail@example.org>",
               smtp: {addr: "SMTPADDR", tls: none}, whois: true, whois_server: "WHOISADDR",
               lines: true, batch: BATCH}`
	config := func(batch string) string {
		m := strings.NewReplacer("SMTPADDR", sink.Addr(), "WHOISADDR", whois.Addr(), "BATCH", batch).Replace(mailTemplate)
		return strings.ReplaceAll(`
defaults:
  maxretry: 3
  findtime: 10m
  bantime: 1h
pipelines:
  e2e:
    enabled: true
    ingest:
      - file: {paths: [LOGFILE], poll: 200ms}
    match: {filter: sshd}
    enforce:
      - nftables: {ports: [2222]}
      - mail: MAIL
  e2e2:
    enabled: true
    ingest:
      - file: {paths: [LOGFILE2], poll: 200ms}
    match: {filter: sshd}
    enforce:
      - nftables: {ports: [2222]}
      - mail: MAIL
`, "MAIL", m)
	}
	s := newSetup(t, config("2s"))
	logFile2 := s.logFile + "2" // LOGFILE2 in the configuration
	if err := os.WriteFile(logFile2, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	in := s.start(t, tn)
	// The second pipeline's source reads too before anything is written.
	testkit.Eventually(t, 20*time.Second, "e2e2's file source did not start reading", func() bool {
		appendTo(t, logFile2, time.Now(), "sshd[999]: Server listening on 0.0.0.0 port 22.")
		return sourceRead(s.socket, "e2e2") > 0
	})

	// One attacker: banned in nftables, and one mail with the address, its
	// whois record and the log lines.
	s.appendLines(t, time.Now(), failures("192.0.2.2", 3)...)
	testkit.Eventually(t, 10*time.Second, "192.0.2.2 in e2e-v4", func() bool {
		_, ok := tn.elements(t, "e2e-v4")[netip.MustParseAddr("192.0.2.2")]
		return ok
	})
	if tn.connect(t, "192.0.2.2", "192.0.2.1", 2222) {
		t.Errorf("banned 192.0.2.2 still connects")
	}
	testkit.Eventually(t, 30*time.Second, "the ban of 192.0.2.2 mailed", func() bool { return sink.Count() >= 1 })
	time.Sleep(3 * time.Second) // a batch window more: nothing else comes
	msgs := sink.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d mails for one ban, want 1", len(msgs))
	}
	m := parseMail(t, msgs[0].Data)
	if msgs[0].From != "logjail@example.org" || strings.Join(msgs[0].To, ",") != "admin@example.org" {
		t.Errorf("envelope from %q to %q", msgs[0].From, msgs[0].To)
	}
	if !strings.Contains(m.Subject, "e2e: banned 192.0.2.2") {
		t.Errorf("subject %q", m.Subject)
	}
	for _, want := range []string{
		"Address:   192.0.2.2",
		"netname:        E2E-NET-192.0.2.2",                       // the whois record
		"Failed password for root from 192.0.2.2 port 50000 ssh2", // the log lines
		"Failed password for root from 192.0.2.2 port 50002 ssh2",
	} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("the mail lacks %q:\n%s", want, m.Body)
		}
	}
	if !slices.Contains(whois.Queries(), "192.0.2.2") {
		t.Errorf("whois queries %q, want 192.0.2.2", whois.Queries())
	}
	if st := status(t, s.socket); len(st.Mailers) != 1 || st.Mailers[0].Sent != 1 || st.Mailers[0].Queued != 0 {
		t.Errorf("mailer status %+v, want one mailer with one mail sent", st.Mailers)
	}

	// A burst: 30 attackers within the batch window, in both pipelines,
	// which share one mailer: one mail, or very few.
	var attackers []string
	var lines1, lines2 []string
	for i := 1; i <= 30; i++ {
		if i <= 20 {
			a := fmt.Sprintf("203.0.113.%d", i)
			attackers = append(attackers, a)
			lines1 = append(lines1, failures(a, 3)...)
		} else {
			a := fmt.Sprintf("198.51.100.%d", i)
			attackers = append(attackers, a)
			lines2 = append(lines2, failures(a, 3)...)
		}
	}
	s.appendLines(t, time.Now(), lines1...)
	appendTo(t, logFile2, time.Now(), lines2...)
	waitBanCount(t, 20*time.Second, s.socket, 31)
	mailedAll := func() bool {
		var all strings.Builder
		for _, r := range sink.Messages()[1:] {
			all.WriteString(parseMail(t, r.Data).Body)
		}
		for _, a := range attackers {
			if !strings.Contains(all.String(), "Address:   "+a+"\n") {
				return false
			}
		}
		return true
	}
	testkit.Eventually(t, 60*time.Second, "every attacker of the burst mailed", mailedAll)
	time.Sleep(3 * time.Second)
	burst := sink.Messages()[1:]
	if len(burst) > 3 {
		t.Errorf("the burst of 30 bans made %d mails, want one or very few", len(burst))
	}
	shared := false // one mailer for both pipelines: a mail lists both
	for _, r := range burst {
		pm := parseMail(t, r.Data)
		if !strings.Contains(pm.Subject, "bans") {
			t.Errorf("burst mail subject %q", pm.Subject)
		}
		t.Logf("burst mail: %s", pm.Subject)
		shared = shared || strings.Contains(pm.Body, " in e2e ---") && strings.Contains(pm.Body, " in e2e2 ---")
	}
	if !shared {
		t.Errorf("no mail of the burst lists both pipelines: they do not share their mailer")
	}

	// SIGTERM sends a mail still waiting: restarted with a batch window of
	// an hour, only the shutdown can send it.
	stopInstance(t, in)
	before := sink.Count()
	writeConfig(t, s.config, strings.NewReplacer("LOGFILE", s.logFile).Replace(config("1h")))
	in = s.start(t, tn)
	s.appendLines(t, time.Now(), failures("192.0.2.4", 3)...)
	testkit.Eventually(t, 10*time.Second, "192.0.2.4 in e2e-v4", func() bool {
		_, ok := tn.elements(t, "e2e-v4")[netip.MustParseAddr("192.0.2.4")]
		return ok
	})
	time.Sleep(time.Second)
	if n := sink.Count(); n != before {
		t.Fatalf("%d mails sent before SIGTERM with a batch window of an hour", n-before)
	}
	stopInstance(t, in)
	msgs = sink.Messages()
	if len(msgs) != before+1 {
		t.Fatalf("after SIGTERM %d new mails, want 1", len(msgs)-before)
	}
	m = parseMail(t, msgs[before].Data)
	for _, want := range []string{"Address:   192.0.2.4", "Failed password for root from 192.0.2.4 port 50000 ssh2"} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("the mail sent at shutdown lacks %q:\n%s", want, m.Body)
		}
	}
}

// stopInstance sends SIGTERM and waits for logjail to exit.
func stopInstance(t *testing.T, in *instance) {
	t.Helper()
	pid := in.cmd.Process.Pid
	if err := in.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// start's goroutine reaps it; then the pid is gone.
	testkit.Eventually(t, 30*time.Second, "logjail exits on SIGTERM", func() bool {
		return syscall.Kill(pid, 0) == syscall.ESRCH
	})
}

func appendTo(t testing.TB, file string, at time.Time, msgs ...string) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, m := range msgs {
		fmt.Fprintf(f, "%s srv %s\n", at.Format(time.Stamp), m)
	}
}

// --- an SMTP server that records mail and a whois server (mailtest's),
// listening on 127.0.0.1 inside a namespace ---

// parseMail reads a received message as a mail client would.
func parseMail(t *testing.T, data []byte) mailtest.Parsed {
	t.Helper()
	p, err := mailtest.Parse(data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	return p
}

// listenIn listens on a free port of 127.0.0.1 inside namespace ns.
func listenIn(t *testing.T, ns string) net.Listener {
	t.Helper()
	var l net.Listener
	testkit.InNetns(t, ns, func() {
		var err error
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	})
	return l
}

// startMailSink serves SMTP on 127.0.0.1 inside namespace ns: plain, no
// authentication.
func startMailSink(t *testing.T, ns string) *mailtest.SMTPServer {
	t.Helper()
	s := mailtest.NewSMTP(listenIn(t, ns), mailtest.SMTPOptions{})
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// startWhoisIn serves whois on 127.0.0.1 inside namespace ns, answering
// "netname: E2E-NET-<query>".
func startWhoisIn(t *testing.T, ns string) *mailtest.WhoisServer {
	t.Helper()
	w := mailtest.NewWhois(listenIn(t, ns), func(q string) string {
		return fmt.Sprintf("%% logjail e2e whois\r\ninetnum:        %s\r\nnetname:        E2E-NET-%s\r\n", q, q)
	})
	t.Cleanup(func() { _ = w.Close() })
	return w
}
