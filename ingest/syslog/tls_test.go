package syslog

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/logjail/logjail/internal/testkit"
)

// writeSelfSigned writes a self-signed server certificate for 127.0.0.1.
func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	return testkit.Issue(t, "self-signed", testkit.ServerCert, nil).Write(t, dir, "self")
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	srv := testkit.Issue(t, "server", testkit.ServerCert, nil)
	certFile, keyFile := srv.Write(t, dir, "server")
	h := start(t, Config{Listen: "tls://127.0.0.1:0", TLS: TLSConfig{CertFile: certFile, KeyFile: keyFile}}, 16)

	roots := x509.NewCertPool()
	roots.AddCert(srv.Cert)
	c, err := tls.Dial("tcp", h.l.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []string{
		`<38>1 2026-11-25T07:13:18.5Z gw sshd 77 - - Failed password for root from 203.0.113.4 port 22 ssh2`,
		"<38>Nov 25 07:13:19 gw sshd[78]: Invalid user admin from 203.0.113.4 port 22",
	}
	for _, m := range msgs { // RFC 5425: octet counting
		fmt.Fprintf(c, "%d %s", len(m), m)
	}
	c.Close()
	e := h.next()
	if e.Message != "gw sshd[77]: Failed password for root from 203.0.113.4 port 22 ssh2" || e.Host != "gw" ||
		!e.Time.Equal(time.Date(2026, 11, 25, 7, 13, 18, 500e6, time.UTC)) || e.Peer != loopback {
		t.Errorf("entry %+v", e)
	}
	if e := h.next(); e.Message != "gw sshd[78]: Invalid user admin from 203.0.113.4 port 22" {
		t.Errorf("Message %q", e.Message)
	}

	// A plain-TCP client fails the handshake and is counted.
	send(t, h.l.Addr().String(), "<13>Nov 25 07:13:19 gw app: not tls\n")
	h.waitFor("handshake failure", func(c Counters) bool { return c.TLSErrors == 1 })
	h.none()
}

func TestTLSClientCertificates(t *testing.T) {
	dir := t.TempDir()
	ca := testkit.Issue(t, "ca", testkit.CACert, nil)
	srv := testkit.Issue(t, "server", testkit.ServerCert, ca)
	certFile, keyFile := srv.Write(t, dir, "server")
	caFile, _ := ca.Write(t, dir, "ca")
	h := start(t, Config{Listen: "tls://127.0.0.1:0", TLS: TLSConfig{
		CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile, RequireClientCert: true}}, 16)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	addr := h.l.Addr().String()

	try := func(certs ...tls.Certificate) error {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost", Certificates: certs})
		if err != nil {
			return err
		}
		defer c.Close()
		m := "<13>Nov 25 07:13:19 gw app: with " + fmt.Sprint(len(certs)) + " cert"
		if _, err := fmt.Fprintf(c, "%d %s", len(m), m); err != nil {
			return err
		}
		// With TLS 1.3 the client learns of a refusal on its first read.
		c.SetReadDeadline(time.Now().Add(waitLimit))
		_, err = c.Read(make([]byte, 1))
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}

	// Without a client certificate: refused.
	errNone := make(chan error, 1)
	go func() { errNone <- try() }()
	h.waitFor("refused handshake", func(c Counters) bool { return c.TLSErrors == 1 })
	if err := <-errNone; err == nil {
		t.Error("client without certificate was not refused")
	}
	// A certificate from another CA: refused too.
	stranger := testkit.Issue(t, "stranger", testkit.ClientCert, testkit.Issue(t, "other ca", testkit.CACert, nil))
	go func() { errNone <- try(stranger.TLS()) }()
	h.waitFor("refused handshake", func(c Counters) bool { return c.TLSErrors == 2 })
	if err := <-errNone; err == nil {
		t.Error("client with a foreign certificate was not refused")
	}
	h.none()

	// With a certificate from the CA: accepted. The client closes its end
	// after writing; the listener then closes, and the read sees EOF.
	client := testkit.Issue(t, "client", testkit.ClientCert, ca)
	done := make(chan error, 1)
	go func() { done <- try(client.TLS()) }()
	if e := h.next(); e.Message != "gw app: with 1 cert" {
		t.Errorf("Message %q", e.Message)
	}
	h.stop()
	if err := <-done; err != nil && !errors.Is(err, net.ErrClosed) {
		t.Logf("client with certificate: %v", err)
	}
}

func TestTLSCertificateReload(t *testing.T) {
	defer func(d time.Duration) { reloadCheck = d }(reloadCheck)
	reloadCheck = 0
	dir := t.TempDir()
	first := testkit.Issue(t, "first", testkit.ServerCert, nil)
	certFile, keyFile := first.Write(t, dir, "server")
	h := start(t, Config{Listen: "tls://127.0.0.1:0", TLS: TLSConfig{CertFile: certFile, KeyFile: keyFile}}, 16)
	served := func() string {
		t.Helper()
		c, err := tls.Dial("tcp", h.l.Addr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if cn := served(); cn != "first" {
		t.Fatalf("served %q", cn)
	}
	second := testkit.Issue(t, "second", testkit.ServerCert, nil)
	second.Write(t, dir, "server")
	future := time.Now().Add(time.Minute) // a different modification time for sure
	os.Chtimes(certFile, future, future)
	if cn := served(); cn != "second" {
		t.Errorf("after renewal served %q", cn)
	}
	// A broken file keeps the working certificate.
	os.WriteFile(certFile, []byte("garbage"), 0o600)
	os.Chtimes(certFile, future.Add(time.Minute), future.Add(time.Minute))
	if cn := served(); cn != "second" {
		t.Errorf("after a broken renewal served %q", cn)
	}
}
