package mail

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logjail/logjail/enforce/mail/mailtest"
	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/state"
)

// One ban, whois and lines on (fail2ban's action_mwl), through STARTTLS
// with AUTH PLAIN; the whois server refers to a second one.
func TestBanMailWithWhoisAndLines(t *testing.T) {
	rir := startWhois(t, func(q string) string {
		return "% test registry\r\n\r\nNetRange:       203.0.113.0 - 203.0.113.255\r\nOrgName:        Example Hosting " + q + "\r\nabuse-mailbox:  abuse@example.net\r\n"
	})
	iana := startWhois(t, func(q string) string {
		return "% IANA WHOIS server\n\nrefer:        " + rir.Addr() + "\n\ninetnum:      203.0.0.0 - 203.255.255.255\n"
	})
	srv := startSMTP(t, serverOpts{startTLS: true, user: "logjail", pass: "s3cret"})
	pwFile := testkit.WriteFile(t, t.TempDir(), "pw", "s3cret\n")
	m := newMailer(t, Config{
		To:    []string{"Ops <ops@example.org>"},
		From:  "logjail@example.org",
		SMTP:  SMTP{Addr: srv.Addr(), Username: "logjail", PasswordFile: pwFile, CA: srv.ca},
		Whois: true, WhoisServer: iana.Addr(), Lines: true,
		Batch: 50 * time.Millisecond,
	})
	run(t, m)
	lines := []string{
		"Nov 25 07:13:10 host sshd[1]: Failed password for root from 203.0.113.7 port 50000 ssh2",
		"Nov 25 07:13:18 host sshd[1]: Failed password for admin from 203.0.113.7 port 50002 ssh2",
	}
	if err := m.Ban(context.Background(), ban("sshd", "203.0.113.7", lines...)); err != nil {
		t.Fatal(err)
	}
	waitMails(t, srv, 1, m)

	got := srv.Messages()[0]
	if got.From != "logjail@example.org" || len(got.To) != 1 || got.To[0] != "ops@example.org" {
		t.Errorf("envelope from %q to %q", got.From, got.To)
	}
	if !got.TLS || got.Auth != "logjail" {
		t.Errorf("tls %v, authenticated as %q; want TLS and logjail", got.TLS, got.Auth)
	}
	checkWire(t, got.Data)
	p := parse(t, got.Data)
	checkBanMailHeaders(t, p)
	checkBanMailBody(t, p.Body, lines, rir.Addr(), iana.Addr())
	if strings.Contains(p.Body, "IANA WHOIS server") {
		t.Errorf("body has the referring answer, want the registry's:\n%s", p.Body)
	}
	if q := iana.Queries(); len(q) != 1 || q[0] != "203.0.113.7" {
		t.Errorf("iana queries %q", q)
	}
	if q := rir.Queries(); len(q) != 1 || q[0] != "203.0.113.7" {
		t.Errorf("registry queries %q", q)
	}
	waitStats(t, m, "stats", func(s Stats) bool { return s.Sent == 1 && s.Queued == 0 })
	if s := m.Stats(); s.Failed != 0 || s.Dropped != 0 || s.Suppressed != 0 {
		t.Errorf("stats %s", fmtStats(s))
	}
}

// checkBanMailHeaders checks the subject and headers of the ban mail of
// TestBanMailWithWhoisAndLines.
func checkBanMailHeaders(t *testing.T, p mailtest.Parsed) {
	t.Helper()
	if p.Subject != "[logjail] sshd: banned 203.0.113.7" {
		t.Errorf("subject %q", p.Subject)
	}
	for k, want := range map[string]string{
		"From": "<logjail@example.org>", "To": `"Ops" <ops@example.org>`, "MIME-Version": "1.0",
		"Content-Type": "text/plain; charset=utf-8", "Auto-Submitted": "auto-generated",
	} {
		if v := p.Header.Get(k); v != want {
			t.Errorf("%s: %q, want %q", k, v, want)
		}
	}
	if _, err := p.Header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	if id := p.Header.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.org>") {
		t.Errorf("Message-ID %q", id)
	}
}

