package syslog

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/logjail/logjail/ingest/keyerr"
)

// tlsConfig builds the server side of a tls:// listener: its certificate,
// served by a keyPair that picks up renewals, and the client CAs.
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
