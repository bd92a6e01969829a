package syslog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/logjail/logjail/ingest"
)

// runUDP receives one message per datagram.
func (l *Listener) runUDP(ctx context.Context, out chan<- ingest.Entry) error {
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(ctx, "udp", l.address)
	if err != nil {
		return fmt.Errorf("syslog: %s: %w", l.cfg.Listen, err)
	}
	uc := pc.(*net.UDPConn)
	if err := uc.SetReadBuffer(socketBuffer); err != nil {
		l.log.Debug("syslog: cannot enlarge socket buffer", "err", err)
	}
	read := func(buf []byte) (int, netip.Addr, error) {
		n, ap, err := uc.ReadFromUDPAddrPort(buf)
		return n, ap.Addr().Unmap().WithZone(""), err
	}
	return l.packets(ctx, out, uc, read, min(l.cfg.MaxMessage, udpMax))
}

// runUnix receives one message per datagram on a local socket.
func (l *Listener) runUnix(ctx context.Context, out chan<- ingest.Entry) error {
	path := l.address
	if err := clearStaleSocket(path); err != nil {
		return fmt.Errorf("syslog: %s: %w", l.cfg.Listen, err)
	}
	uc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("syslog: %s: %w", l.cfg.Listen, err)
	}
	fi, err := os.Lstat(path)
	if err == nil {
		err = os.Chmod(path, l.cfg.SocketMode)
	}
	if err != nil {
		uc.Close()
		return fmt.Errorf("syslog: %s: %w", l.cfg.Listen, err)
	}
	defer func() {
		// Remove the socket file unless someone replaced it meanwhile.
		if now, err := os.Lstat(path); err == nil && os.SameFile(fi, now) {
			os.Remove(path)
		}
	}()
	if err := uc.SetReadBuffer(socketBuffer); err != nil {
		l.log.Debug("syslog: cannot enlarge socket buffer", "err", err)
	}
	read := func(buf []byte) (int, netip.Addr, error) {
		n, err := uc.Read(buf)
		return n, netip.Addr{}, err
	}
	return l.packets(ctx, out, uc, read, l.cfg.MaxMessage)
}

// clearStaleSocket removes a socket file left behind by a process that is
// gone, so that binding succeeds after a crash. A socket someone still
// listens on, and anything that is not a socket, is left alone.
func clearStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	c, err := net.Dial("unixgram", path)
	if err == nil {
		c.Close()
		return fmt.Errorf("%s is in use by another process", path)
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return os.Remove(path)
	}
	return fmt.Errorf("%s exists: %w", path, err)
}

// packets is the receive loop of a datagram socket. One goroutine reads and
// parses, keeping the senders' order. A datagram longer than maxLen is
// detected by reading into a buffer one byte larger.
func (l *Listener) packets(ctx context.Context, out chan<- ingest.Entry, c net.PacketConn,
	read func([]byte) (int, netip.Addr, error), maxLen int) error {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	defer c.Close()
	l.setBound(c.LocalAddr())

	p := newParser(l.cfg.Location, l.local)
	buf := make([]byte, maxLen+1)
	retry := retrier{l: l, op: "read", sock: "socket"}
	for {
		n, peer, err := read(buf)
		if err != nil {
			if end, err := retry.failed(ctx, err); end {
				return err
			}
			continue
		}
		retry.succeeded()
		if peer.IsValid() && !l.allowed(peer) {
			l.reject(peer, "datagram")
			continue
		}
		if n > maxLen {
			l.oversize.Add(1)
			l.log.Debug("syslog: datagram longer than max_message skipped", "peer", peer, "max", maxLen)
			continue
		}
		e, oc := p.entry(buf[:n], peer, time.Now())
		switch oc {
		case empty:
			l.empty.Add(1)
			continue
		case malformed:
			l.parseErrs.Add(1)
			l.log.Debug("syslog: malformed message delivered as text", "peer", peer)
		}
		l.deliver(ctx, out, e, false)
	}
}