// checkBanMailBody: the ban, its lines and the registry's whois answer.
func checkBanMailBody(t *testing.T, body string, lines []string, rirAddr, ianaAddr string) {
	t.Helper()
	for _, want := range []string{
		"Address:   203.0.113.7",
		"Pipeline:  sshd",
		"Failures:  5",
		"Ban count: 1",
		"Until:     2026-11-25T08:13:18Z (for 1h0m0s)",
		"Reason:    5 failures in 10m0s",
		"Log lines (2):",
		"  " + lines[0],
		"  " + lines[1],
		"Whois (" + rirAddr + ", referred by " + ianaAddr + "):",
		"  OrgName:        Example Hosting 203.0.113.7",
		"  abuse-mailbox:  abuse@example.net",
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
}

// A burst of 500 bans within the batch window makes one mail that lists
// every one of them; whois is looked up for the first 20 only.
func TestBurstMakesOneMail(t *testing.T) {
	who := startWhois(t, func(q string) string { return "OrgName: Org of " + q + "\n" })
	srv := startSMTP(t, serverOpts{})
	m := newMailer(t, Config{
		To: []string{"root@example.org"}, From: "logjail@example.org",
		SMTP:  SMTP{Addr: srv.Addr(), TLS: "none"},
		Whois: true, WhoisServer: who.Addr(), Lines: true,
		Batch: 200 * time.Millisecond,
	})
	var addrs []string
	for i := range 500 {
		a := fmt.Sprintf("198.51.%d.%d", 100+i/250, i%250+1)
		addrs = append(addrs, a)
		if err := m.Ban(context.Background(), ban("sshd", a, "Failed password from "+a)); err != nil {
			t.Fatal(err)
		}
	}
	if s := m.Stats(); s.Queued != 500 {
		t.Fatalf("queued %d", s.Queued)
	}
	run(t, m)
	waitStats(t, m, "the mail", func(s Stats) bool { return s.Sent >= 1 && s.Queued == 0 })
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d mails, want 1", len(msgs))
	}
	checkWire(t, msgs[0].Data)
	p := parse(t, msgs[0].Data)
	if p.Subject != "[logjail] sshd: 500 bans" {
		t.Errorf("subject %q", p.Subject)
	}
	for _, a := range addrs {
		if !strings.Contains(p.Body, " "+a+"  sshd") && !strings.Contains(p.Body, "Address:   "+a+"\n") {
			t.Errorf("%s missing from the mail", a)
		}
	}
	if n := strings.Count(p.Body, "\nAddress:   "); n != maxDetailed {
		t.Errorf("%d decisions in full, want %d", n, maxDetailed)
	}
	if !strings.Contains(p.Body, "--- 400 more, without details ---") {
		t.Errorf("no compact list heading")
	}
	if n := len(who.Queries()); n != maxWhois {
		t.Errorf("%d whois lookups, want %d", n, maxWhois)
	}
	if n := strings.Count(p.Body, "Whois: not looked up"); n != maxDetailed-maxWhois {
		t.Errorf("%d 'not looked up' notes, want %d", n, maxDetailed-maxWhois)
	}
}

// fakeClock drives the hourly limit.
type fakeClock struct{ off atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *fakeClock) advance(d time.Duration) { c.off.Add(int64(d)) }

