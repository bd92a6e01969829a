package syslog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/ingest/keyerr"
	"github.com/logjail/logjail/internal/testkit"
)

const waitLimit = 10 * time.Second

type harness struct {
	t    *testing.T
	l    *Listener
	out  chan ingest.Entry
	logs *testkit.LogBuffer
	stop func() // cancels Run and checks that it returned nil promptly
	recv uint64 // entries received
}

// start runs a listener for cfg with an out channel of capacity buffer.
func start(t *testing.T, cfg Config, buffer int) *harness {
	t.Helper()
	logs := &testkit.LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l, err := New(cfg, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h := &harness{t: t, l: l, out: make(chan ingest.Entry, buffer), logs: logs}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, h.out) }()
	select {
	case <-l.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v", err)
	case <-time.After(waitLimit):
		cancel()
		t.Fatal("listener not ready")
	}
	if st := l.Stats(); st.State != ingest.StateWaiting || !strings.HasPrefix(st.Reason, "listening on ") {
		t.Errorf("State %q (%s), want waiting, listening on", st.State, st.Reason)
	}
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v after cancel", err)
				}
			case <-time.After(waitLimit):
				t.Error("Run did not return after cancel")
			}
			if t.Failed() {
				t.Logf("listener log:\n%s", logs.String())
			}
		})
	}
	t.Cleanup(h.stop)
	return h
}

// port is the bound port of a network listener.
func (h *harness) port() string {
	_, port, err := net.SplitHostPort(h.l.Addr().String())
	if err != nil {
		h.t.Fatal(err)
	}
	return port
}

// next waits for the next entry. The delivery is counted just after the
// send; next waits for that, so that counters checked afterwards are
// settled.
func (h *harness) next() ingest.Entry {
	h.t.Helper()
	select {
	case e := <-h.out:
		h.recv++
		h.waitFor("delivery count", func(c Counters) bool { return c.Delivered >= h.recv })
		return e
	case <-time.After(waitLimit):
		h.t.Fatalf("no entry within %v; counters %+v", waitLimit, h.l.Counters())
		return ingest.Entry{}
	}
}

// none checks that no entry is queued.
func (h *harness) none() {
	h.t.Helper()
	select {
	case e := <-h.out:
		h.t.Fatalf("unexpected entry %+v", e)
	default:
	}
}

// waitFor polls cond until it holds.
func (h *harness) waitFor(what string, cond func(Counters) bool) {
	h.t.Helper()
	testkit.WaitFor(h.t, waitLimit, func() error {
		c := h.l.Counters()
		return testkit.Check(cond(c), "waiting for %s; counters %+v", what, c)
	})
}

// needLogger returns the path of util-linux logger; without it the test is
// skipped, or fails under CI=true.
func needLogger(t *testing.T) string {
	t.Helper()
	return testkit.NeedProgram(t, "logger", "util-linux")
}

