// Package syslog receives syslog messages over the network or a local
// socket, for logjail.
//
// A Listener binds one of
//
//	udp://HOST:PORT   one datagram is one message (RFC 5426)
//	tcp://HOST:PORT   a stream (RFC 6587), octet-counted or newline-framed
//	tls://HOST:PORT   the same over TLS (RFC 5425), optionally with client certificates
//	unix:///path      a local datagram socket, like /dev/log
//
// and parses RFC 3164 and RFC 5424 messages, told apart per message, plus
// the Cisco IOS variants (message counter, sequence number, origin host
// name). Each message becomes an ingest.Entry whose Message is laid out like
// a line of a syslog file without its date, "HOST APP[PID]: MSG", so the
// filters written for log files apply unchanged. A message the parsers
// reject is still delivered, as "PEER TEXT" dated when it arrived, and
// counted as an error.
//
// logjail runs as root and bans the addresses these messages name, so the
// listener is defensive: senders outside Allow are ignored (a forged line
// must not get someone banned), messages are bounded by MaxMessage and an
// oversized one is skipped without being held in memory, stream connections
// are bounded in number and closed when idle, and a slow or stuck sender
// blocks only its own connection. Datagram sources cannot make their sender
// wait, so when the consumer is behind they drop and count (Stats.Dropped);
// stream sources wait, and TCP flow control slows the sender down.
//
// Allow trusts the source address, and a UDP source address can be forged
// by anyone who can send packets to the listener. Where a forged line could
// get someone banned, prefer tcp:// (the handshake proves the address) or
// tls:// with client certificates, or drop spoofed sources in the network
// (reverse-path filtering, ingress filtering at the edge).
//
// Stream framing is chosen per connection from its first byte: a digit
// 1-9 means octet counting ("LEN MSG", RFC 6587 3.4.1), anything else
// newline framing (LF, or NUL, ends a message). An invalid octet count is a
// framing error; the connection resynchronises at the next LF.
//
// Timestamps: RFC 5424 and RFC 3339 times are used as sent. RFC 3164 times
// have neither year nor zone: they are read in Config.Location (default the
// local zone, TZ) and in the latest year that does not put them more than
// a week into the future. A message without a timestamp is dated when it
// arrived. Fields carries "format" (rfc3164, rfc5424 or raw), "facility"
// and "severity" (keywords: auth, warning, ...), "appname", "procid",
// "msgid" and, for RFC 5424 structured data, "sd.ID.PARAM".
//
// Counters in Stats:
//   - Read: entries delivered.
//   - Skipped: messages longer than MaxMessage and empty datagrams.
//   - Rejected: datagrams and connections from senders outside Allow,
//     and stream connections refused by a budget (MaxConns,
//     MaxConnsPerPeer); logged naming the peer (at most once a minute
//     per kind).
//   - Dropped: datagrams (UDP, unix) that arrived while the queue was full.
//   - Errors: malformed messages (delivered as raw text all the same),
//     framing errors and truncated frames, failed TLS handshakes and
//     read errors.
//   - HandshakeFailures: failed TLS handshakes, including those not
//     completed within TLS.HandshakeTimeout, logged with the peer and the
//     reason (at most once a minute).
//
// Stats.State is waiting until the socket is bound and while no sender
// has been heard from, reading once one has, error when the socket cannot
// be bound.
//
// Counters breaks these down further.
package syslog

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/ingest/keyerr"
)

const (
	defaultMaxMessage = 64 << 10
	maxMaxMessage     = 16 << 20
	defaultMaxConns   = 256
	// defaultMaxConnsPerPeer keeps one peer from holding more than a
	// sixteenth of the default MaxConns.
	defaultMaxConnsPerPeer  = 16
	defaultIdleTimeout      = 5 * time.Minute
	defaultHandshakeTimeout = 10 * time.Second
	defaultSocketMode       = 0o660
	// streamBufSize is the read buffer of one stream connection; longer
	// messages are assembled in a separate buffer up to MaxMessage.
	streamBufSize = 16 << 10
	// udpMax is the largest UDP payload there is.
	udpMax = 65535
	// socketBuffer is the receive buffer asked for on datagram sockets, to
	// ride out bursts; the kernel caps it at net.core.rmem_max.
	socketBuffer = 4 << 20
)