// Past max_per_hour decisions are held back, counted, and summarised in
// the next mail the limit allows.
func TestRateLimitSummarises(t *testing.T) {
	srv := startSMTP(t, serverOpts{})
	m := newMailer(t, Config{
		To: []string{"root@example.org"}, From: "logjail@example.org",
		SMTP:       SMTP{Addr: srv.Addr(), TLS: "none"},
		Batch:      20 * time.Millisecond,
		MaxPerHour: 1,
	})
	var clk fakeClock
	m.now = clk.now
	run(t, m)
	ctx := context.Background()
	_ = m.Ban(ctx, ban("sshd", "203.0.113.1"))
	waitStats(t, m, "the first mail", func(s Stats) bool { return s.Sent == 1 })
	_ = m.Ban(ctx, ban("sshd", "203.0.113.2"))
	waitStats(t, m, "one held back", func(s Stats) bool { return s.Suppressed == 1 })
	_ = m.Ban(ctx, ban("nginx", "2001:db8::/64"))
	waitStats(t, m, "two held back", func(s Stats) bool { return s.Suppressed == 2 })
	if s := m.Stats(); s.Sent != 1 || srv.Count() != 1 || s.Queued != 0 {
		t.Fatalf("a mail went past the limit: %s, %d received", fmtStats(s), srv.Count())
	}

	clk.advance(61 * time.Minute)
	m.kick()
	waitMails(t, srv, 2, m)
	p := parse(t, srv.Messages()[1].Data)
	if p.Subject != "[logjail] sshd, nginx: 2 bans" {
		t.Errorf("subject %q", p.Subject)
	}
	for _, want := range []string{
		"The mail limit (max_per_hour: 1) held back 2 items",
		"  sshd: 1 bans, 0 unbans, 0 starts, 0 stops",
		"  nginx: 1 bans, 0 unbans, 0 starts, 0 stops",
		"  ban    203.0.113.2  sshd  until 2026-11-25T08:13:18Z (for 1h0m0s)  failures 5",
		"  ban    2001:db8::/64  nginx  until",
	} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, p.Body)
		}
	}
	// The server has the mail before the mailer has counted it sent.
	waitStats(t, m, "the summary counted", func(s Stats) bool { return s.Sent == 2 })
	if s := m.Stats(); s.Dropped != 0 || s.Suppressed != 2 {
		t.Errorf("stats %s", fmtStats(s))
	}
}

// The SMTP server is down, then up: the mail is retried and delivered,
// nothing lost.
func TestRetryUntilServerUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // the server is down

	m := newMailer(t, Config{
		To: []string{"root@example.org"}, From: "logjail@example.org",
		SMTP:  SMTP{Addr: addr, TLS: "none", Timeout: 5 * time.Second},
		Batch: 10 * time.Millisecond,
	})
	run(t, m)
	_ = m.Ban(context.Background(), ban("sshd", "203.0.113.7"))
	_ = m.Ban(context.Background(), ban("sshd", "203.0.113.8"))
	waitStats(t, m, "failed attempts", func(s Stats) bool { return s.Failed >= 2 })
	if s := m.Stats(); s.Queued != 2 || s.Sent != 0 || !strings.Contains(s.LastError, "refused") {
		t.Errorf("while down: %s", fmtStats(s))
	}
	// Decisions that come during the outage wait for the mail before them.
	_ = m.Ban(context.Background(), ban("sshd", "203.0.113.9"))

	srv := startSMTP(t, serverOpts{addr: addr}) // up again
	waitStats(t, m, "delivery", func(s Stats) bool { return s.Sent == 2 && s.Queued == 0 })
	var body string
	for _, msg := range srv.Messages() {
		body += parse(t, msg.Data).Body
	}
	for _, a := range []string{"203.0.113.7", "203.0.113.8", "203.0.113.9"} {
		if !strings.Contains(body, "Address:   "+a+"\n") {
			t.Errorf("%s not mailed", a)
		}
	}
	if s := m.Stats(); s.Dropped != 0 {
		t.Errorf("stats %s", fmtStats(s))
	}
}

