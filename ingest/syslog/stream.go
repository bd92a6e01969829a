package syslog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/logjail/logjail/ingest"
)

// connSet tracks the open stream connections, so that shutdown can close
// them and MaxConns and MaxConnsPerPeer can be enforced.
type connSet struct {
	mu     sync.Mutex
	conns  map[net.Conn]netip.Addr
	peers  map[netip.Addr]int // open connections per peer
	closed bool
}

func newConnSet() *connSet {
	return &connSet{conns: make(map[net.Conn]netip.Addr), peers: make(map[netip.Addr]int)}
}

// Why add refused a connection.
const (
	admitted = iota
	refusedClosed
	refusedFull    // MaxConns are open
	refusedPerPeer // the peer has MaxConnsPerPeer open
)

// add registers c from peer unless limit connections are open, perPeer of
// them from peer, or the set is closed; it says which.
func (s *connSet) add(c net.Conn, peer netip.Addr, limit, perPeer int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return refusedClosed
	case len(s.conns) >= limit:
		return refusedFull
	case s.peers[peer] >= perPeer:
		return refusedPerPeer
	}
	s.conns[c] = peer
	s.peers[peer]++
	return admitted
}

func (s *connSet) remove(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	peer, ok := s.conns[c]
	if !ok {
		return
	}
	delete(s.conns, c)
	if s.peers[peer]--; s.peers[peer] <= 0 {
		delete(s.peers, peer)
	}
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
}

// runStream accepts TCP (or TLS) connections and serves each in its own
// goroutine, at most MaxConns at a time.
func (l *Listener) runStream(ctx context.Context, out chan<- ingest.Entry) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", l.address)
	if err != nil {
		return fmt.Errorf("syslog: %s: %w", l.cfg.Listen, err)
	}
	conns := newConnSet()
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		conns.closeAll()
	})
	var wg sync.WaitGroup
	defer func() {
		stop()
		ln.Close()
		conns.closeAll()
		wg.Wait()
	}()
	l.setBound(ln.Addr())

	retry := retrier{l: l, op: "accept", sock: "listener"}
	for {
		c, err := ln.Accept()
		if err != nil {
			if end, err := retry.failed(ctx, err); end {
				return err
			}
			continue
		}
		retry.succeeded()
		peer := peerAddr(c.RemoteAddr())
		if !l.allowed(peer) {
			l.reject(peer, "connection")
			c.Close()
			continue
		}
		if why := conns.add(c, peer, l.cfg.MaxConns, l.cfg.MaxConnsPerPeer); why != admitted {
			l.refuse(c, peer, why)
			continue
		}
		l.accepted.Add(1)
		l.open.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer l.open.Add(-1)
			defer conns.remove(c)
			defer c.Close()
			l.serve(ctx, c, peer, out)
		}()
	}
}

// refuse closes a connection conns.add did not admit, counting and logging
// the budget that ran out.
func (l *Listener) refuse(c net.Conn, peer netip.Addr, why int) {
	switch why {
	case refusedPerPeer:
		l.peerRefused.Add(1)
		l.warnLimited("per-peer", "syslog: too many connections from one peer; closing its new ones (counted as rejected)",
			"listen", l.cfg.Listen, "peer", peer, "max_connections_per_peer", l.cfg.MaxConnsPerPeer)
	case refusedFull:
		l.refused.Add(1)
		l.warnLimited("refused", "syslog: too many connections; closing new ones (counted as rejected)",
			"listen", l.cfg.Listen, "peer", peer, "max_connections", l.cfg.MaxConns)
	}
	c.Close()
}

// idleReader sets a fresh read deadline before every read, so a
// connection is closed once it sent nothing for the idle timeout.
type idleReader struct {
	c    net.Conn
	idle time.Duration
}

func (r idleReader) Read(p []byte) (int, error) {
	if err := r.c.SetReadDeadline(time.Now().Add(r.idle)); err != nil {
		return 0, err
	}
	return r.c.Read(p)
}

// serve reads one connection's messages until it ends, fails or ctx is done.
func (l *Listener) serve(ctx context.Context, c net.Conn, peer netip.Addr, out chan<- ingest.Entry) {
	conn := c
	if l.tls != nil {
		// The handshake has its own, short, limit: a peer that connects
		// and never sends a ClientHello must not hold a connection slot
		// for the idle timeout.
		tc := tls.Server(c, l.tls)
		_ = c.SetDeadline(time.Now().Add(l.cfg.TLS.HandshakeTimeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			if ctx.Err() == nil {
				l.tlsErrs.Add(1)
				if errors.Is(err, os.ErrDeadlineExceeded) {
					l.tlsTimeouts.Add(1)
					l.warnLimited("tls-timeout", "syslog: TLS handshake not completed in time; connection closed (counted)",
						"listen", l.cfg.Listen, "peer", peer, "handshake_timeout", l.cfg.TLS.HandshakeTimeout)
				} else {
					l.warnLimited("tls", "syslog: TLS handshake failed (counted)", "listen", l.cfg.Listen, "peer", peer, "err", err)
				}
			}
			return
		}
		_ = c.SetDeadline(time.Time{})
		conn = tc
	}
	l.log.Debug("syslog: connection", "peer", peer)

	fr := newFrameReader(idleReader{conn, l.cfg.IdleTimeout}, streamBufSize, l.cfg.MaxMessage)
	p := newParser(l.cfg.Location, l.local)
	for {
		b, kind, err := fr.next()
		switch kind {
		case frameOversize:
			l.oversize.Add(1)
			l.log.Debug("syslog: message longer than max_message skipped", "peer", peer, "max", l.cfg.MaxMessage)
		case frameBadHeader:
			l.frameErrs.Add(1)
			l.log.Debug("syslog: invalid octet count; resynchronised at the next newline", "peer", peer)
		}
		if b != nil && err == nil {
			e, oc := p.entry(b, peer, time.Now())
			if oc == malformed && kind == frameOK {
				l.parseErrs.Add(1)
				l.log.Debug("syslog: malformed message delivered as text", "peer", peer)
			}
			if oc != empty && !l.deliver(ctx, out, e, true) {
				return
			}
			fr.shrink()
		}
		if err != nil {
			l.connEnd(ctx, peer, err)
			return
		}
	}
}

// connEnd counts and logs why a connection ended.
func (l *Listener) connEnd(ctx context.Context, peer netip.Addr, err error) {
	switch {
	case errors.Is(err, io.EOF), ctx.Err() != nil, errors.Is(err, net.ErrClosed):
	case errors.Is(err, os.ErrDeadlineExceeded):
		l.idleClosed.Add(1)
		l.log.Debug("syslog: idle connection closed", "peer", peer, "idle_timeout", l.cfg.IdleTimeout)
	case errors.Is(err, io.ErrUnexpectedEOF):
		l.frameErrs.Add(1)
		l.log.Debug("syslog: connection closed inside a frame", "peer", peer)
	default:
		l.readErrs.Add(1)
		l.log.Debug("syslog: connection read error", "peer", peer, "err", err)
	}
}
