package mail

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/enforce/mail/mailtest"
	"github.com/logjail/logjail/internal/testkit"
	"github.com/logjail/logjail/state"
)

var t0 = time.Date(2026, 11, 25, 7, 13, 18, 0, time.UTC)

func ban(pipeline, addr string, lines ...string) state.Decision {
	p, err := netip.ParsePrefix(addr)
	if err != nil {
		p = netip.PrefixFrom(netip.MustParseAddr(addr), netip.MustParseAddr(addr).BitLen())
	}
	return state.Decision{Kind: state.Ban, Pipeline: pipeline, Prefix: p, Time: t0, Until: t0.Add(time.Hour),
		Failures: 5, BanCount: 1, Reason: "5 failures in 10m0s", Lines: lines}
}

// waitLimit is generous: a mail goes through retries with backoff.
const waitLimit = 30 * time.Second

// newMailer is New with the test's knobs: short backoff, logs to the test.
func newMailer(t *testing.T, cfg Config) *Mailer {
	t.Helper()
	m, err := New(cfg, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	m.backoffMin, m.backoffMax = 20*time.Millisecond, 200*time.Millisecond
	m.stopGrace = 10 * time.Millisecond
	m.finalGrace = 3 * time.Second
	m.whoisTimeout = 5 * time.Second
	return m
}

// run runs m's sender until the test ends (or stop is called).
func run(t *testing.T, m *Mailer) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		m.Run(ctx)
		close(done)
	}()
	stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return stop
}

// --- an SMTP server that records mail, and a whois server (mailtest's) ---

type smtpServer struct {
	*mailtest.SMTPServer
	ca string // PEM file of its certificate
}

type serverOpts struct {
	startTLS   bool   // offer STARTTLS
	implicit   bool   // TLS from the first byte
	user, pass string // require AUTH PLAIN
	addr       string // listen here (default 127.0.0.1:0)
}

func startSMTP(t *testing.T, o serverOpts) *smtpServer {
	t.Helper()
	cert := testkit.Issue(t, "logjail test smtp", testkit.ServerCert, nil)
	caFile, _ := cert.Write(t, t.TempDir(), "ca")
	opts := mailtest.SMTPOptions{ImplicitTLS: o.implicit}
	if o.startTLS || o.implicit {
		opts.TLS = &tls.Config{Certificates: []tls.Certificate{cert.TLS()}}
	}
	if o.user != "" {
		opts.Users = map[string]string{o.user: o.pass}
	}
	addr := o.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var l net.Listener
	var err error
	// The port of a server "coming back up" may linger a moment.
	for i := 0; ; i++ {
		if l, err = net.Listen("tcp", addr); err == nil || i == 100 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{SMTPServer: mailtest.NewSMTP(l, opts), ca: caFile}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// startWhois serves whois on 127.0.0.1, answering each query with answer.
func startWhois(t *testing.T, answer func(query string) string) *mailtest.WhoisServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := mailtest.NewWhois(l, answer)
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// parse reads a message as a mail client would; every message logjail
// makes is quoted-printable.
func parse(t *testing.T, data []byte) mailtest.Parsed {
	t.Helper()
	p, err := mailtest.Parse(data)
	if cte := p.Header.Get("Content-Transfer-Encoding"); err == nil && cte != "quoted-printable" {
		err = fmt.Errorf("Content-Transfer-Encoding %q", cte)
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	return p
}

// checkWire checks what every message must be on the wire: CRLF line ends,
// lines of at most 78 characters, 7-bit.
func checkWire(t *testing.T, data []byte) {
	t.Helper()
	s := string(data)
	if strings.Contains(strings.ReplaceAll(s, "\r\n", ""), "\n") || strings.Contains(strings.ReplaceAll(s, "\r\n", ""), "\r") {
		t.Errorf("bare CR or LF in the message")
	}
	for i, l := range strings.Split(s, "\r\n") {
		if len(l) > 998 {
			t.Errorf("line %d: %d bytes", i+1, len(l))
		}
		for _, c := range []byte(l) {
			if c >= 0x80 || c < 0x20 && c != '\t' {
				t.Fatalf("line %d: byte %#x on the wire: %q", i+1, c, l)
			}
		}
	}
	_, body, _ := strings.Cut(s, "\r\n\r\n")
	for i, l := range strings.Split(body, "\r\n") {
		if len(l) > 76 {
			t.Errorf("body line %d: %d characters: %q", i+1, len(l), l)
		}
	}
}

func fmtStats(s Stats) string {
	return fmt.Sprintf("%+v", s)
}

// waitStats waits until m's counters satisfy ok, and fails showing them.
func waitStats(t *testing.T, m *Mailer, what string, ok func(Stats) bool) {
	t.Helper()
	testkit.WaitFor(t, waitLimit, func() error {
		s := m.Stats()
		return testkit.Check(ok(s), "still waiting for %s: stats %s", what, fmtStats(s))
	})
}

// waitMails waits until srv has received n mails, and fails showing how
// many it has and m's counters.
func waitMails(t *testing.T, srv *smtpServer, n int, m *Mailer) {
	t.Helper()
	testkit.WaitFor(t, waitLimit, func() error {
		got := srv.Count()
		return testkit.Check(got == n, "%d mails received, want %d; stats %s", got, n, fmtStats(m.Stats()))
	})
}