// A pipeline name and log lines full of CR, LF, dots and escapes cannot
// add headers or recipients, nor end the data early.
func TestHeaderInjection(t *testing.T) {
	srv := startSMTP(t, serverOpts{})
	m := newMailer(t, Config{
		To: []string{"root@example.org"}, From: "logjail@example.org",
		SMTP:  SMTP{Addr: srv.Addr(), TLS: "none"},
		Lines: true,
		Batch: 10 * time.Millisecond,
	})
	run(t, m)
	evil := "sshd\r\nBcc: evil@example.com\r\nSubject: pwned"
	d := ban(evil, "203.0.113.7",
		"x\r\nBcc: evil@example.com\r\n\r\n.\r\nMAIL FROM:<evil@example.com>",
		".",
		"From mallory with love",
		"\x1b[31mred\x1b[0m \xff\xfe invalid \u202eevil\u2028next \u0085nel",
		strings.Repeat("long ", 300),
	)
	d.Reason = "manual\nBcc: evil@example.com"
	_ = m.Ban(context.Background(), d)
	waitMails(t, srv, 1, m)
	got := srv.Messages()[0]
	if len(got.To) != 1 || got.To[0] != "root@example.org" {
		t.Errorf("recipients %q", got.To)
	}
	checkWire(t, got.Data)
	p := parse(t, got.Data)
	if len(p.Header["Bcc"]) != 0 || len(p.Header["Subject"]) != 1 {
		t.Errorf("headers %q", p.Header)
	}
	if p.Subject != `[logjail] sshd\x0d\x0aBcc: evil@example.com\x0d\x0aSubject: pwned: banned 203.0.113.7` {
		t.Errorf("subject %q", p.Subject)
	}
	for _, want := range []string{
		`  x\x0d\x0aBcc: evil@example.com\x0d\x0a\x0d\x0a.\x0d\x0aMAIL FROM:<evil@example.com>` + "\n",
		"\n  .\n",
		"\n  From mallory with love\n",
		`  \x1b[31mred\x1b[0m ` + "\uFFFD\uFFFD" + ` invalid \u202eevil\u2028next \u0085nel` + "\n",
		"…[cut]\n",
		`Reason:    manual\x0aBcc: evil@example.com` + "\n",
	} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, p.Body)
		}
	}
	for i, l := range strings.Split(p.Body, "\n") {
		if strings.HasPrefix(l, "Bcc:") || strings.HasPrefix(l, ".") {
			t.Errorf("body line %d starts a header or a dot: %q", i+1, l)
		}
	}
	// An address with a line break never gets through New.
	for _, to := range []string{"root@example.org\r\nBcc: evil@example.com", "root@example.org\nBcc: evil@example.com", "a@b.c>\r\nRCPT TO:<evil@example.com"} {
		if _, err := New(Config{To: []string{to}, From: "l@example.org", SMTP: SMTP{Addr: srv.Addr(), TLS: "none"}}, nil); err == nil || !strings.Contains(err.Error(), "mail: to[0]") {
			t.Errorf("to %q: err %v", to, err)
		}
	}
}

// Implicit TLS (smtp.tls: tls), certificate checked against smtp.ca.
func TestImplicitTLS(t *testing.T) {
	srv := startSMTP(t, serverOpts{implicit: true, user: "u", pass: "p"})
	m := newMailer(t, Config{
		To: []string{"root@example.org"}, From: "logjail@example.org",
		SMTP:  SMTP{Addr: srv.Addr(), TLS: "tls", CA: srv.ca, Username: "u", Password: "p"},
		Batch: 10 * time.Millisecond,
	})
	run(t, m)
	_ = m.Ban(context.Background(), ban("sshd", "2001:db8::7"))
	waitMails(t, srv, 1, m)
	got := srv.Messages()[0]
	if !got.TLS || got.Auth != "u" {
		t.Errorf("tls %v user %q", got.TLS, got.Auth)
	}
	if p := parse(t, got.Data); p.Subject != "[logjail] sshd: banned 2001:db8::7" {
		t.Errorf("subject %q", p.Subject)
	}
}

