// Package mailtest has test servers for the mail action: an SMTP server
// that records the messages it receives, and a whois server. It also reads
// a received message as a mail client would. It is used by the mail
// package's tests and by the end-to-end tests; logjail itself does not use
// it.
//
// The servers serve a listener the caller makes (so that it may be made
// anywhere, in a network namespace for one), and nothing here takes a
// *testing.T: errors are returned, and the caller registers Close with
// t.Cleanup.
package mailtest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"time"

	sasl "github.com/emersion/go-sasl"
	smtp "github.com/emersion/go-smtp"
)

// Message is a mail an SMTPServer received.
type Message struct {
	From string
	To   []string
	Data []byte
	Auth string // the user that authenticated, "" for nobody
	TLS  bool   // the mail came over TLS
}

// SMTPOptions configure an SMTPServer. The zero value serves plain SMTP
// without authentication.
type SMTPOptions struct {
	// TLS, when set, is offered with STARTTLS, or spoken from the first
	// byte with ImplicitTLS.
	TLS         *tls.Config
	ImplicitTLS bool
	// Users, when not empty, are the user names and passwords AUTH PLAIN
	// accepts; a mail is then refused without authentication.
	Users map[string]string
}

// SMTPServer is an SMTP server (go-smtp's) that records every mail.
type SMTPServer struct {
	addr  string
	ln    net.Listener
	srv   *smtp.Server
	users map[string]string
	done  chan struct{}

	mu   sync.Mutex
	msgs []Message
}

// NewSMTP serves SMTP on ln until Close. With opts.ImplicitTLS, ln is
// wrapped in TLS with opts.TLS.
func NewSMTP(ln net.Listener, opts SMTPOptions) *SMTPServer {
	s := &SMTPServer{addr: ln.Addr().String(), users: opts.Users, done: make(chan struct{})}
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.MaxMessageBytes = 32 << 20
	srv.ErrorLog = discardLogger{}
	if opts.ImplicitTLS {
		ln = tls.NewListener(ln, opts.TLS)
	} else {
		srv.TLSConfig = opts.TLS
	}
	s.ln, s.srv = ln, srv
	go func() {
		defer close(s.done)
		_ = srv.Serve(ln)
	}()
	return s
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}

// Addr is the address the server listens on.
func (s *SMTPServer) Addr() string { return s.addr }

// Messages are the mails received so far, in order.
func (s *SMTPServer) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Count is the number of mails received so far.
func (s *SMTPServer) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// Close stops the server: its listener and connections are closed.
func (s *SMTPServer) Close() error {
	err := s.srv.Close()
	_ = s.ln.Close() // in case Serve had not started
	<-s.done
	return err
}

// NewSession implements smtp.Backend.
func (s *SMTPServer) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: s, c: c}, nil
}

type session struct {
	s    *SMTPServer
	c    *smtp.Conn
	user string
	from string
	to   []string
}

func (x *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (x *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if pass, ok := x.s.users[username]; !ok || password != pass {
			return errors.New("bad credentials")
		}
		x.user = username
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if len(x.s.users) > 0 && x.user == "" {
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
	x.s.msgs = append(x.s.msgs, Message{From: x.from, To: x.to, Data: b, Auth: x.user, TLS: isTLS})
	x.s.mu.Unlock()
	return nil
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

// WhoisServer answers each whois query (one line) with a text, and records
// the queries.
type WhoisServer struct {
	addr   string
	ln     net.Listener
	answer func(query string) string
	wg     sync.WaitGroup

	mu      sync.Mutex
	queries []string
}

// NewWhois serves whois on ln until Close, answering each query with
// answer(query).
func NewWhois(ln net.Listener, answer func(query string) string) *WhoisServer {
	w := &WhoisServer{addr: ln.Addr().String(), ln: ln, answer: answer}
	w.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			w.wg.Go(func() { w.serve(c) })
		}
	})
	return w
}

func (w *WhoisServer) serve(c net.Conn) {
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
	_, _ = io.WriteString(c, w.answer(q))
}

// Addr is the address the server listens on.
func (w *WhoisServer) Addr() string { return w.addr }

// Queries are the queries received so far, in order.
func (w *WhoisServer) Queries() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.queries...)
}

// Close stops the server and waits for the connections being answered.
func (w *WhoisServer) Close() error {
	err := w.ln.Close()
	w.wg.Wait()
	return err
}

// Parsed is a message read as a mail client would.
type Parsed struct {
	Header  netmail.Header
	Subject string // decoded (RFC 2047)
	Body    string // decoded when quoted-printable, with LF line ends
}

// Parse reads an RFC 5322 message: its headers, its decoded subject, and
// its body, decoded when its Content-Transfer-Encoding is quoted-printable.
func Parse(data []byte) (Parsed, error) {
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return Parsed{}, fmt.Errorf("not an RFC 5322 message: %w", err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return Parsed{}, fmt.Errorf("subject: %w", err)
	}
	body := msg.Body
	if msg.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
		body = quotedprintable.NewReader(msg.Body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return Parsed{}, fmt.Errorf("body: %w", err)
	}
	return Parsed{Header: msg.Header, Subject: subject, Body: strings.ReplaceAll(string(b), "\r\n", "\n")}, nil
}
