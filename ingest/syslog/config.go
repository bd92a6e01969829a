package syslog

import (
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
	"time"

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