// Config configures a Listener.
type Config struct {
	// Listen is udp://HOST:PORT, tcp://HOST:PORT, tls://HOST:PORT or
	// unix:///absolute/path. An empty HOST listens on every address.
	Listen string
	// Allow lists the networks whose messages are accepted; empty accepts
	// every sender. Datagrams from elsewhere are dropped and stream
	// connections closed at accept, both counted in Stats.Rejected. It does
	// not apply to unix sockets, whose access is governed by SocketMode.
	Allow []netip.Prefix
	// MaxMessage is the longest message accepted, in bytes, at most 16 MiB;
	// longer ones are skipped and counted. Default 64 KiB. A stream
	// connection buffers at most about twice that, and only as bytes
	// arrive, so memory stays within MaxConns × 2 × MaxMessage.
	MaxMessage int
	// MaxConns bounds the concurrent TCP/TLS connections; further ones are
	// closed at once and counted in Stats.Rejected. Default 256.
	MaxConns int
	// MaxConnsPerPeer bounds the concurrent TCP/TLS connections from one
	// address, so that one peer cannot fill MaxConns; further ones are
	// closed at once and counted in Stats.Rejected. At most MaxConns;
	// default 16, or MaxConns when that is smaller.
	MaxConnsPerPeer int
	// IdleTimeout closes a TCP/TLS connection that sent nothing for this
	// long. Default 5m.
	IdleTimeout time.Duration
	// TLS configures tls:// listeners.
	TLS TLSConfig
	// SocketMode is the permission of a unix:// socket file. Default 0660:
	// owner and group may send (root and, say, group "adm" or "syslog");
	// 0666 lets every local user log, as /dev/log does.
	SocketMode fs.FileMode
	// Location is the time zone of RFC 3164 timestamps, which carry none.
	// Default time.Local (TZ).
	Location *time.Location
}

// TLSConfig holds the certificates of a tls:// listener. The certificate
// and key are read again when their files change, so a renewed certificate
// is used without a restart.
type TLSConfig struct {
	CertFile string // PEM certificate chain (required)
	KeyFile  string // PEM private key (required)
	// ClientCAFile holds the CAs that client certificates are verified
	// against. When set, a client certificate, if presented, must verify.
	ClientCAFile string
	// RequireClientCert refuses clients without a verified certificate;
	// needs ClientCAFile.
	RequireClientCert bool
	// HandshakeTimeout closes a connection whose TLS handshake did not
	// complete in this long (a peer that never sends a ClientHello);
	// counted in Stats.HandshakeFailures. Default 10s.
	HandshakeTimeout time.Duration
}

func (t TLSConfig) set() bool {
	return t.CertFile != "" || t.KeyFile != "" || t.ClientCAFile != "" || t.RequireClientCert || t.HandshakeTimeout != 0
}

// Listener receives syslog messages. It implements ingest.Source.
type Listener struct {
	cfg     Config
	scheme  string // udp, tcp, tls, unix
	address string // host:port or socket path
	tls     *tls.Config
	log     *slog.Logger
	local   string // this host's name, for unix messages without HOSTNAME

	warnMu sync.Mutex
	warned map[string]time.Time // when a kind of warning was last logged

	running   atomic.Bool // Run is running
	readyOnce sync.Once
	ready     chan struct{}
	bound     atomic.Pointer[net.Addr]
	health    ingest.Health
	heard     atomic.Bool // a sender was heard from: reading

	delivered, oversize, denied, empty, dropped atomic.Uint64
	parseErrs, frameErrs, readErrs, tlsErrs     atomic.Uint64
	runErrs                                     atomic.Uint64 // sockets that could not be bound or served
	tlsTimeouts                                 atomic.Uint64
	accepted, refused, peerRefused, idleClosed  atomic.Uint64
	open                                        atomic.Int64
}

var _ ingest.Source = (*Listener)(nil)