// logger runs util-linux logger with args, feeding it stdin.
func logger(t *testing.T, stdin string, args ...string) {
	t.Helper()
	cmd := exec.Command(needLogger(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("logger %q: %v\n%s", args, err, out)
	}
}

// hostname is this host's name, as the listener uses it for local
// messages without one.
func hostname(t *testing.T) string {
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// loggerHost checks that got is the host name logger puts into its
// messages (the full name, or its first label for RFC 3164) and returns it.
func loggerHost(t *testing.T, got string) string {
	t.Helper()
	h := hostname(t)
	if got != h && got != strings.SplitN(h, ".", 2)[0] {
		t.Errorf("Host %q, want %q", got, h)
	}
	return got
}

var loopback = netip.MustParseAddr("127.0.0.1")

// checkRecent checks that a timestamp is the receipt time give or take the
// precision of the format.
func checkRecent(t *testing.T, e ingest.Entry, precision time.Duration) {
	t.Helper()
	if d := e.Time.Sub(e.ReadAt).Abs(); d > precision+time.Second {
		t.Errorf("Time %v is %v from ReadAt %v", e.Time, d, e.ReadAt)
	}
	if d := time.Since(e.ReadAt); d < 0 || d > waitLimit {
		t.Errorf("ReadAt %v is not recent", e.ReadAt)
	}
}

func TestLoggerUDPRFC3164(t *testing.T) {
	needLogger(t)
	h := start(t, Config{Listen: "udp://127.0.0.1:0"}, 16)
	logger(t, "", "--udp", "-n", "127.0.0.1", "-P", h.port(), "--rfc3164", "-t", "sshd", "--id=4242",
		"-p", "authpriv.warning", "Failed password for root from 198.51.100.7 port 2222 ssh2")
	e := h.next()
	host := loggerHost(t, e.Host)
	want := host + " sshd[4242]: Failed password for root from 198.51.100.7 port 2222 ssh2"
	if e.Message != want || e.Host != host {
		t.Errorf("Message %q Host %q\nwant %q", e.Message, e.Host, want)
	}
	if e.Peer != loopback {
		t.Errorf("Peer %v", e.Peer)
	}
	checkRecent(t, e, time.Second)
	if e.Time.Location() != time.Local {
		t.Errorf("RFC 3164 time in %v, want the local zone", e.Time.Location())
	}
	for k, v := range map[string]string{"facility": "authpriv", "severity": "warning", "appname": "sshd", "procid": "4242", "format": "rfc3164"} {
		if e.Fields[k] != v {
			t.Errorf("Fields[%s] = %q, want %q", k, e.Fields[k], v)
		}
	}
	// The shipped sshd filter's prefix must match.
	pref := regexp.MustCompile(`^(?:\S+ )?sshd(?:-session|-auth)?(?:\[\d+\])?: (?:error: |fatal: )?(.+)$`)
	if m := pref.FindStringSubmatch(e.Message); m == nil || !strings.HasPrefix(m[1], "Failed password") {
		t.Errorf("sshd prefregex does not match %q", e.Message)
	}
	if st := h.l.Stats(); st.Read != 1 || st.Errors != 0 || st.Skipped != 0 || st.Dropped != 0 {
		t.Errorf("Stats %+v", st)
	}
}

func TestLoggerUDPRFC5424(t *testing.T) {
	needLogger(t)
	h := start(t, Config{Listen: "udp://127.0.0.1:0"}, 16)
	logger(t, "", "--udp", "-n", "127.0.0.1", "-P", h.port(), "--rfc5424", "-t", "app", "--id=42",
		"--msgid", "ID47", "--sd-id", "x@32473", "--sd-param", `a="b"`, "-p", "auth.notice", "structured hello")
	e := h.next()
	host := loggerHost(t, e.Host)
	if want := host + " app[42]: structured hello"; e.Message != want || e.Host != host {
		t.Errorf("Message %q Host %q, want %q", e.Message, e.Host, want)
	}
	checkRecent(t, e, time.Millisecond)
	if e.Time.Nanosecond()%1000 != 0 || e.Time.Nanosecond() == 0 && e.Time.Equal(e.Time.Truncate(time.Second)) {
		// logger sends microseconds; a zero fraction is possible but rare.
		t.Logf("time %v", e.Time)
	}
	for k, v := range map[string]string{"facility": "auth", "severity": "notice", "msgid": "ID47", "sd.x@32473.a": "b", "format": "rfc5424"} {
		if e.Fields[k] != v {
			t.Errorf("Fields[%s] = %q, want %q (all %v)", k, e.Fields[k], v, e.Fields)
		}
	}

	// Without a timestamp the receipt time stands in.
	logger(t, "", "--udp", "-n", "127.0.0.1", "-P", h.port(), "--rfc5424=notime,notq", "-t", "sshd", "no time")
	e = h.next()
	if e.Message != host+" sshd: no time" || !e.Time.Equal(e.ReadAt) {
		t.Errorf("Message %q Time %v ReadAt %v", e.Message, e.Time, e.ReadAt)
	}
}

func TestLoggerTCPNewline(t *testing.T) {
	needLogger(t)
	h := start(t, Config{Listen: "tcp://127.0.0.1:0"}, 16)
	// With stdin, logger sends one message per line over one connection.
	logger(t, "first line\nsecond line\nthird line\n", "--tcp", "-n", "127.0.0.1", "-P", h.port(), "--rfc3164", "-t", "sshd", "--id=7")
	for _, m := range []string{"first line", "second line", "third line"} {
		e := h.next()
		host := loggerHost(t, e.Host)
		if want := host + " sshd[7]: " + m; e.Message != want {
			t.Errorf("Message %q, want %q", e.Message, want)
		}
		if e.Peer != loopback {
			t.Errorf("Peer %v", e.Peer)
		}
		checkRecent(t, e, time.Second)
	}
	h.waitFor("connection to end", func(c Counters) bool { return c.Accepted == 1 && c.Open == 0 })
	if st := h.l.Stats(); st.Read != 3 || st.Errors != 0 {
		t.Errorf("Stats %+v", st)
	}
}

func TestLoggerTCPOctetCounting(t *testing.T) {
	needLogger(t)
	h := start(t, Config{Listen: "tcp://127.0.0.1:0"}, 16)
	logger(t, "one\ntwo\n", "--tcp", "--octet-count", "-n", "127.0.0.1", "-P", h.port(), "--rfc5424", "-t", "sshd", "--id=9")
	for _, m := range []string{"one", "two"} {
		e := h.next()
		host := loggerHost(t, e.Host)
		if want := host + " sshd[9]: " + m; e.Message != want {
			t.Errorf("Message %q, want %q", e.Message, want)
		}
		checkRecent(t, e, time.Millisecond)
	}
	if st := h.l.Stats(); st.Errors != 0 {
		t.Errorf("Stats %+v", st)
	}
}

func TestLoggerUnix(t *testing.T) {
	needLogger(t)
	sock := filepath.Join(t.TempDir(), "log.sock")
	h := start(t, Config{Listen: "unix://" + sock}, 16)
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v, want 0660", fi.Mode().Perm())
	}
	host := hostname(t)
	// logger's local format has no host name: the local one stands in.
	logger(t, "", "-u", sock, "-t", "sshd", "--id=11", "local default")
	logger(t, "", "-u", sock, "--rfc5424", "-t", "sshd", "--id=12", "local 5424")
	for i, want := range []string{" sshd[11]: local default", " sshd[12]: local 5424"} {
		e := h.next()
		if i == 0 && e.Host != host {
			t.Errorf("Host %q, want the local name %q", e.Host, host)
		}
		if i == 1 { // RFC 5424 carries logger's name for the host
			loggerHost(t, e.Host)
		}
		if want = e.Host + want; e.Message != want || e.Peer.IsValid() {
			t.Errorf("Message %q Peer %v, want %q", e.Message, e.Peer, want)
		}
		checkRecent(t, e, time.Second)
	}
	h.stop()
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file left behind: %v", err)
	}
}

func TestUnixStaleAndLiveSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "log.sock")
	// A stale socket (its process gone) is replaced.
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	c.Close() // Go does not unlink datagram sockets: the file stays
	if _, err := os.Lstat(sock); err != nil {
		t.Fatal(err)
	}
	h := start(t, Config{Listen: "unix://" + sock, SocketMode: 0o666}, 4)
	if fi, _ := os.Stat(sock); fi.Mode().Perm() != 0o666 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	// A live one is not taken over.
	l2, err := New(Config{Listen: "unix://" + sock}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l2.Run(context.Background(), make(chan ingest.Entry)); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second listener on a live socket: %v", err)
	}
	// Nor is a file that is not a socket.
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, nil, 0o600)
	l3, _ := New(Config{Listen: "unix://" + plain}, nil)
	if err := l3.Run(context.Background(), make(chan ingest.Entry)); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("listener on a plain file: %v", err)
	}
	h.stop()
}

// send writes raw bytes over a new TCP connection and closes it.
func send(t *testing.T, addr string, data ...string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, d := range data {
		if _, err := io.WriteString(c, d); err != nil {
			t.Fatal(err)
		}
	}
}

func udpSend(t *testing.T, from, to string, data ...string) {
	t.Helper()
	var laddr *net.UDPAddr
	if from != "" {
		laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(from), 0))
	}
	raddr, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", laddr, raddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, d := range data {
		if _, err := c.Write([]byte(d)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMalformed(t *testing.T) {
	const valid = "<13>Nov 25 10:00:00 h app: valid"
	t.Run("tcp newline", func(t *testing.T) {
		h := start(t, Config{Listen: "tcp://127.0.0.1:0"}, 16)
		send(t, h.l.Addr().String(), "garbage\n", "\x01\x02\xff\xfe binary\x00", "<13>1 2026-99-25T08:33:28Z h app - - - bad\n", valid+"\n")
		for _, want := range []string{"127.0.0.1 garbage", "127.0.0.1 \x01\x02\uFFFD binary",
			"127.0.0.1 1 2026-99-25T08:33:28Z h app - - - bad", "h app: valid"} {
			if e := h.next(); e.Message != want {
				t.Errorf("Message %q, want %q", e.Message, want)
			}
		}
		if c := h.l.Counters(); c.ParseErrors != 3 || c.Delivered != 4 {
			t.Errorf("counters %+v", c)
		}
	})
	t.Run("tcp octet counting", func(t *testing.T) {
		h := start(t, Config{Listen: "tcp://127.0.0.1:0"}, 16)
		v := fmt.Sprintf("%d %s", len(valid), valid)
		send(t, h.l.Addr().String(),
			v,
			"5 <13>hello world\n", // count too small: the rest is resynchronised at the newline
			v,
			"12a <13>x\n", // not a number
			v,
			"0 zero\n", // counts start with 1-9
			v,
			"99999999999 x\n", // too many digits
			v,
			"50 <13>short", // count too large: swallows what follows, then the stream ends
		)
		want := []string{"h app: valid", "127.0.0.1 h", "127.0.0.1 ello world", "h app: valid",
			"127.0.0.1 12a <13>x", "h app: valid", "127.0.0.1 0 zero", "h app: valid",
			"127.0.0.1 99999999999 x", "h app: valid"}
		for _, w := range want {
			if e := h.next(); e.Message != w {
				t.Errorf("Message %q, want %q", e.Message, w)
			}
		}
		h.waitFor("connection end", func(c Counters) bool { return c.Open == 0 && c.Accepted == 1 })
		// 4 bad headers and the truncated last frame; "<13>h" is a parse error.
		if c := h.l.Counters(); c.FramingErrors != 5 || c.ParseErrors != 1 {
			t.Errorf("counters %+v", c)
		}
		h.none()
		// The listener is fine.
		send(t, h.l.Addr().String(), v)
		if e := h.next(); e.Message != "h app: valid" {
			t.Errorf("Message %q", e.Message)
		}
	})
	t.Run("tcp newline without PRI", func(t *testing.T) {
		// The first byte is a digit, but this is no octet count.
		h := start(t, Config{Listen: "tcp://127.0.0.1:0"}, 16)
		send(t, h.l.Addr().String(), "2026-11-25T10:00:00Z h app: one\n", "2026-11-25T10:00:01Z h app: two\n")
		for i, want := range []string{"h app: one", "h app: two"} {
			e := h.next()
			if e.Message != want || !e.Time.Equal(time.Date(2026, 11, 25, 10, 0, i, 0, time.UTC)) {
				t.Errorf("entry %+v, want %q", e, want)
			}
		}
		if st := h.l.Stats(); st.Errors != 0 {
			t.Errorf("Stats %+v", st)
		}
	})
	t.Run("udp", func(t *testing.T) {
		h := start(t, Config{Listen: "udp://127.0.0.1:0"}, 16)
		udpSend(t, "", h.l.Addr().String(), "\x00\xff\x80", "", "\x00\n", "<>", valid+"\n")
		for _, want := range []string{"127.0.0.1 \uFFFD", "127.0.0.1 <>", "h app: valid"} {
			if e := h.next(); e.Message != want {
				t.Errorf("Message %q, want %q", e.Message, want)
			}
		}
		if c := h.l.Counters(); c.ParseErrors != 2 || c.Empty != 2 {
			t.Errorf("counters %+v", c)
		}
	})
}

func TestOversize(t *testing.T) {
	const max = 1024
	valid := "<13>Nov 25 10:00:00 h app: valid"
	octet := fmt.Sprintf("%d %s", len(valid), valid)
	big := "<13>Nov 25 10:00:00 h app: " + strings.Repeat("x", 4000)

	t.Run("udp", func(t *testing.T) {
		h := start(t, Config{Listen: "udp://127.0.0.1:0", MaxMessage: max}, 16)
		exact := valid + strings.Repeat(" ", max-len(valid)) // exactly max: accepted
		udpSend(t, "", h.l.Addr().String(), big, exact+"x", exact)
		// The padding is trailing whitespace, which the layout drops.
		if e := h.next(); e.Message != "h app: valid" {
			t.Errorf("Message %q", e.Message)
		}
		h.waitFor("two oversize", func(c Counters) bool { return c.Oversize == 2 })
		if st := h.l.Stats(); st.Skipped != 2 || st.Read != 1 {
			t.Errorf("Stats %+v", st)
		}
	})
	t.Run("tcp newline", func(t *testing.T) {
		h := start(t, Config{Listen: "tcp://127.0.0.1:0", MaxMessage: max}, 16)
		send(t, h.l.Addr().String(), big+"\n", valid+"\n", strings.Repeat("y", 100000)+"\n", valid+"\n")
		for range 2 {
			if e := h.next(); e.Message != "h app: valid" {
				t.Errorf("Message %q", e.Message)
			}
		}
		if c := h.l.Counters(); c.Oversize != 2 {
			t.Errorf("counters %+v", c)
		}
	})
	t.Run("tcp octet", func(t *testing.T) {
		h := start(t, Config{Listen: "tcp://127.0.0.1:0", MaxMessage: max}, 16)
		// An oversized frame is skipped exactly: the next frame on the
		// same connection arrives.
		send(t, h.l.Addr().String(), octet, fmt.Sprintf("%d %s", len(big), big), octet)
		for range 2 {
			if e := h.next(); e.Message != "h app: valid" {
				t.Errorf("Message %q", e.Message)
			}
		}
		if c := h.l.Counters(); c.Oversize != 1 || c.FramingErrors != 0 {
			t.Errorf("counters %+v", c)
		}
	})
	t.Run("tcp octet claiming 1 GB", func(t *testing.T) {
		h := start(t, Config{Listen: "tcp://127.0.0.1:0", MaxMessage: max}, 16)
		addr := h.l.Addr().String()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "%d ", 1<<30)
		chunk := bytes.Repeat([]byte("z"), 1<<20)
		for range 8 {
			if _, err := c.Write(chunk); err != nil {
				t.Fatal(err)
			}
		}
		// Another sender is served while that frame is being discarded.
		send(t, addr, octet)
		if e := h.next(); e.Message != "h app: valid" {
			t.Errorf("Message %q", e.Message)
		}
		c.Close()
		h.waitFor("the huge frame to be counted", func(c Counters) bool { return c.Oversize == 1 && c.Open == 0 })
		if c := h.l.Counters(); c.FramingErrors != 1 { // cut short by the sender
			t.Errorf("counters %+v", c)
		}
		h.none()
	})
}

