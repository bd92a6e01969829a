package syslog

import (
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
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type testCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

// issue makes a certificate signed by parent (self-signed when nil).
func issue(t *testing.T, name string, parent *testCert, isCA, client bool) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	switch {
	case isCA:
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	case client:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	default:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	}
	signer, signCert := key, tmpl
	if parent != nil {
		signer, signCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signCert, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCert{cert: c, key: key, der: der}
}

// write stores the certificate and key as PEM files in dir.
func (c *testCert) write(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	kd, err := x509.MarshalECPrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func (c *testCert) tls() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.der}, PrivateKey: c.key, Leaf: c.cert}
}

// writeSelfSigned writes a self-signed server certificate for 127.0.0.1.
func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	return issue(t, "self-signed", nil, false, false).write(t, dir, "self")
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	srv := issue(t, "server", nil, false, false)
	certFile, keyFile := srv.write(t, dir, "server")
	h := start(t, Config{Listen: "tls://127.0.0.1:0", TLS: TLSConfig{CertFile: certFile, KeyFile: keyFile}}, 16)

	roots := x509.NewCertPool()
	roots.AddCert(srv.cert)
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
	ca := issue(t, "ca", nil, true, false)
	srv := issue(t, "server", ca, false, false)
	certFile, keyFile := srv.write(t, dir, "server")
	caFile, _ := ca.write(t, dir, "ca")
	h := start(t, Config{Listen: "tls://127.0.0.1:0", TLS: TLSConfig{
		CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile, RequireClientCert: true}}, 16)
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
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
	stranger := issue(t, "stranger", issue(t, "other ca", nil, true, false), false, true)
	go func() { errNone <- try(stranger.tls()) }()
	h.waitFor("refused handshake", func(c Counters) bool { return c.TLSErrors == 2 })
	if err := <-errNone; err == nil {
		t.Error("client with a foreign certificate was not refused")
	}
	h.none()

	// With a certificate from the CA: accepted. The client closes its end
	// after writing; the listener then closes, and the read sees EOF.
	client := issue(t, "client", ca, false, true)
	done := make(chan error, 1)
	go func() { done <- try(client.tls()) }()
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
	first := issue(t, "first", nil, false, false)
	certFile, keyFile := first.write(t, dir, "server")
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
	second := issue(t, "second", nil, false, false)
	second.write(t, dir, "server")
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
