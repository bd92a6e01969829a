package nats

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/internal/testkit"
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
	ca := testkit.Issue(t, "test CA", testkit.CACert, nil)
	srv := testkit.Issue(t, "server", testkit.ServerCert, ca)
	caFile, _ := ca.Write(t, dir, "ca")
	certFile, keyFile := testkit.Issue(t, "client", testkit.ClientCert, ca).Write(t, dir, "client")
	return testPKI{
		caFile:   caFile,
		certFile: certFile,
		keyFile:  keyFile,
		server: &tls.Config{
			Certificates: []tls.Certificate{srv.TLS()},
			ClientCAs:    ca.Pool(),
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
	port := testkit.NATSPort(srv)
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
