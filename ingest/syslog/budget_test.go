package syslog

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
)

// TestTLSListenerNotLockedByOnePeer: one peer opens max_connections TCP
// connections to a TLS listener and never sends a ClientHello; a second
// peer with a client certificate still gets its records in, either because
// the first peer is held to max_connections_per_peer or because its
// handshakes time out long before the idle timeout.
func TestTLSListenerNotLockedByOnePeer(t *testing.T) {
	const maxConns = 8
	cases := []struct {
		name      string
		perPeer   int
		handshake time.Duration
		// settled says the attacker's connections got what the budget
		// gave them.
		settled func(Counters) bool
		stats   func(t *testing.T, h *harness)
	}{
		{
			name: "per-peer cap", perPeer: 3, handshake: time.Hour,
			settled: func(c Counters) bool { return c.Open == 3 && c.PeerRefused == maxConns-3 },
			stats: func(t *testing.T, h *harness) {
				if st := h.l.Stats(); st.Rejected < maxConns-3 {
					t.Errorf("Stats %+v: rejected < %d", st, maxConns-3)
				}
				if !strings.Contains(h.logs.String(), "max_connections_per_peer=3") {
					t.Errorf("per-peer refusal not logged:\n%s", h.logs)
				}
			},
		},
		{
			name: "handshake timeout", perPeer: maxConns, handshake: 200 * time.Millisecond,
			settled: func(c Counters) bool { return c.TLSTimeouts >= 1 },
			stats: func(t *testing.T, h *harness) {
				if st := h.l.Stats(); st.HandshakeFailures < 1 {
					t.Errorf("Stats %+v: no TLS handshake failure counted", st)
				}
				if !strings.Contains(h.logs.String(), "TLS handshake not completed in time") {
					t.Errorf("handshake timeout not logged:\n%s", h.logs)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ca := testkit.Issue(t, "ca", testkit.CACert, nil)
			certFile, keyFile := testkit.Issue(t, "server", testkit.ServerCert, ca).Write(t, dir, "server")
			caFile, _ := ca.Write(t, dir, "ca")
			h := start(t, Config{Listen: "tls://127.0.0.1:0", MaxConns: maxConns, MaxConnsPerPeer: tc.perPeer,
				IdleTimeout: time.Hour, TLS: TLSConfig{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile,
					RequireClientCert: true, HandshakeTimeout: tc.handshake}}, 16)
			addr := h.l.Addr().String()

			attacker := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
			for range maxConns {
				c, err := attacker.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
			}

			roots := x509.NewCertPool()
			roots.AddCert(ca.Cert)
			client := testkit.Issue(t, "client", testkit.ClientCert, ca)
			cfg := &tls.Config{RootCAs: roots, ServerName: "localhost", Certificates: []tls.Certificate{client.TLS()}}
			honest := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}, Timeout: waitLimit}
			// Eventually: a connection refused while slots were still held
			// fails its handshake, and the sender tries again.
			testkit.WaitFor(t, waitLimit, func() error {
				if err := sendTLS(honest, addr, cfg, "<13>Nov 25 07:13:19 gw app: honest"); err != nil {
					return fmt.Errorf("the certificate holder did not get in: %v; counters %+v", err, h.l.Counters())
				}
				return nil
			})
			if e := h.next(); e.Message != "gw app: honest" {
				t.Errorf("Message %q", e.Message)
			}
			h.waitFor("the attacker's connections", tc.settled)
			tc.stats(t, h)
		})
	}
}

// sendTLS sends one octet-counted message over a new TLS connection and
// waits for the listener to close it after the client closed its writing
// side, so that a refusal is seen.
func sendTLS(d *net.Dialer, addr string, cfg *tls.Config, msg string) error {
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := fmt.Fprintf(c, "%d %s", len(msg), msg); err != nil {
		return err
	}
	if err := c.CloseWrite(); err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(waitLimit))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		return fmt.Errorf("read after sending: %v", err)
	}
	return nil
}