func TestAllow(t *testing.T) {
	allow := []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32"), netip.MustParsePrefix("::ffff:127.0.0.4/128")}
	t.Run("udp", func(t *testing.T) {
		h := start(t, Config{Listen: "udp://127.0.0.1:0", Allow: allow}, 16)
		if d := h.l.Describe(); d != "syslog udp://127.0.0.1:0 (allow 127.0.0.2/32, 127.0.0.4/32)" {
			t.Errorf("Describe %q", d)
		}
		forged := "<38>Nov 25 10:00:00 h sshd[1]: Failed password for root from 203.0.113.9 port 22 ssh2"
		denied := uint64(1)
		if _, err := exec.LookPath("logger"); err == nil || os.Getenv("CI") == "true" {
			logger(t, "", "--udp", "-n", "127.0.0.1", "-P", h.port(), "--rfc3164", "-t", "sshd", "forged from 127.0.0.1")
			denied++
		}
		udpSend(t, "127.0.0.3", h.l.Addr().String(), forged)
		udpSend(t, "127.0.0.2", h.l.Addr().String(), "<13>Nov 25 10:00:00 h app: from .2")
		udpSend(t, "127.0.0.4", h.l.Addr().String(), "<13>Nov 25 10:00:00 h app: from .4")
		for _, want := range []string{"h app: from .2", "h app: from .4"} {
			e := h.next()
			if e.Message != want {
				t.Errorf("Message %q, want %q", e.Message, want)
			}
		}
		h.waitFor("denials", func(c Counters) bool { return c.Denied == denied })
		h.none()
		if st := h.l.Stats(); st.Rejected != denied || st.Skipped != 0 || st.Read != 2 {
			t.Errorf("Stats %+v", st)
		}
	})
	t.Run("ipv6", func(t *testing.T) {
		l, err := net.ListenPacket("udp", "[::1]:0")
		if err != nil {
			testkit.Missing(t, "no IPv6 loopback: %v", err)
		}
		l.Close()
		h := start(t, Config{Listen: "udp://[::1]:0", Allow: []netip.Prefix{netip.MustParsePrefix("::1/128")}}, 16)
		udpSend(t, "", h.l.Addr().String(), "<13>Nov 25 10:00:00 h app: v6")
		if e := h.next(); e.Message != "h app: v6" || e.Peer != netip.IPv6Loopback() {
			t.Errorf("entry %+v", e)
		}
	})
	t.Run("tcp", func(t *testing.T) {
		h := start(t, Config{Listen: "tcp://127.0.0.1:0", Allow: allow}, 16)
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}}
		c, err := d.Dial("tcp", h.l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Closed at accept: the read ends without the idle timeout.
		c.SetReadDeadline(time.Now().Add(waitLimit))
		io.WriteString(c, "<13>Nov 25 10:00:00 h app: denied\n")
		if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("denied connection read: %v", err)
		}
		h.waitFor("denial", func(c Counters) bool { return c.Denied == 1 && c.Accepted == 0 })
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}
		c2, err := d.Dial("tcp", h.l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c2, "<13>Nov 25 10:00:00 h app: allowed\n")
		c2.Close()
		if e := h.next(); e.Message != "h app: allowed" || e.Peer != netip.MustParseAddr("127.0.0.2") {
			t.Errorf("entry %+v", e)
		}
		h.none()
		if st := h.l.Stats(); st.Rejected != 1 || st.Skipped != 0 {
			t.Errorf("Stats %+v", st)
		}
	})
}