// Counters are a Listener's detailed counters, cumulative since start.
type Counters struct {
	Delivered     uint64 // entries delivered (Stats.Read)
	Oversize      uint64 // messages longer than MaxMessage, skipped
	Denied        uint64 // datagrams and connections from senders outside Allow
	Empty         uint64 // empty datagrams
	Dropped       uint64 // datagrams dropped because the queue was full
	ParseErrors   uint64 // messages the parsers rejected (delivered as raw text)
	FramingErrors uint64 // bad octet counts, frames cut short by the sender
	ReadErrors    uint64 // socket errors
	TLSErrors     uint64 // failed TLS handshakes (timeouts included)
	TLSTimeouts   uint64 // TLS handshakes not completed within HandshakeTimeout
	RunErrors     uint64 // runs that failed (a socket that could not be bound)
	Accepted      uint64 // stream connections accepted
	Refused       uint64 // stream connections closed because MaxConns were open
	PeerRefused   uint64 // stream connections closed because their peer had MaxConnsPerPeer open
	IdleClosed    uint64 // stream connections closed after IdleTimeout
	Open          int64  // stream connections open now
}

// New validates cfg and returns a Listener; it binds nothing until Run.
// Errors name the offending field as it is spelled in the configuration
// file (listen, allow, max_message, ...).
func New(cfg Config, log *slog.Logger) (*Listener, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	scheme, address, err := parseListen(cfg.Listen)
	errs := []error{err}
	if err == nil {
		cfg.Listen = scheme + "://" + address
		if scheme == "unix" {
			cfg.Listen = "unix://" + address
		}
	}
	errs = append(errs, cfg.check(scheme)...)
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	l := &Listener{cfg: cfg, scheme: scheme, address: address, log: log, ready: make(chan struct{}),
		warned: make(map[string]time.Time)}
	if scheme == "tls" {
		l.tls, err = tlsConfig(cfg.TLS, log)
		errs = append(errs, err)
		if l.cfg.TLS.HandshakeTimeout == 0 {
			l.cfg.TLS.HandshakeTimeout = defaultHandshakeTimeout
		}
	} else if scheme != "" && cfg.TLS.set() {
		errs = append(errs, keyerr.Wrap("tls", errors.New("syslog: tls: only for tls:// listeners")))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	l.local, err = os.Hostname()
	if err != nil || l.local == "" {
		l.local = "localhost"
	}
	return l, nil
}

// check checks the settings of a listener of scheme ("" when listen is
// bad: the settings that depend on it are not checked), each on its own so
// that every bad key is reported, and fills in the defaults.
func (cfg *Config) check(scheme string) []error {
	var errs []error
	allow := make([]netip.Prefix, 0, len(cfg.Allow))
	for _, p := range cfg.Allow {
		if !p.IsValid() {
			errs = append(errs, keyerr.Wrap("allow", fmt.Errorf("syslog: allow: invalid prefix %q", p.String())))
			continue
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		allow = append(allow, netip.PrefixFrom(p.Addr().WithZone(""), p.Bits()).Masked())
	}
	cfg.Allow = allow
	if scheme == "unix" && len(allow) > 0 {
		errs = append(errs, keyerr.Wrap("allow", errors.New("syslog: allow: does not apply to unix sockets (use socket_mode)")))
	}
	switch {
	case cfg.MaxMessage < 0 || cfg.MaxMessage > maxMaxMessage:
		errs = append(errs, keyerr.Wrap("max_message", fmt.Errorf("syslog: max_message: %d out of range 1..%d", cfg.MaxMessage, maxMaxMessage)))
	case cfg.MaxMessage == 0:
		cfg.MaxMessage = defaultMaxMessage
	}
	errs = append(errs, keyerr.Default("syslog", "max_connections", &cfg.MaxConns, defaultMaxConns))
	switch {
	case cfg.MaxConnsPerPeer < 0:
		errs = append(errs, keyerr.Wrap("max_connections_per_peer", fmt.Errorf("syslog: max_connections_per_peer: %d is negative", cfg.MaxConnsPerPeer)))
	case cfg.MaxConns < 0:
		// Already reported; the two are not compared.
	case cfg.MaxConnsPerPeer > cfg.MaxConns:
		errs = append(errs, keyerr.Wrap("max_connections_per_peer", fmt.Errorf("syslog: max_connections_per_peer: %d is more than max_connections (%d)", cfg.MaxConnsPerPeer, cfg.MaxConns)))
	case cfg.MaxConnsPerPeer == 0:
		cfg.MaxConnsPerPeer = min(defaultMaxConnsPerPeer, cfg.MaxConns)
	}
	if cfg.TLS.HandshakeTimeout < 0 {
		errs = append(errs, keyerr.Wrap("tls.handshake_timeout", fmt.Errorf("syslog: tls.handshake_timeout: %v is negative", cfg.TLS.HandshakeTimeout)))
	}
	errs = append(errs, keyerr.Default("syslog", "idle_timeout", &cfg.IdleTimeout, defaultIdleTimeout))
	switch {
	case cfg.SocketMode&^fs.ModePerm != 0:
		errs = append(errs, keyerr.Wrap("socket_mode", fmt.Errorf("syslog: socket_mode: %v is not a permission", cfg.SocketMode)))
	case cfg.SocketMode != 0 && scheme != "unix" && scheme != "":
		errs = append(errs, keyerr.Wrap("socket_mode", errors.New("syslog: socket_mode: only for unix:// listeners")))
	case cfg.SocketMode == 0:
		cfg.SocketMode = defaultSocketMode
	}
	return errs
}

// parseListen checks a listen URL and returns its scheme and address.
func parseListen(s string) (scheme, address string, err error) {
	bad := func(why string, args ...any) error {
		return keyerr.Wrap("listen", fmt.Errorf("syslog: listen: %q: %s", s, fmt.Sprintf(why, args...)))
	}
	if s == "" {
		return "", "", keyerr.Wrap("listen", errors.New("syslog: listen: required (udp://HOST:PORT, tcp://HOST:PORT, tls://HOST:PORT or unix:///path)"))
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", "", bad("%v", err)
	}
	scheme = strings.ToLower(u.Scheme)
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", "", bad("want %s", want(scheme))
	}
	switch scheme {
	case "udp", "tcp", "tls":
		if u.Path != "" && u.Path != "/" {
			return "", "", bad("want %s", want(scheme))
		}
		host, port, err := net.SplitHostPort(u.Host)
		if err != nil {
			var ae *net.AddrError
			if errors.As(err, &ae) {
				return "", "", bad("%s", ae.Err)
			}
			return "", "", bad("%v", err)
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return "", "", bad("port %q is not a number 0-65535", port)
		}
		if host != "" && !validHost(host) {
			return "", "", bad("host %q is neither an IP address nor a host name", host)
		}
		return scheme, net.JoinHostPort(host, port), nil
	case "unix":
		if u.Host != "" || !filepath.IsAbs(u.Path) {
			return "", "", bad("want unix:///absolute/path")
		}
		p := filepath.Clean(u.Path)
		if len(p) > 107 { // sun_path holds 108 bytes with the NUL
			return "", "", bad("socket path longer than 107 bytes")
		}
		return scheme, p, nil
	case "":
		return "", "", bad("missing scheme; want udp://, tcp://, tls:// or unix://")
	default:
		return "", "", bad("unknown scheme %q; want udp, tcp, tls or unix", u.Scheme)
	}
}

func want(scheme string) string {
	if scheme == "unix" {
		return "unix:///absolute/path"
	}
	return scheme + "://HOST:PORT"
}

func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func tlsConfig(t TLSConfig, log *slog.Logger) (*tls.Config, error) {
	if t.CertFile == "" {
		return nil, keyerr.Wrap("tls.cert", errors.New("syslog: tls.cert: required for tls:// listeners"))
	}
	if t.KeyFile == "" {
		return nil, keyerr.Wrap("tls.key", errors.New("syslog: tls.key: required for tls:// listeners"))
	}
	kp := &keyPair{certFile: t.CertFile, keyFile: t.KeyFile, log: log}
	if err := kp.load(); err != nil {
		return nil, err
	}
	c := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: kp.get,
	}
	if t.RequireClientCert && t.ClientCAFile == "" {
		return nil, keyerr.Wrap("tls.require_client_cert", errors.New("syslog: tls.require_client_cert: needs tls.client_ca"))
	}
	if t.ClientCAFile != "" {
		pem, err := os.ReadFile(t.ClientCAFile)
		if err != nil {
			return nil, keyerr.Wrap("tls.client_ca", fmt.Errorf("syslog: tls.client_ca: %w", err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, keyerr.Wrap("tls.client_ca", fmt.Errorf("syslog: tls.client_ca: %s: no PEM certificate found", t.ClientCAFile))
		}
		c.ClientCAs = pool
		c.ClientAuth = tls.VerifyClientCertIfGiven
		if t.RequireClientCert {
			c.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return c, nil
}

// keyPair serves a certificate and reloads it when its files change.
type keyPair struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string
	checked time.Time
}

// reloadCheck is how often the files are looked at, at most (a variable
// for tests).
var reloadCheck = 5 * time.Second

func fileStamp(paths ...string) string {
	var sb strings.Builder
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return ""
		}
		fmt.Fprintf(&sb, "%d/%d;", fi.ModTime().UnixNano(), fi.Size())
	}
	return sb.String()
}

func (k *keyPair) load() error {
	stamp := fileStamp(k.certFile, k.keyFile)
	certPEM, err := os.ReadFile(k.certFile)
	if err != nil {
		return keyerr.Wrap("tls.cert", fmt.Errorf("syslog: tls.cert: %w", err))
	}
	keyPEM, err := os.ReadFile(k.keyFile)
	if err != nil {
		return keyerr.Wrap("tls.key", fmt.Errorf("syslog: tls.key: %w", err))
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("syslog: tls.cert, tls.key: %s, %s: %w", k.certFile, k.keyFile, err)
	}
	k.cert, k.stamp, k.checked = &c, stamp, time.Now()
	return nil
}

func (k *keyPair) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if time.Since(k.checked) < reloadCheck {
		return k.cert, nil
	}
	k.checked = time.Now()
	s := fileStamp(k.certFile, k.keyFile)
	if s == "" || s == k.stamp {
		return k.cert, nil
	}
	if err := k.load(); err != nil {
		k.stamp = s // retried when the files change again
		k.log.Warn("syslog: cannot reload TLS certificate; keeping the old one", "err", err)
	} else {
		k.log.Info("syslog: TLS certificate reloaded", "cert", k.certFile)
	}
	return k.cert, nil
}

