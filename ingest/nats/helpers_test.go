package nats

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/internal/testkit"
)

const waitLimit = 20 * time.Second

// startServer runs an in-process nats-server on 127.0.0.1. port 0 picks a
// free port; a non-empty storeDir enables JetStream there.
func startServer(t testing.TB, port int, storeDir string, mod func(*server.Options)) *server.Server {
	t.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: port, MaxPayload: 1 << 20, JetStream: storeDir != "", StoreDir: storeDir}
	if mod != nil {
		mod(opts)
	}
	return testkit.NATS(t, opts)
}

// publisher connects a plain client for the test's own traffic.
func publisher(t testing.TB, url string, opts ...natsgo.Option) *natsgo.Conn {
	t.Helper()
	nc, err := natsgo.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect publisher: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func publish(t testing.TB, nc *natsgo.Conn, subject string, data string) {
	t.Helper()
	if err := nc.Publish(subject, []byte(data)); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

func flush(t testing.TB, nc *natsgo.Conn) {
	t.Helper()
	if err := nc.FlushTimeout(10 * time.Second); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

func newSource(t testing.TB, cfg Config) *Source {
	t.Helper()
	s, err := New(cfg, slog.New(slog.NewTextHandler(newTWriter(t), &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s.reconnectBase = 20 * time.Millisecond
	s.linger = time.Second
	return s
}

// tWriter sends log output to the test log until the test's cleanup, so
// that a connection still closing in the background cannot log into a
// finished test.
type tWriter struct {
	t    testing.TB
	mu   *sync.Mutex
	done *bool
}

func newTWriter(t testing.TB) tWriter {
	w := tWriter{t: t, mu: new(sync.Mutex), done: new(bool)}
	t.Cleanup(func() {
		w.mu.Lock()
		*w.done = true
		w.mu.Unlock()
	})
	return w
}

func (w tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !*w.done {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

// runner runs a Source in the background.
type runner struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
	once   sync.Once
}

func start(t testing.TB, s *Source, out chan ingest.Entry) *runner {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{cancel: cancel, done: make(chan struct{})}
	go func() {
		r.err = s.Run(ctx, out)
		close(r.done)
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and waits for it to return.
func (r *runner) stop(t testing.TB) error {
	t.Helper()
	r.once.Do(r.cancel)
	select {
	case <-r.done:
		return r.err
	case <-time.After(waitLimit):
		t.Fatal("Run did not return after cancellation")
		return nil
	}
}

// publishUntilReceived publishes msg(0), msg(1), ... on subject until an
// entry arrives on out, and returns it: a server learns of a subscription
// renewed after a reconnect a moment later, so one message may be lost.
func publishUntilReceived(t testing.TB, pub *natsgo.Conn, out <-chan ingest.Entry, subject string, msg func(i int) string) ingest.Entry {
	t.Helper()
	var e ingest.Entry
	i := 0
	testkit.WaitFor(t, waitLimit, func() error {
		publish(t, pub, subject, msg(i))
		i++
		flush(t, pub)
		select {
		case e = <-out:
			return nil
		case <-time.After(20 * time.Millisecond):
			return fmt.Errorf("nothing received after %d messages", i)
		}
	})
	return e
}

// subscribed returns a channel closed when s reports its subscription.
func subscribed(s *Source) <-chan struct{} {
	ch := make(chan struct{})
	var once sync.Once
	s.onSubscribed = func() { once.Do(func() { close(ch) }) }
	return ch
}

func waitClosed(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// waitStats polls s.Stats until cond holds: Read is counted just after
// the entry was handed over, so it may lag the receiver by a moment.
func waitStats(t testing.TB, s *Source, cond func(ingest.Stats) bool) ingest.Stats {
	t.Helper()
	var st ingest.Stats
	testkit.WaitFor(t, waitLimit, func() error {
		st = s.Stats()
		return testkit.Check(cond(st), "stats %+v", st)
	})
	return st
}

// receive takes n entries from out.
func receive(t testing.TB, out <-chan ingest.Entry, n int) []ingest.Entry {
	t.Helper()
	got := make([]ingest.Entry, 0, n)
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	for len(got) < n {
		select {
		case e := <-out:
			got = append(got, e)
		case <-timer.C:
			t.Fatalf("received %d of %d entries", len(got), n)
		}
	}
	return got
}

// jsSetup creates the stream LOGS on logs.> and returns a JetStream client.
func jsSetup(t testing.TB, url string) (*natsgo.Conn, jetstream.JetStream) {
	t.Helper()
	nc := publisher(t, url)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "LOGS", Subjects: []string{"logs.>"}, Storage: jetstream.FileStorage,
	}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	return nc, js
}

func jsPublish(t testing.TB, js jetstream.JetStream, subject, data string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if _, err := js.Publish(ctx, subject, []byte(data)); err != nil {
		t.Fatalf("js publish: %v", err)
	}
}

// jsPublishAll publishes each of msgs to subject, in order, and returns
// them.
func jsPublishAll(t testing.TB, js jetstream.JetStream, subject string, msgs []string) []string {
	t.Helper()
	for _, m := range msgs {
		jsPublish(t, js, subject, m)
	}
	return msgs
}

// committingSource is a source of the durable consumer that commits to
// pos, with a short AckWait so that what it leaves unacknowledged comes
// again soon.
func committingSource(t testing.TB, url, durable string, pos ingest.Positions) *Source {
	t.Helper()
	s := newSource(t, jsConfig(url, durable))
	s.ackWait = time.Second
	s.UsePositions(pos)
	return s
}

func consumerInfo(t testing.TB, js jetstream.JetStream, durable string) *jetstream.ConsumerInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := js.Consumer(ctx, "LOGS", durable)
	if err != nil {
		t.Fatalf("consumer %s: %v", durable, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatalf("consumer info: %v", err)
	}
	return info
}

func lines(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s %03d", prefix, i)
	}
	return out
}

// unusedPort is a loopback port nobody listens on (yet), and its nats://
// URL: a server started there later is one the client waited for.
func unusedPort(t *testing.T) (int, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port, fmt.Sprintf("nats://127.0.0.1:%d", port)
}

// waitConsumer waits until the durable consumer's info satisfies ok, and
// fails showing its counts.
func waitConsumer(t testing.TB, js jetstream.JetStream, durable, what string, ok func(*jetstream.ConsumerInfo) bool) {
	t.Helper()
	testkit.WaitFor(t, waitLimit, func() error {
		i := consumerInfo(t, js, durable)
		return testkit.Check(ok(i), "still waiting for %s: consumer %s: ack pending %d, pending %d, ack floor %d, delivered %d",
			what, durable, i.NumAckPending, i.NumPending, i.AckFloor.Stream, i.Delivered.Stream)
	})
}

// waitReadTogether waits until srcs have read n messages in all, and
// fails showing each one's counters.
func waitReadTogether(t testing.TB, srcs []*Source, n uint64) {
	t.Helper()
	testkit.WaitFor(t, waitLimit, func() error {
		var sum uint64
		var all []ingest.Stats
		for _, s := range srcs {
			st := s.Stats()
			sum += st.Read
			all = append(all, st)
		}
		return testkit.Check(sum == n, "%d read in all, want %d; stats %+v", sum, n, all)
	})
}

// startSubscribed starts s and returns once it has subscribed.
func startSubscribed(t testing.TB, s *Source, out chan ingest.Entry) *runner {
	t.Helper()
	ready := subscribed(s)
	r := start(t, s, out)
	waitClosed(t, ready, "subscription")
	return r
}

// startCore runs a core source of subject on a fresh server, its entries
// going to a queue of size queue, and returns once it has subscribed,
// with a connection to publish to the server.
func startCore(t testing.TB, subject string, queue int) (*Source, chan ingest.Entry, *natsgo.Conn) {
	t.Helper()
	srv := startServer(t, 0, "", nil)
	s := newSource(t, Config{URL: srv.ClientURL(), Subject: subject})
	out := make(chan ingest.Entry, queue)
	startSubscribed(t, s, out)
	return s, out, publisher(t, srv.ClientURL())
}

// runMissingStream runs a source of the JetStream stream NOPE, which the
// server does not have, and returns once Run has failed, with the
// server's URL.
func runMissingStream(t testing.TB) (*Source, *runner, string) {
	t.Helper()
	srv := startServer(t, 0, t.TempDir(), nil)
	s := newSource(t, Config{URL: srv.ClientURL(), Subject: "logs.sshd",
		JetStream: &JetStreamConfig{Stream: "NOPE", Durable: "d"}})
	r := start(t, s, make(chan ingest.Entry))
	waitClosed(t, r.done, "Run to fail")
	return s, r, srv.ClientURL()
}
