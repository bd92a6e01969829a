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
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logjail/logjail/ingest"
)

const (
	// streamBufSize is the read buffer of one stream connection; longer
	// messages are assembled in a separate buffer up to MaxMessage.
	streamBufSize = 16 << 10
	// udpMax is the largest UDP payload there is.
	udpMax = 65535
	// socketBuffer is the receive buffer asked for on datagram sockets, to
	// ride out bursts; the kernel caps it at net.core.rmem_max.
	socketBuffer = 4 << 20
)

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

// retrier decides what a failed read (datagrams) or accept (streams) means
// for a receive loop: the end of Run when ctx is done (nil) or the socket
// was closed under it (an error); else a passing failure (out of file
// descriptors, a connection reset before accept), counted, logged at most
// once a minute and waited out, the pause doubling up to a second so that
// a lasting one neither spins nor floods the log.
type retrier struct {
	l     *Listener
	op    string // what failed: "read", "accept"
	sock  string // what may be closed: "socket", "listener"
	pause time.Duration
}

// failed handles err; it reports whether the loop ends, and with what.
func (r *retrier) failed(ctx context.Context, err error) (bool, error) {
	if ctx.Err() != nil {
		return true, nil
	}
	if errors.Is(err, net.ErrClosed) {
		return true, fmt.Errorf("syslog: %s: %s closed: %w", r.l.cfg.Listen, r.sock, err)
	}
	r.l.readErrs.Add(1)
	r.l.warnLimited(r.op, "syslog: "+r.op+" error", "listen", r.l.cfg.Listen, "err", err)
	r.pause = min(max(2*r.pause, 5*time.Millisecond), time.Second)
	sleepCtx(ctx, r.pause)
	return false, nil
}

// succeeded resets the pause after a read or accept that worked.
func (r *retrier) succeeded() { r.pause = 0 }

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