// A certificate the system roots do not sign is refused: nothing is sent
// in clear, the failure is counted and the mail kept for a retry.
func TestUntrustedCertificate(t *testing.T) {
	srv := startSMTP(t, serverOpts{startTLS: true, user: "u", pass: "p"})
	m := newMailer(t, Config{
		To: []string{"root@example.org"}, From: "logjail@example.org",
		SMTP:  SMTP{Addr: srv.Addr(), Username: "u", Password: "p"}, // no smtp.ca
		Batch: 10 * time.Millisecond,
	})
	run(t, m)
	_ = m.Ban(context.Background(), ban("sshd", "203.0.113.7"))
	waitStats(t, m, "a failed attempt", func(s Stats) bool { return s.Failed >= 1 })
	if s := m.Stats(); !strings.Contains(s.LastError, "certificate") || s.Sent != 0 || s.Queued != 1 || s.Dropped != 0 {
		t.Errorf("stats %s", fmtStats(s))
	}
	if srv.Count() != 0 {
		t.Error("mail delivered over an unverified connection")
	}
}

// A server without STARTTLS is refused in the default mode: no downgrade.
func TestStartTLSRequired(t *testing.T) {
	srv := startSMTP(t, serverOpts{})
	m := newMailer(t, Config{
		To: []string{"root@example.org"}, From: "logjail@example.org",
		SMTP:  SMTP{Addr: srv.Addr()},
		Batch: 10 * time.Millisecond,
	})
	run(t, m)
	_ = m.Ban(context.Background(), ban("sshd", "203.0.113.7"))
	waitStats(t, m, "a failed attempt", func(s Stats) bool { return s.Failed >= 1 })
	if s := m.Stats(); !strings.Contains(s.LastError, "STARTTLS") {
		t.Errorf("stats %s", fmtStats(s))
	}
	if srv.Count() != 0 {
		t.Error("mail delivered without TLS")
	}
}

// Start and stop notes (on: [ban, start, stop]); Stop sends what is queued
// without waiting for the batch window.
func TestStartStopFlush(t *testing.T) {
	srv := startSMTP(t, serverOpts{})
	m := newMailer(t, Config{
		To: []string{"root@example.org"}, From: "logjail@example.org",
		SMTP:  SMTP{Addr: srv.Addr(), TLS: "none"},
		On:    []string{"ban", "start", "stop"},
		Batch: time.Hour,
	})
	run(t, m)
	ctx := context.Background()
	_ = m.Start(ctx, "sshd")
	_ = m.Ban(ctx, ban("sshd", "203.0.113.7"))
	_ = m.Unban(ctx, ban("sshd", "203.0.113.7")) // not in on: not mailed
	_ = m.Stop(ctx, "sshd")
	waitMails(t, srv, 1, m)
	p := parse(t, srv.Messages()[0].Data)
	if p.Subject != "[logjail] sshd: 1 ban, started, stopped" {
		t.Errorf("subject %q", p.Subject)
	}
	for _, want := range []string{"--- 1. sshd started at ", "--- 2. Ban of 203.0.113.7 in sshd ---", "--- 3. sshd stopped at "} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, p.Body)
		}
	}
}

// When Run's context ends, what is queued goes out at once.
func TestRunEndFlushes(t *testing.T) {
	who := startWhois(t, func(q string) string { return "OrgName: x\n" })
	srv := startSMTP(t, serverOpts{})
	m := newMailer(t, Config{
		To: []string{"root@example.org"}, From: "logjail@example.org",
		SMTP:  SMTP{Addr: srv.Addr(), TLS: "none"},
		On:    []string{"ban", "unban"},
		Whois: true, WhoisServer: who.Addr(),
		Batch: time.Hour,
	})
	stop := run(t, m)
	d := ban("sshd", "203.0.113.7")
	_ = m.Ban(context.Background(), d)
	d.Kind, d.Reason = state.Unban, "expired"
	_ = m.Unban(context.Background(), d)
	stop()
	if srv.Count() != 1 {
		t.Fatalf("%d mails after Run returned, want 1", srv.Count())
	}
	p := parse(t, srv.Messages()[0].Data)
	if p.Subject != "[logjail] sshd: 1 ban, 1 unban" {
		t.Errorf("subject %q", p.Subject)
	}
	if !strings.Contains(p.Body, "Whois: skipped, logjail was stopping.") || !strings.Contains(p.Body, "--- 2. Unban of 203.0.113.7 in sshd ---") {
		t.Errorf("body:\n%s", p.Body)
	}
	// After Run, decisions are counted as dropped.
	_ = m.Ban(context.Background(), ban("sshd", "203.0.113.8"))
	if s := m.Stats(); s.Sent != 1 || s.Dropped != 1 || s.Queued != 0 {
		t.Errorf("stats %s", fmtStats(s))
	}
}