// Describe says what the listener listens on, and to whom.
func (l *Listener) Describe() string {
	s := "syslog " + l.cfg.Listen
	if len(l.cfg.Allow) > 0 {
		p := make([]string, len(l.cfg.Allow))
		for i, a := range l.cfg.Allow {
			p[i] = a.String()
		}
		s += " (allow " + strings.Join(p, ", ") + ")"
	}
	return s
}

// Ready is closed once Run has bound its socket; Addr then tells where.
func (l *Listener) Ready() <-chan struct{} { return l.ready }

// Addr returns the bound address (with the actual port when the
// configuration said 0), or nil before the listener is bound.
func (l *Listener) Addr() net.Addr {
	if a := l.bound.Load(); a != nil {
		return *a
	}
	return nil
}

// Stats returns the source's counters and health.
func (l *Listener) Stats() ingest.Stats {
	c := l.Counters()
	st := ingest.Stats{
		Read:              c.Delivered,
		Skipped:           c.Oversize + c.Empty,
		Rejected:          c.Denied + c.Refused + c.PeerRefused,
		Dropped:           c.Dropped,
		Errors:            c.ParseErrors + c.FramingErrors + c.ReadErrors + c.TLSErrors + c.RunErrors,
		HandshakeFailures: c.TLSErrors,
	}
	l.health.Fill(&st)
	return st
}

