package main

import (
	"fmt"
	"net"
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
	m := newMailRun(t)
	m.oneBanMailed(t)
	m.burstMailedTogether(t)
	m.sigtermSendsWaitingMail(t)
}

// mailTemplate is the mail enforcer both pipelines share.
const mailTemplate = `{to: [admin@example.org], from: "logjail <logjail@example.org>",
               smtp: {addr: "SMTPADDR", tls: none}, whois: true, whois_server: "WHOISADDR",
               lines: true, batch: BATCH}`

// mailConfig is TestMailEnforcer's configuration: pipelines e2e and e2e2
// with one mail configuration, sent to sink with whois records from whois.
func mailConfig(sink *mailtest.SMTPServer, whois *mailtest.WhoisServer, batch string) string {
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

// mailRun is TestMailEnforcer's logjail with its mail and whois servers.
type mailRun struct {
	tn       *testNet
	s        *setup
	in       *instance
	sink     *mailtest.SMTPServer
	whois    *mailtest.WhoisServer
	logFile2 string // LOGFILE2 in the configuration
}

func newMailRun(t *testing.T) *mailRun {
	t.Helper()
	testkit.NeedRoot(t, "ip")
	m := &mailRun{tn: newTestNet(t)}
	m.tn.listen(t, 2222)
	m.sink = startMailSink(t, m.tn.srv)
	m.whois = startWhoisIn(t, m.tn.srv)
	m.s = newSetup(t, mailConfig(m.sink, m.whois, "2s"))
	m.logFile2 = m.s.logFile + "2"
	if err := os.WriteFile(m.logFile2, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	m.in = m.s.start(t, m.tn)
	// The second pipeline's source reads too before anything is written.
	waitSourceReads(t, 20*time.Second, m.s.socket, "e2e2", func() {
		appendTo(t, m.logFile2, time.Now(), "sshd[999]: Server listening on 0.0.0.0 port 22.")
	})
	return m
}

// oneBanMailed: one attacker is banned in nftables, and one mail has the
// address, its whois record and the log lines.
func (m *mailRun) oneBanMailed(t *testing.T) {
	m.s.appendLines(t, time.Now(), failures("192.0.2.2", 3)...)
	m.tn.waitBanned(t, m.s, "e2e-v4", "192.0.2.2")
	if m.tn.connect(t, "192.0.2.2", "192.0.2.1", 2222) {
		t.Errorf("banned 192.0.2.2 still connects")
	}
	m.waitMails(t, 30*time.Second, 1)
	time.Sleep(3 * time.Second) // a batch window more: nothing else comes
	msgs := m.sink.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d mails for one ban, want 1", len(msgs))
	}
	pm := parseMail(t, msgs[0].Data)
	if msgs[0].From != "logjail@example.org" || strings.Join(msgs[0].To, ",") != "admin@example.org" {
		t.Errorf("envelope from %q to %q", msgs[0].From, msgs[0].To)
	}
	if !strings.Contains(pm.Subject, "e2e: banned 192.0.2.2") {
		t.Errorf("subject %q", pm.Subject)
	}
	for _, want := range []string{
		"Address:   192.0.2.2",
		"netname:        E2E-NET-192.0.2.2",                       // the whois record
		"Failed password for root from 192.0.2.2 port 50000 ssh2", // the log lines
		"Failed password for root from 192.0.2.2 port 50002 ssh2",
	} {
		if !strings.Contains(pm.Body, want) {
			t.Errorf("the mail lacks %q:\n%s", want, pm.Body)
		}
	}
	if !slices.Contains(m.whois.Queries(), "192.0.2.2") {
		t.Errorf("whois queries %q, want 192.0.2.2", m.whois.Queries())
	}
	if st := status(t, m.s.socket); len(st.Mailers) != 1 || st.Mailers[0].Sent != 1 || st.Mailers[0].Queued != 0 {
		t.Errorf("mailer status %+v, want one mailer with one mail sent", st.Mailers)
	}
}

// waitMails waits until the sink has received n mails; a timeout shows
// the mailers' status.
func (m *mailRun) waitMails(t *testing.T, timeout time.Duration, n int) {
	t.Helper()
	testkit.WaitFor(t, timeout, func() error {
		got := m.sink.Count()
		return testkit.Check(got >= n, "%d mails received, want %d; mailers %+v", got, n, status(t, m.s.socket).Mailers)
	})
}

// burstMailedTogether: 30 attackers within the batch window, in both
// pipelines, which share one mailer: one mail, or very few.
func (m *mailRun) burstMailedTogether(t *testing.T) {
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
	m.s.appendLines(t, time.Now(), lines1...)
	appendTo(t, m.logFile2, time.Now(), lines2...)
	waitBanCount(t, 20*time.Second, m.s.socket, 31)
	testkit.WaitFor(t, 60*time.Second, func() error {
		var all strings.Builder
		for _, r := range m.sink.Messages()[1:] {
			all.WriteString(parseMail(t, r.Data).Body)
		}
		for _, a := range attackers {
			if !strings.Contains(all.String(), "Address:   "+a+"\n") {
				return fmt.Errorf("every attacker of the burst mailed: %s not yet; mailers %+v", a, status(t, m.s.socket).Mailers)
			}
		}
		return nil
	})
	time.Sleep(3 * time.Second)
	burst := m.sink.Messages()[1:]
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
}

// sigtermSendsWaitingMail: SIGTERM sends a mail still waiting: restarted
// with a batch window of an hour, only the shutdown can send it.
func (m *mailRun) sigtermSendsWaitingMail(t *testing.T) {
	stopInstance(t, m.in)
	before := m.sink.Count()
	writeConfig(t, m.s.config, strings.NewReplacer("LOGFILE", m.s.logFile).Replace(mailConfig(m.sink, m.whois, "1h")))
	m.in = m.s.start(t, m.tn)
	m.s.appendLines(t, time.Now(), failures("192.0.2.4", 3)...)
	m.tn.waitBanned(t, m.s, "e2e-v4", "192.0.2.4")
	time.Sleep(time.Second)
	if n := m.sink.Count(); n != before {
		t.Fatalf("%d mails sent before SIGTERM with a batch window of an hour", n-before)
	}
	stopInstance(t, m.in)
	msgs := m.sink.Messages()
	if len(msgs) != before+1 {
		t.Fatalf("after SIGTERM %d new mails, want 1", len(msgs)-before)
	}
	pm := parseMail(t, msgs[before].Data)
	for _, want := range []string{"Address:   192.0.2.4", "Failed password for root from 192.0.2.4 port 50000 ssh2"} {
		if !strings.Contains(pm.Body, want) {
			t.Errorf("the mail sent at shutdown lacks %q:\n%s", want, pm.Body)
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
	testkit.WaitFor(t, 30*time.Second, func() error {
		err := syscall.Kill(pid, 0)
		return testkit.Check(err == syscall.ESRCH, "logjail exits on SIGTERM: pid %d is still there (kill -0: %v)", pid, err)
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