// A full queue drops and counts, and the next mail says so.
func TestQueueOverflowReported(t *testing.T) {
	srv := startSMTP(t, serverOpts{})
	m := newMailer(t, Config{
		To: []string{"root@example.org"}, From: "logjail@example.org",
		SMTP:  SMTP{Addr: srv.Addr(), TLS: "none"},
		Batch: 10 * time.Millisecond,
	})
	m.queueMax = 10
	for i := range 15 {
		_ = m.Ban(context.Background(), ban("sshd", fmt.Sprintf("192.0.2.%d", i+1)))
	}
	if s := m.Stats(); s.Queued != 10 || s.Dropped != 5 {
		t.Fatalf("stats %s", fmtStats(s))
	}
	run(t, m)
	waitMails(t, srv, 1, m)
	if p := parse(t, srv.Messages()[0].Data); !strings.Contains(p.Body, "5 items could not be mailed: the mail queue was full.") {
		t.Errorf("body:\n%s", p.Body)
	}
}

// Whois failures are noted in the mail, not fatal; a long answer is cut at
// 16 KiB.
func TestWhoisFailureAndCap(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()
	big := startWhois(t, func(q string) string { return strings.Repeat("descr: 0123456789abcdef\n", 2000) })
	srv := startSMTP(t, serverOpts{})
	for _, tc := range []struct {
		name, server string
		want         []string
	}{
		{"down", down, []string{"Whois: lookup at " + down + " failed: dial tcp " + down + ": connect: connection refused"}},
		{"big", big.Addr(), []string{"Whois (" + big.Addr() + "):", "  [answer cut at 16 KiB]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.Count()
			m := newMailer(t, Config{
				To: []string{"root@example.org"}, From: "logjail@example.org",
				SMTP:  SMTP{Addr: srv.Addr(), TLS: "none"},
				Whois: true, WhoisServer: tc.server,
				Batch: 10 * time.Millisecond,
			})
			run(t, m)
			_ = m.Ban(context.Background(), ban("sshd", "203.0.113.7"))
			waitMails(t, srv, before+1, m)
			p := parse(t, srv.Messages()[before].Data)
			for _, w := range tc.want {
				if !strings.Contains(p.Body, w+"\n") {
					t.Errorf("body lacks %q:\n%s", w, p.Body[:min(len(p.Body), 3000)])
				}
			}
			if n := strings.Count(p.Body, "  descr: "); n > whoisCap/24+1 {
				t.Errorf("%d whois lines, more than 16 KiB", n)
			}
		})
	}
}

func TestReferral(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"% IANA\nrefer:        whois.arin.net\n", "whois.arin.net:43"},
		{"REFER: 127.0.0.1:4343\r\n", "127.0.0.1:4343"},
		{"refer: whois://whois.ripe.net\n", "whois.ripe.net:43"},
		{"refer: 2001:db8::43\n", "[2001:db8::43]:43"},
		{"refer: evil host; rm -rf\n", ""},
		{"whois: whois.arin.net\n", ""},
		{"no referral\n", ""},
	} {
		if got := referral(tc.text); got != tc.want {
			t.Errorf("referral(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}