// Counters returns the detailed counters.
func (l *Listener) Counters() Counters {
	return Counters{
		Delivered:     l.delivered.Load(),
		Oversize:      l.oversize.Load(),
		Denied:        l.denied.Load(),
		Empty:         l.empty.Load(),
		Dropped:       l.dropped.Load(),
		ParseErrors:   l.parseErrs.Load(),
		FramingErrors: l.frameErrs.Load(),
		ReadErrors:    l.readErrs.Load(),
		TLSErrors:     l.tlsErrs.Load(),
		RunErrors:     l.runErrs.Load(),
		TLSTimeouts:   l.tlsTimeouts.Load(),
		Accepted:      l.accepted.Load(),
		Refused:       l.refused.Load(),
		PeerRefused:   l.peerRefused.Load(),
		IdleClosed:    l.idleClosed.Load(),
		Open:          l.open.Load(),
	}
}

func (l *Listener) setBound(a net.Addr) {
	l.bound.Store(&a)
	l.heard.Store(false) // a new socket: reading again once a sender is heard
	l.health.Set(ingest.StateWaiting, "listening on "+a.String()+"; no sender yet")
	l.readyOnce.Do(func() { close(l.ready) })
	l.log.Info("syslog: listening", "listen", l.cfg.Listen, "addr", a.String())
}

