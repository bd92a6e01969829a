package testkit

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine, as the real one does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fails runs fn with a recorder and returns what it failed with ("" when
// it returned).
func fails(t *testing.T, fn func(tb testing.TB)) string {
	rec := &fatalRecorder{TB: t}
	var wg sync.WaitGroup
	wg.Go(func() { fn(rec) })
	wg.Wait()
	return rec.msg
}

func TestWaitFor(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cond    func(calls int) error
		wantMsg string // "" when WaitFor returns
	}{
		{"at once", func(int) error { return nil }, ""},
		{"after a few calls", func(n int) error { return Check(n >= 3, "call %d", n) }, ""},
		{"never: the last error", func(n int) error { return fmt.Errorf("state %d", n) }, "after 50ms: state "},
		{"a lazy error's message", func(int) error { return Lazy(func() string { return "costly" }) }, "after 50ms: costly"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			msg := fails(t, func(tb testing.TB) {
				WaitFor(tb, 50*time.Millisecond, func() error { calls++; return tc.cond(calls) })
			})
			if tc.wantMsg == "" && msg != "" || !strings.HasPrefix(msg, tc.wantMsg) {
				t.Fatalf("failed with %q, want %q", msg, tc.wantMsg)
			}
			if tc.wantMsg == "after 50ms: state " && msg != fmt.Sprintf("after 50ms: state %d", calls) {
				t.Errorf("failed with %q: not the last of %d calls", msg, calls)
			}
		})
	}
}

func TestEventuallyNamesWhatItAwaited(t *testing.T) {
	msg := fails(t, func(tb testing.TB) { Eventually(tb, 10*time.Millisecond, "the ban", func() bool { return false }) })
	if msg != "after 10ms: still waiting for the ban" {
		t.Errorf("failed with %q", msg)
	}
}

func TestPositions(t *testing.T) {
	var p Positions
	if v, err := p.Position("a"); v != nil || err != nil {
		t.Fatalf("empty: %q, %v", v, err)
	}
	val := []byte("offset 1")
	p.Commit("a", val)
	got, _ := p.Position("a")
	got[0] = 'X' // a caller's change does not reach the store
	if again, _ := p.Position("a"); string(again) != "offset 1" {
		t.Errorf("position %q, want %q", again, "offset 1")
	}
	p.Err = errors.New("unreadable")
	if _, err := p.Position("a"); err != p.Err {
		t.Errorf("error %v, want %v", err, p.Err)
	}
}

// A client certificate issued by a CA is accepted by a server that
// requires one from it, over a real TLS handshake.
func TestCertificates(t *testing.T) {
	ca := Issue(t, "ca", CACert, nil)
	srv, cli := Issue(t, "server", ServerCert, ca), Issue(t, "client", ClientCert, ca)
	for _, c := range []struct {
		cert  *Cert
		usage x509.ExtKeyUsage
	}{{srv, x509.ExtKeyUsageServerAuth}, {cli, x509.ExtKeyUsageClientAuth}} {
		if _, err := c.cert.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{c.usage}}); err != nil {
			t.Errorf("%s: %v", c.cert.Cert.Subject.CommonName, err)
		}
	}
	if _, err := tls.X509KeyPair(srv.PEM(), nil); err == nil {
		t.Error("a key pair without the key was accepted")
	}
	certFile, keyFile := srv.Write(t, t.TempDir(), "server")
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		t.Errorf("written files: %v", err)
	}
}

func TestAuthLogIsTheSameEachTime(t *testing.T) {
	a, b := AuthLog(1000), AuthLog(1000)
	if !slices.Equal(a, b) {
		t.Fatal("two calls gave different logs")
	}
	failed := 0
	for _, l := range a {
		if strings.Contains(l, "sshd[") && strings.Contains(l, "Failed password") {
			failed++
		}
	}
	if failed < 50 || failed > 150 {
		t.Errorf("%d failed passwords in 1000 lines, want about 100", failed)
	}
}

// TestMissingSkipsOutsideCI checks the developer's side of Missing: a
// skip, never a silent pass. (Under CI=true it fails the test instead,
// which a passing test cannot show.)
func TestMissingSkipsOutsideCI(t *testing.T) {
	t.Setenv("CI", "")
	var skipped bool
	t.Run("missing", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		NeedProgram(t, "no-such-program-logjail", "nothing")
		t.Error("NeedProgram returned for a missing program")
	})
	if !skipped {
		t.Error("a missing program did not skip the test")
	}
}