func TestMaxConnsAndIdle(t *testing.T) {
	const idle = 400 * time.Millisecond
	h := start(t, Config{Listen: "tcp://127.0.0.1:0", MaxConns: 2, IdleTimeout: idle}, 16)
	addr := h.l.Addr().String()

	// A: connects, starts a message and stalls.
	a, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	aStart := time.Now()
	io.WriteString(a, "<13>Nov 25 10:00:00 h app: never fin")
	// B: an active sender.
	b, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	io.WriteString(b, "<13>Nov 25 10:00:00 h app: b0\n")
	if e := h.next(); e.Message != "h app: b0" {
		t.Fatalf("Message %q", e.Message)
	}
	h.waitFor("two connections", func(c Counters) bool { return c.Open == 2 })

	// C: one too many, closed at once.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("excess connection read: %v", err)
	}
	h.waitFor("refusal", func(c Counters) bool { return c.Refused == 1 })

	// B keeps sending for longer than the idle timeout and is served
	// throughout, while A stalls.
	for i := 1; i <= 8; i++ {
		fmt.Fprintf(b, "<13>Nov 25 10:00:00 h app: b%d\n", i)
		if e := h.next(); e.Message != fmt.Sprintf("h app: b%d", i) {
			t.Fatalf("Message %q", e.Message)
		}
		time.Sleep(idle / 4) // pacing the sender, not waiting for a result
	}

	// A is closed after the idle timeout; its partial message is not delivered.
	a.SetReadDeadline(time.Now().Add(waitLimit))
	if _, err := a.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("idle connection read: %v", err)
	}
	if d := time.Since(aStart); d < idle {
		t.Errorf("idle connection closed after %v, before the idle timeout %v", d, idle)
	}
	h.waitFor("idle close", func(c Counters) bool { return c.IdleClosed == 1 && c.Open == 1 })

	// A's slot is free again.
	send(t, addr, "<13>Nov 25 10:00:00 h app: d\n")
	if e := h.next(); e.Message != "h app: d" {
		t.Errorf("Message %q", e.Message)
	}
	if st := h.l.Stats(); st.Rejected != 1 || st.Errors != 0 { // the refusal is a budget's, not an error
		t.Errorf("Stats %+v", st)
	}
	h.none()
}

