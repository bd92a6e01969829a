package mail

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sasl "github.com/emersion/go-sasl"
	smtp "github.com/emersion/go-smtp"

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

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

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

// --- an SMTP server (go-smtp's server package) that records mail ---

type received struct {
	from string
	to   []string
	data []byte
	user string // who authenticated, "" for nobody
	tls  bool   // the mail came over TLS
}

type smtpServer struct {
	addr string
	ca   string // PEM file of its certificate
	srv  *smtp.Server

	user, pass string // required AUTH PLAIN credentials, when user != ""

	mu   sync.Mutex
	msgs []received
}

type serverOpts struct {
	startTLS   bool   // offer STARTTLS
	implicit   bool   // TLS from the first byte
	user, pass string // require AUTH PLAIN
	addr       string // listen here (default 127.0.0.1:0)
}

func startSMTP(t *testing.T, o serverOpts) *smtpServer {
	t.Helper()
	s := &smtpServer{user: o.user, pass: o.pass}
	cert, caFile := selfSigned(t)
	s.ca = caFile
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.MaxMessageBytes = 32 << 20
	srv.ErrorLog = discardLogger{}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	if o.startTLS {
		srv.TLSConfig = tlsCfg
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
	if o.implicit {
		l = tls.NewListener(l, tlsCfg)
	}
	s.addr = l.Addr().String()
	s.srv = srv
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return s
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}

func (s *smtpServer) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

func (s *smtpServer) count() int { return len(s.messages()) }

// NewSession implements smtp.Backend.
func (s *smtpServer) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: s, c: c}, nil
}

type session struct {
	s    *smtpServer
	c    *smtp.Conn
	user string
	from string
	to   []string
}

func (x *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (x *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != x.s.user || password != x.s.pass {
			return errors.New("bad credentials")
		}
		x.user = username
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.s.user != "" && x.user == "" {
		return smtp.ErrAuthRequired
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := x.c.TLSConnectionState()
	x.s.mu.Lock()
	x.s.msgs = append(x.s.msgs, received{from: x.from, to: x.to, data: b, user: x.user, tls: isTLS})
	x.s.mu.Unlock()
	return nil
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and localhost, and writes
// it as a PEM file (the smtp.ca of the tests).
func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "logjail test smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, path
}

// --- a whois server: answers each query with a canned text ---

type whoisServer struct {
	addr    string
	mu      sync.Mutex
	queries []string
	n       atomic.Int64
}

func startWhois(t *testing.T, answer func(query string) string) *whoisServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &whoisServer{addr: l.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				q, err := bufio.NewReader(c).ReadString('\n')
				if err != nil {
					return
				}
				q = strings.TrimRight(q, "\r\n")
				w.mu.Lock()
				w.queries = append(w.queries, q)
				w.mu.Unlock()
				w.n.Add(1)
				_, _ = io.WriteString(c, answer(q))
			})
		}
	})
	return w
}

func (w *whoisServer) got() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.queries...)
}

// --- reading a received message as a mail client would ---

type parsed struct {
	header  netmail.Header
	subject string
	body    string
	raw     string
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not an RFC 5322 message: %v\n%s", err, data)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("subject: %v", err)
	}
	if cte := msg.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding %q", cte)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	return parsed{header: msg.Header, subject: subject, body: strings.ReplaceAll(string(body), "\r\n", "\n"), raw: string(data)}
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