// allowed reports whether messages from peer are accepted.
func (l *Listener) allowed(peer netip.Addr) bool {
	if len(l.cfg.Allow) == 0 {
		return true
	}
	for _, p := range l.cfg.Allow {
		if p.Contains(peer) {
			return true
		}
	}
	return false
}

// peerAddr returns the address of a network peer, unmapped and without zone.
func peerAddr(a net.Addr) netip.Addr {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UDPAddr:
		ap = a.AddrPort()
	default:
		return netip.Addr{}
	}
	return ap.Addr().Unmap().WithZone("")
}

// Run listens until ctx is done, then closes the socket and every
// connection and returns nil. A socket that cannot be bound is returned as
// an error (and counted); Run may then be called again, and binds anew (an
// address or a socket directory that appeared meanwhile). It never closes
// out.
func (l *Listener) Run(ctx context.Context, out chan<- ingest.Entry) error {
	if !l.running.CompareAndSwap(false, true) {
		return errors.New("syslog: Run is already running")
	}
	defer l.running.Store(false)
	var err error
	switch l.scheme {
	case "udp":
		err = l.runUDP(ctx, out)
	case "unix":
		err = l.runUnix(ctx, out)
	default:
		err = l.runStream(ctx, out)
	}
	if err != nil {
		l.runErrs.Add(1)
		l.health.Set(ingest.StateError, err.Error())
		return err
	}
	l.health.Set(ingest.StateWaiting, "stopped")
	return nil
}

// deliveredOne counts an entry given to the consumer; the first makes the
// listener reading.
func (l *Listener) deliveredOne(e *ingest.Entry) {
	l.health.Entry(e.ReadAt)
	if !l.heard.Load() && l.heard.CompareAndSwap(false, true) {
		l.health.Set(ingest.StateReading, "listening on "+l.Addr().String())
	}
	l.delivered.Add(1) // last: whoever sees the count sees the health
}

// reject counts and logs a sender outside Allow (a datagram, or a stream
// connection closed at accept).
func (l *Listener) reject(peer netip.Addr, what string) {
	l.denied.Add(1)
	l.warnLimited("denied", "syslog: "+what+" from a sender outside allow; ignored (counted as rejected)", "listen", l.cfg.Listen, "peer", peer)
}

// deliver hands e to the consumer: waiting for it (streams) or not at all
// (datagrams). It reports false when ctx ended the wait.
func (l *Listener) deliver(ctx context.Context, out chan<- ingest.Entry, e ingest.Entry, wait bool) bool {
	if !wait {
		select {
		case out <- e:
			l.deliveredOne(&e)
		default:
			l.dropped.Add(1)
		}
		return true
	}
	select {
	case out <- e:
		l.deliveredOne(&e)
		return true
	case <-ctx.Done():
		return false
	}
}

// warnLimited logs a warning at most once a minute per kind (and at debug
// level otherwise), so that a flood of refused connections or a failing
// socket cannot flood the log.
func (l *Listener) warnLimited(kind, msg string, args ...any) {
	now := time.Now()
	l.warnMu.Lock()
	quiet := now.Sub(l.warned[kind]) < time.Minute
	if !quiet {
		l.warned[kind] = now
	}
	l.warnMu.Unlock()
	if quiet {
		l.log.Debug(msg, args...)
	} else {
		l.log.Warn(msg, args...)
	}
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
