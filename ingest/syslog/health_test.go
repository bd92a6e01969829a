package syslog

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/internal/testkit"
)

// A listener waits until it is bound and a sender is heard from, then
// reads; the last entry's time follows the deliveries.
func TestHealth(t *testing.T) {
	l, err := New(Config{Listen: "udp://127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.State != ingest.StateWaiting || st.Reason != "not started" || !st.LastEntry.IsZero() {
		t.Errorf("before Run: %q (%s), last entry %v", st.State, st.Reason, st.LastEntry)
	}
	h := start(t, Config{Listen: "udp://127.0.0.1:0"}, 16)
	want := "listening on " + h.l.Addr().String()
	if st := h.l.Stats(); st.State != ingest.StateWaiting || st.Reason != want+"; no sender yet" || !st.LastEntry.IsZero() {
		t.Errorf("bound: %q (%s), last entry %v", st.State, st.Reason, st.LastEntry)
	}
	udpSend(t, "", h.l.Addr().String(), "<13>Nov 25 10:00:00 h app: hello")
	e := h.next()
	if st := h.l.Stats(); st.State != ingest.StateReading || st.Reason != want || !st.LastEntry.Equal(e.ReadAt) {
		t.Errorf("after a message: %q (%s), last entry %v, want %v", st.State, st.Reason, st.LastEntry, e.ReadAt)
	}
}

// countLines counts the log lines at level that match re.
func countLines(logs, level string, re *regexp.Regexp) int {
	n := 0
	for line := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(line, "level="+level+" ") && re.MatchString(line) {
			n++
		}
	}
	return n
}

// Senders outside allow are counted as rejected, not skipped, and logged
// by address, once a minute at most.
func TestRejectedSenders(t *testing.T) {
	allow := []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}
	for _, tc := range []struct {
		name, listen string
		send         func(h *harness)
		peer         string
	}{
		{"udp", "udp://127.0.0.1:0", func(h *harness) {
			udpSend(t, "127.0.0.3", h.l.Addr().String(), "<13>Nov 25 10:00:00 h app: forged")
		}, "127.0.0.3"},
		{"tcp", "tcp://127.0.0.1:0", func(h *harness) {
			send(t, h.l.Addr().String(), "<13>Nov 25 10:00:00 h app: forged\n") // from 127.0.0.1
		}, "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, Config{Listen: tc.listen, Allow: allow}, 16)
			tc.send(h)
			tc.send(h)
			h.waitFor("two rejections", func(c Counters) bool { return c.Denied == 2 })
			h.none()
			st := h.l.Stats()
			if st.Rejected != 2 || st.Skipped != 0 || st.Read != 0 {
				t.Errorf("stats %+v, want 2 rejected, none skipped", st)
			}
			if st.State != ingest.StateWaiting {
				t.Errorf("state %q after rejected senders only, want waiting", st.State)
			}
			re := regexp.MustCompile(`outside allow.* peer=` + regexp.QuoteMeta(tc.peer) + `\b`)
			if n := countLines(h.logs.String(), "WARN", re); n != 1 {
				t.Errorf("%d WARN lines naming the peer, want 1 (then rate-limited):\n%s", n, h.logs)
			}
		})
	}
}

// A TLS client that gives up the handshake (it does not trust the
// listener's certificate) is counted and logged with the reason.
func TestTLSHandshakeFailure(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeSelfSigned(t, dir)
	h := start(t, Config{Listen: "tls://127.0.0.1:0", TLS: TLSConfig{CertFile: certFile, KeyFile: keyFile}}, 16)
	for range 2 {
		c, err := tls.Dial("tcp", h.l.Addr().String(), &tls.Config{RootCAs: x509.NewCertPool(), ServerName: "127.0.0.1"})
		if err == nil {
			c.Close()
			t.Fatal("a client that trusts nothing completed the handshake")
		}
	}
	h.waitFor("handshake failures", func(c Counters) bool { return c.TLSErrors == 2 })
	if st := h.l.Stats(); st.HandshakeFailures != 2 || st.Errors != 2 {
		t.Errorf("stats %+v, want 2 handshake failures (also errors)", st)
	}
	re := regexp.MustCompile(`TLS handshake failed.* peer=127\.0\.0\.1 err="?[^ ].*(certificate|unknown authority)`)
	if n := countLines(h.logs.String(), "WARN", re); n != 1 {
		t.Errorf("%d WARN lines with peer and reason, want 1 (then rate-limited):\n%s", n, h.logs)
	}
}

// A socket that cannot be bound is an error, counted, and Run binds anew
// when it is called again: a unix socket whose directory appears later, as
// the daemon's supervisor retries, is then read.
func TestRunAgainAfterBindFailure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "later")
	path := filepath.Join(dir, "log.sock")
	l, err := New(Config{Listen: "unix://" + path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan ingest.Entry, 4)
	if err := l.Run(context.Background(), out); err == nil {
		t.Fatal("Run bound a socket in a directory that does not exist")
	}
	if st := l.Stats(); st.State != ingest.StateError || st.Errors != 1 {
		t.Errorf("after the failed bind: %q (%s), errors %d; want error, 1", st.State, st.Reason, st.Errors)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, out) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("second Run: %v", err)
		}
	}()
	select {
	case <-l.Ready():
	case err := <-done:
		t.Fatalf("second Run: %v", err)
	}
	c, err := net.Dial("unixgram", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("<13>Nov 25 10:00:00 h app: hello")); err != nil {
		t.Fatal(err)
	}
	if e := <-out; e.Message != "h app: hello" {
		t.Errorf("entry %q", e.Message)
	}
	// The entry is counted just after it is handed over, and whoever sees
	// the count sees the health: wait for the count.
	testkit.WaitFor(t, waitLimit, func() error {
		c := l.Counters()
		return testkit.Check(c.Delivered >= 1, "counters %+v, want one delivered", c)
	})
	if st := l.Stats(); st.State != ingest.StateReading {
		t.Errorf("after a record: %q (%s), want reading", st.State, st.Reason)
	}
}