func TestUDPDropsWhenQueueFull(t *testing.T) {
	h := start(t, Config{Listen: "udp://127.0.0.1:0"}, 0) // unbuffered, nobody reads
	const n = 100
	msgs := make([]string, n)
	for i := range msgs {
		msgs[i] = fmt.Sprintf("<13>Nov 25 10:00:00 h app: %d", i)
	}
	udpSend(t, "", h.l.Addr().String(), msgs...)
	h.waitFor("drops", func(c Counters) bool { return c.Dropped == n })
	if st := h.l.Stats(); st.Dropped != n || st.Read != 0 {
		t.Errorf("Stats %+v", st)
	}
}

// TestTCPBackpressureAndShutdown checks that a stream sender waits for a
// busy consumer rather than being dropped, and that Run returns promptly
// when cancelled with connections open and blocked.
func TestTCPBackpressureAndShutdown(t *testing.T) {
	h := start(t, Config{Listen: "tcp://127.0.0.1:0"}, 0)
	c, err := net.Dial("tcp", h.l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 3 {
		fmt.Fprintf(c, "<13>Nov 25 10:00:00 h app: %d\n", i)
	}
	for i := range 3 {
		if e := h.next(); e.Message != fmt.Sprintf("h app: %d", i) {
			t.Errorf("Message %q", e.Message)
		}
	}
	fmt.Fprintf(c, "<13>Nov 25 10:00:00 h app: blocked\n")
	h.waitFor("connection", func(c Counters) bool { return c.Open == 1 })
	start := time.Now()
	h.stop()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	if st := h.l.Stats(); st.Dropped != 0 || st.Read != 3 || st.State != ingest.StateWaiting || st.Reason != "stopped" {
		t.Errorf("Stats %+v", st)
	}
	// The connection was closed.
	c.SetReadDeadline(time.Now().Add(waitLimit))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("connection after shutdown: %v", err)
	}
}

