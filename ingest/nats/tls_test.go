package nats

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"

	"github.com/logjail/logjail/ingest"
)

type testPKI struct {
	caFile, certFile, keyFile string // client side
	server                    *tls.Config
}

// newPKI makes a CA, a server certificate for 127.0.0.1 and a client
// certificate, and a server TLS config that requires client certificates.
func newPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, usage x509.ExtKeyUsage) tls.Certificate {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: fmt.Sprint("leaf ", serial)},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	writePEM := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	srvCert := leaf(2, x509.ExtKeyUsageServerAuth)
	cliCert := leaf(3, x509.ExtKeyUsageClientAuth)
	keyDER, _ := x509.MarshalECPrivateKey(cliCert.PrivateKey.(*ecdsa.PrivateKey))
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return testPKI{
		caFile:   writePEM("ca.pem", "CERTIFICATE", caDER),
		certFile: writePEM("client.pem", "CERTIFICATE", cliCert.Certificate[0]),
		keyFile:  writePEM("client.key", "EC PRIVATE KEY", keyDER),
		server: &tls.Config{
			Certificates: []tls.Certificate{srvCert},
			ClientCAs:    pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MinVersion:   tls.VersionTLS12,
		},
	}
}

func TestTLSWithClientCertificate(t *testing.T) {
	pki := newPKI(t)
	srv := startServer(t, 0, "", func(o *server.Options) {
		o.TLS = true
		o.TLSVerify = true
		o.TLSConfig = pki.server
		o.TLSTimeout = 5
	})
	port := serverPort(t, srv)
	for _, scheme := range []string{"tls", "nats"} {
		t.Run(scheme, func(t *testing.T) {
			url := fmt.Sprintf("%s://127.0.0.1:%d", scheme, port)
			s := newSource(t, Config{URL: url, Subject: "logs.sshd",
				TLS: TLSConfig{CAFile: pki.caFile, CertFile: pki.certFile, KeyFile: pki.keyFile}})
			ready := subscribed(s)
			out := make(chan ingest.Entry, 1)
			start(t, s, out)
			waitClosed(t, ready, "subscription over TLS")
			pubCert, err := tls.LoadX509KeyPair(pki.certFile, pki.keyFile)
			if err != nil {
				t.Fatal(err)
			}
			pub := publisher(t, fmt.Sprintf("tls://127.0.0.1:%d", port), secure(pki.server.ClientCAs, pubCert))
			publish(t, pub, "logs.sshd", "over tls")
			flush(t, pub)
			if e := receive(t, out, 1)[0]; e.Message != "over tls" {
				t.Fatalf("got %q", e.Message)
			}
		})
	}
}

func secure(roots *x509.CertPool, cert tls.Certificate) natsgo.Option {
	return natsgo.Secure(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
}