func TestBindError(t *testing.T) {
	for _, scheme := range []string{"udp", "tcp"} {
		h := start(t, Config{Listen: scheme + "://127.0.0.1:0"}, 1)
		l, err := New(Config{Listen: scheme + "://" + h.l.Addr().String()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if l.Addr() != nil {
			t.Errorf("Addr before Run: %v", l.Addr())
		}
		err = l.Run(context.Background(), make(chan ingest.Entry))
		if err == nil || !strings.Contains(err.Error(), "address already in use") {
			t.Errorf("%s: second bind: %v", scheme, err)
		}
		if st := l.Stats(); st.State != ingest.StateError || !strings.Contains(st.Reason, "address already in use") {
			t.Errorf("State %q (%s)", st.State, st.Reason)
		}
		if err := l.Run(context.Background(), nil); err == nil {
			t.Error("second Run accepted")
		}
	}
}

// TestNewReportsEveryKey: New reports every bad setting, not only the
// first, each carrying the key it is about, so that the configuration
// loader can point at that key's line.
func TestNewReportsEveryKey(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeSelfSigned(t, dir)
	cases := []struct {
		cfg  Config
		keys []string
	}{
		{Config{Listen: "tcp://:514", MaxConns: -1, MaxMessage: -1, SocketMode: 0o660}, []string{"max_message", "max_connections", "socket_mode"}},
		{Config{MaxConnsPerPeer: -1, IdleTimeout: -time.Second}, []string{"listen", "max_connections_per_peer", "idle_timeout"}},
		{Config{Listen: "tls://:6514", TLS: TLSConfig{CertFile: cert}, Allow: []netip.Prefix{{}}}, []string{"allow", "tls.key"}},
		{Config{Listen: "tls://:6514", TLS: TLSConfig{CertFile: cert, KeyFile: key, HandshakeTimeout: -time.Second}}, []string{"tls.handshake_timeout"}},
		{Config{Listen: "udp://:514", TLS: TLSConfig{CertFile: cert}, MaxConns: 2, MaxConnsPerPeer: 3}, []string{"max_connections_per_peer", "tls"}},
	}
	for _, c := range cases {
		_, err := New(c.cfg, nil)
		if err == nil {
			t.Errorf("New(%+v) succeeded", c.cfg)
			continue
		}
		var keys []string
		for _, e := range keyerr.Each(err) {
			k, ok := keyerr.Key(e)
			if !ok {
				t.Errorf("New(%+v): %q names no key", c.cfg, e)
			}
			keys = append(keys, k)
		}
		if !slices.Equal(keys, c.keys) {
			t.Errorf("New(%+v): keys %q (%v), want %q", c.cfg, keys, err, c.keys)
		}
	}
}

func TestNewValidation(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeSelfSigned(t, dir)
	unreadable := filepath.Join(dir, "missing.pem")
	checkRejected(t, cert, key, unreadable)
	checkAccepted(t, cert, key)
	checkDescribe(t)
}

// checkRejected: New names the field of each bad configuration.
func checkRejected(t *testing.T, cert, key, unreadable string) {
	t.Helper()
	cases := []struct {
		cfg   Config
		field string
	}{
		{Config{}, "listen: required"},
		{Config{Listen: "127.0.0.1:514"}, "listen"},
		{Config{Listen: "http://127.0.0.1:514"}, "unknown scheme"},
		{Config{Listen: "udp://127.0.0.1"}, "missing port"},
		{Config{Listen: "udp://127.0.0.1:70000"}, "port"},
		{Config{Listen: "udp://127.0.0.1:x"}, "port"},
		{Config{Listen: "udp://bad host:514"}, "listen"},
		{Config{Listen: "udp://ho$t:514"}, "host"},
		{Config{Listen: "tcp://127.0.0.1:514/path"}, "listen"},
		{Config{Listen: "udp://127.0.0.1:514?x=1"}, "listen"},
		{Config{Listen: "unix://relative/path"}, "listen"},
		{Config{Listen: "unix:///" + strings.Repeat("x", 200)}, "listen"},
		{Config{Listen: "udp://:514", Allow: []netip.Prefix{{}}}, "allow"},
		{Config{Listen: "unix:///run/x.sock", Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, "allow"},
		{Config{Listen: "udp://:514", MaxMessage: -1}, "max_message"},
		{Config{Listen: "udp://:514", MaxMessage: 1 << 30}, "max_message"},
		{Config{Listen: "tcp://:514", MaxConns: -1}, "max_connections"},
		{Config{Listen: "tcp://:514", IdleTimeout: -time.Second}, "idle_timeout"},
		{Config{Listen: "tcp://:514", MaxConnsPerPeer: -1}, "max_connections_per_peer"},
		{Config{Listen: "tcp://:514", MaxConns: 4, MaxConnsPerPeer: 5}, "max_connections_per_peer"},
		{Config{Listen: "tls://:6514", TLS: TLSConfig{CertFile: cert, KeyFile: key, HandshakeTimeout: -time.Second}}, "tls.handshake_timeout"},
		{Config{Listen: "tcp://:514", TLS: TLSConfig{HandshakeTimeout: time.Second}}, "tls: only for tls://"},
		{Config{Listen: "udp://:514", SocketMode: 0o666}, "socket_mode"},
		{Config{Listen: "unix:///run/x.sock", SocketMode: os.ModeSetuid | 0o666}, "socket_mode"},
		{Config{Listen: "tcp://:514", TLS: TLSConfig{CertFile: cert, KeyFile: key}}, "tls: only for tls://"},
		{Config{Listen: "tls://:6514"}, "tls.cert: required"},
		{Config{Listen: "tls://:6514", TLS: TLSConfig{CertFile: cert}}, "tls.key: required"},
		{Config{Listen: "tls://:6514", TLS: TLSConfig{CertFile: unreadable, KeyFile: key}}, "tls.cert: open"},
		{Config{Listen: "tls://:6514", TLS: TLSConfig{CertFile: cert, KeyFile: unreadable}}, "tls.key: open"},
		{Config{Listen: "tls://:6514", TLS: TLSConfig{CertFile: key, KeyFile: cert}}, "tls.cert, tls.key"},
		{Config{Listen: "tls://:6514", TLS: TLSConfig{CertFile: cert, KeyFile: key, RequireClientCert: true}}, "tls.require_client_cert"},
		{Config{Listen: "tls://:6514", TLS: TLSConfig{CertFile: cert, KeyFile: key, ClientCAFile: unreadable}}, "tls.client_ca"},
		{Config{Listen: "tls://:6514", TLS: TLSConfig{CertFile: cert, KeyFile: key, ClientCAFile: key}}, "tls.client_ca"},
	}
	for _, c := range cases {
		_, err := New(c.cfg, nil)
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("New(%+v) = %v, want an error about %q", c.cfg, err, c.field)
		}
	}
}

// checkAccepted: New takes good configurations and fills in defaults.
func checkAccepted(t *testing.T, cert, key string) {
	t.Helper()
	good := []Config{
		{Listen: "udp://0.0.0.0:514"},
		{Listen: "UDP://:514"},
		{Listen: "tcp://[::1]:514"},
		{Listen: "tcp://localhost:514"},
		{Listen: "unix:///run/logjail/log.sock", SocketMode: 0o600},
		{Listen: "tls://127.0.0.1:6514", TLS: TLSConfig{CertFile: cert, KeyFile: key, ClientCAFile: cert, RequireClientCert: true}},
	}
	for _, c := range good {
		if _, err := New(c, nil); err != nil {
			t.Errorf("New(%+v): %v", c, err)
		}
	}
	defaults := []struct {
		cfg       Config
		perPeer   int
		handshake time.Duration
	}{
		{Config{Listen: "tcp://:514"}, 16, 0},
		{Config{Listen: "tcp://:514", MaxConns: 4}, 4, 0},
		{Config{Listen: "tls://:6514", TLS: TLSConfig{CertFile: cert, KeyFile: key}}, 16, 10 * time.Second},
		{Config{Listen: "tls://:6514", MaxConnsPerPeer: 2, TLS: TLSConfig{CertFile: cert, KeyFile: key, HandshakeTimeout: time.Second}}, 2, time.Second},
	}
	for _, d := range defaults {
		l, err := New(d.cfg, nil)
		if err != nil {
			t.Fatalf("New(%+v): %v", d.cfg, err)
		}
		if l.cfg.MaxConnsPerPeer != d.perPeer || l.cfg.TLS.HandshakeTimeout != d.handshake {
			t.Errorf("New(%+v): per peer %d, handshake timeout %v; want %d, %v", d.cfg, l.cfg.MaxConnsPerPeer, l.cfg.TLS.HandshakeTimeout, d.perPeer, d.handshake)
		}
	}
}

func checkDescribe(t *testing.T) {
	t.Helper()
	l, _ := New(Config{Listen: "udp://0.0.0.0:514", Allow: []netip.Prefix{netip.MustParsePrefix("10.1.2.3/8")}}, nil)
	if d := l.Describe(); d != "syslog udp://0.0.0.0:514 (allow 10.0.0.0/8)" {
		t.Errorf("Describe %q", d)
	}
	l, _ = New(Config{Listen: "unix:///run/x/../log.sock"}, nil)
	if d := l.Describe(); d != "syslog unix:///run/log.sock" {
		t.Errorf("Describe %q", d)
	}
}
