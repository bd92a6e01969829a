package nats

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/internal/testkit"
)

func jsConfig(url, durable string) Config {
	return Config{URL: url, Subject: "logs.sshd", JetStream: &JetStreamConfig{Stream: "LOGS", Durable: durable}}
}

func TestJetStreamEntriesAckAndSkip(t *testing.T) {
	srv := startServer(t, 0, t.TempDir(), nil)
	_, js := jsSetup(t, srv.ClientURL())
	jsPublish(t, js, "logs.sshd", "raw line\n")
	jsPublish(t, js, "logs.sshd", strings.Repeat("x", MaxPayload+1))
	jsPublish(t, js, "logs.other", "filtered out")
	jsPublish(t, js, "logs.sshd", `{"time":"2026-11-25T07:13:18.5Z","host":"h1","message":"enveloped"}`)

	s := newSource(t, jsConfig(srv.ClientURL(), "d1"))
	out := make(chan ingest.Entry, 8)
	start(t, s, out)
	got := receive(t, out, 2)
	if e := got[0]; e.Message != "raw line" || !e.Time.IsZero() || e.Ack == nil {
		t.Fatalf("entry 0 %+v", e)
	}
	if e := got[1]; e.Message != "enveloped" || e.Host != "h1" || e.Ack == nil ||
		!e.Time.Equal(time.Date(2026, 11, 25, 7, 13, 18, 5e8, time.UTC)) {
		t.Fatalf("entry 1 %+v", e)
	}
	waitStats(t, s, func(st ingest.Stats) bool {
		return st.Read == 2 && st.Skipped == 1 && st.Dropped == 0 && st.Reason == "connected"
	})
	info := consumerInfo(t, js, "d1")
	if c := info.Config; c.AckPolicy != jetstream.AckExplicitPolicy || c.AckWait != 30*time.Second ||
		c.MaxAckPending != 4096 || c.FilterSubject != "logs.sshd" || c.Durable != "d1" {
		t.Fatalf("consumer config %+v", c)
	}
	// Nothing is acknowledged until the pipeline says so; the oversize
	// message was terminated and does not wait.
	waitConsumer(t, js, "d1", "2 pending acks", func(i *jetstream.ConsumerInfo) bool {
		return i.NumAckPending == 2
	})
	for _, e := range got {
		e.Ack()
		e.Ack() // a second call is harmless
	}
	waitConsumer(t, js, "d1", "all acknowledged", func(i *jetstream.ConsumerInfo) bool {
		return i.NumAckPending == 0 && i.NumPending == 0 && i.AckFloor.Stream == 4
	})
	if st := s.Stats(); st.Errors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Delivery waits for the pipeline: nothing is dropped however slow it is.
func TestJetStreamBackpressure(t *testing.T) {
	srv := startServer(t, 0, t.TempDir(), nil)
	_, js := jsSetup(t, srv.ClientURL())
	want := jsPublishAll(t, js, "logs.sshd", lines("line", 300))
	s := newSource(t, jsConfig(srv.ClientURL(), "bp"))
	out := make(chan ingest.Entry) // unbuffered
	start(t, s, out)
	var got []string
	for i := range want {
		e := receive(t, out, 1)[0]
		got = append(got, e.Message)
		e.Ack()
		if i%50 == 0 {
			// Stall the pipeline for a moment: the source must wait.
			waitStats(t, s, func(st ingest.Stats) bool { return st.Read == uint64(i+1) })
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("order or content differs")
	}
	waitStats(t, s, func(st ingest.Stats) bool { return st.Read == uint64(len(want)) })
	if st := s.Stats(); st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A crash before the pipeline acknowledged: the unacknowledged messages come
// back to the next source with the same durable, the acknowledged ones do
// not, and nothing is lost.
func TestJetStreamRedeliveryAfterCrash(t *testing.T) {
	srv := startServer(t, 0, t.TempDir(), nil)
	_, js := jsSetup(t, srv.ClientURL())
	const n = 40
	all := jsPublishAll(t, js, "logs.sshd", lines("msg", n))

	// First run: take 20 entries, acknowledge 0-9 and every other of the
	// rest, then "crash" (cancel without acknowledging the others).
	s1 := newSource(t, jsConfig(srv.ClientURL(), "dur"))
	s1.ackWait = 2 * time.Second
	out1 := make(chan ingest.Entry) // unbuffered: the source holds the rest
	r1 := start(t, s1, out1)
	acked := map[string]bool{}
	for i := range 20 {
		e := receive(t, out1, 1)[0]
		if e.Message != all[i] {
			t.Fatalf("entry %d is %q", i, e.Message)
		}
		if i < 10 || i%2 == 0 {
			e.Ack()
			acked[e.Message] = true
		}
	}
	waitConsumer(t, js, "dur", "acks to reach the server", func(i *jetstream.ConsumerInfo) bool {
		return i.AckFloor.Stream == 11 && uint64(i.NumAckPending) == i.Delivered.Stream-uint64(len(acked))
	})
	if err := r1.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	// Second run: everything not acknowledged arrives, exactly once.
	s2 := newSource(t, jsConfig(srv.ClientURL(), "dur"))
	s2.ackWait = 2 * time.Second
	out2 := make(chan ingest.Entry, 64)
	start(t, s2, out2)
	var want []string
	for _, l := range all {
		if !acked[l] {
			want = append(want, l)
		}
	}
	var got2 []string
	for range want {
		e := receive(t, out2, 1)[0] // acknowledge at once, well within AckWait
		got2 = append(got2, e.Message)
		e.Ack()
	}
	waitConsumer(t, js, "dur", "consumer drained", func(i *jetstream.ConsumerInfo) bool {
		return i.NumAckPending == 0 && i.NumPending == 0 && i.AckFloor.Stream == n
	})
	select {
	case e := <-out2:
		t.Fatalf("extra entry %q", e.Message)
	default:
	}
	slices.Sort(got2)
	if !slices.Equal(got2, want) {
		t.Fatalf("redelivered %d: %v\nwant %d: %v", len(got2), got2, len(want), want)
	}
	if len(want) != n-15 {
		t.Fatalf("test arithmetic: %d", len(want))
	}
}

// The pipeline acknowledges after its sources stopped (it drains and
// commits last): those acknowledgements still reach the server, and the
// connection closes once they have.
func TestJetStreamAckAfterRunReturned(t *testing.T) {
	srv := startServer(t, 0, t.TempDir(), nil)
	_, js := jsSetup(t, srv.ClientURL())
	jsPublishAll(t, js, "logs.sshd", lines("m", 5))
	s := newSource(t, jsConfig(srv.ClientURL(), "late"))
	closed := make(chan struct{})
	s.onClosed = func() { close(closed) }
	out := make(chan ingest.Entry, 5)
	r := start(t, s, out)
	testkit.WaitFor(t, waitLimit, func() error { return testkit.Check(len(out) == 5, "%d entries queued, want 5", len(out)) })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	select {
	case <-closed:
		t.Fatal("connection closed with entries unacknowledged")
	default:
	}
	for range 5 {
		(<-out).Ack()
	}
	waitClosed(t, closed, "connection to close after the last ack")
	i := consumerInfo(t, js, "late")
	if i.AckFloor.Stream != 5 || i.NumAckPending != 0 || i.NumPending != 0 {
		t.Fatalf("consumer %+v", i)
	}
	if st := s.Stats(); st.Errors != 0 || st.Read != 5 {
		t.Fatalf("stats %+v", st)
	}
}

func TestJetStreamServerRestart(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, 0, dir, nil)
	port := testkit.NATSPort(srv)
	url := srv.ClientURL()
	_, js := jsSetup(t, url)
	jsPublish(t, js, "logs.sshd", "before")

	s := newSource(t, jsConfig(url, "rs"))
	var states stateLog
	s.onState = states.add
	out := make(chan ingest.Entry, 64)
	start(t, s, out)
	e := receive(t, out, 1)[0]
	if e.Message != "before" {
		t.Fatalf("got %q", e.Message)
	}
	e.Ack()
	waitConsumer(t, js, "rs", "ack", func(i *jetstream.ConsumerInfo) bool { return i.AckFloor.Stream == 1 })

	testkit.StopNATS(srv)
	waitStats(t, s, func(st ingest.Stats) bool { return st.Reason != "connected" })
	startServer(t, port, dir, nil)
	waitStats(t, s, func(st ingest.Stats) bool { return st.Reason == "connected" })
	if got := states.list(); !containsInOrder(got, []string{"connected", "disconnected", "connected"}) {
		t.Fatalf("state changes %v", got)
	}

	_, js2 := func() (any, jetstream.JetStream) {
		nc := publisher(t, url)
		j, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return nil, j
	}()
	after := lines("after", 10)
	for _, l := range after {
		jsPublish(t, js2, "logs.sshd", l)
	}
	var got []string
	for _, e := range receive(t, out, len(after)) {
		got = append(got, e.Message)
		e.Ack()
	}
	if !slices.Equal(got, after) {
		t.Fatalf("after restart got %v", got)
	}
	waitConsumer(t, js2, "rs", "all acknowledged", func(i *jetstream.ConsumerInfo) bool {
		return i.NumAckPending == 0 && i.NumPending == 0 && i.AckFloor.Stream == 11
	})
}

func TestJetStreamMissingStream(t *testing.T) {
	_, r, url := runMissingStream(t)
	if r.err == nil || !strings.Contains(r.err.Error(), `jetstream.stream "NOPE" does not exist`) ||
		!strings.Contains(r.err.Error(), "does not create streams") {
		t.Fatalf("Run: %v", r.err)
	}
	// No stream was created behind the operator's back.
	nc := publisher(t, url)
	js, _ := jetstream.New(nc)
	if _, err := js.Stream(context.Background(), "NOPE"); err == nil {
		t.Fatal("stream was created")
	}
}

func TestJetStreamExistingConsumer(t *testing.T) {
	srv := startServer(t, 0, t.TempDir(), nil)
	_, js := jsSetup(t, srv.ClientURL())
	ctx := context.Background()
	if _, err := js.CreateConsumer(ctx, "LOGS", jetstream.ConsumerConfig{
		Durable: "mine", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 5 * time.Second,
		MaxAckPending: 10, FilterSubject: "logs.old", DeliverPolicy: jetstream.DeliverNewPolicy,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateConsumer(ctx, "LOGS", jetstream.ConsumerConfig{
		Durable: "noack", AckPolicy: jetstream.AckNonePolicy,
	}); err != nil {
		t.Fatal(err)
	}

	s := newSource(t, jsConfig(srv.ClientURL(), "mine"))
	ready := subscribed(s)
	out := make(chan ingest.Entry, 1)
	start(t, s, out)
	waitClosed(t, ready, "consuming")
	c := consumerInfo(t, js, "mine").Config
	if c.AckWait != 30*time.Second || c.MaxAckPending != 4096 || c.FilterSubject != "logs.sshd" ||
		c.DeliverPolicy != jetstream.DeliverNewPolicy {
		t.Fatalf("consumer not updated as expected: %+v", c)
	}
	jsPublish(t, js, "logs.sshd", "new")
	if e := receive(t, out, 1)[0]; e.Message != "new" {
		t.Fatalf("got %q", e.Message)
	}

	s2 := newSource(t, jsConfig(srv.ClientURL(), "noack"))
	r := start(t, s2, make(chan ingest.Entry))
	waitClosed(t, r.done, "Run to fail")
	if r.err == nil || !strings.Contains(r.err.Error(), "explicit acks") {
		t.Fatalf("Run: %v", r.err)
	}
}

// Consumers sharing a durable share its messages (the JetStream
// counterpart of a queue group).
func TestJetStreamSharedDurable(t *testing.T) {
	srv := startServer(t, 0, t.TempDir(), nil)
	_, js := jsSetup(t, srv.ClientURL())
	out := make(chan ingest.Entry, 512)
	count := map[string]int{}
	var srcs []*Source
	for range 2 {
		s := newSource(t, Config{URL: srv.ClientURL(), Subject: "logs.*",
			JetStream: &JetStreamConfig{Stream: "LOGS", Durable: "shared"}})
		ready := subscribed(s)
		start(t, s, out)
		waitClosed(t, ready, "consuming")
		srcs = append(srcs, s)
	}
	want := lines("shared", 200)
	for i, l := range want {
		jsPublish(t, js, fmt.Sprintf("logs.s%d", i%4), l)
	}
	for _, e := range receive(t, out, len(want)) {
		count[e.Message]++
		e.Ack()
	}
	waitConsumer(t, js, "shared", "drained", func(i *jetstream.ConsumerInfo) bool {
		return i.NumAckPending == 0 && i.NumPending == 0
	})
	for _, l := range want {
		if count[l] != 1 {
			t.Fatalf("%q delivered %d times", l, count[l])
		}
	}
	waitReadTogether(t, srcs, uint64(len(want)))
}

// A pipeline that holds entries longer than AckWait (a stall) does not get
// them redelivered: the source extends their AckWait while it waits.
func TestJetStreamStallNoRedelivery(t *testing.T) {
	srv := startServer(t, 0, t.TempDir(), nil)
	_, js := jsSetup(t, srv.ClientURL())
	jsPublishAll(t, js, "logs.sshd", lines("stall", 5))
	s := newSource(t, jsConfig(srv.ClientURL(), "stall"))
	s.ackWait = time.Second
	out := make(chan ingest.Entry, 16)
	start(t, s, out)
	got := receive(t, out, 5)
	// Hold the entries for three AckWaits: this waits on purpose.
	time.Sleep(3 * s.ackWait)
	if i := consumerInfo(t, js, "stall"); i.NumRedelivered != 0 || i.Delivered.Consumer != 5 {
		t.Fatalf("redelivered while held: %+v", i)
	}
	for _, e := range got {
		e.Ack()
	}
	waitConsumer(t, js, "stall", "acknowledged", func(i *jetstream.ConsumerInfo) bool {
		return i.NumAckPending == 0 && i.AckFloor.Stream == 5
	})
	if len(out) != 0 {
		t.Fatalf("%d extra entries", len(out))
	}
}

// Deleting the durable while the source runs: it is created again and
// reading goes on.
func TestJetStreamConsumerDeleted(t *testing.T) {
	srv := startServer(t, 0, t.TempDir(), nil)
	_, js := jsSetup(t, srv.ClientURL())
	s := newSource(t, jsConfig(srv.ClientURL(), "gone"))
	out := make(chan ingest.Entry, 16)
	r := start(t, s, out)
	jsPublish(t, js, "logs.sshd", "one")
	e := receive(t, out, 1)[0]
	e.Ack()
	waitConsumer(t, js, "gone", "ack", func(i *jetstream.ConsumerInfo) bool { return i.AckFloor.Stream == 1 })
	if err := js.DeleteConsumer(context.Background(), "LOGS", "gone"); err != nil {
		t.Fatal(err)
	}
	jsPublish(t, js, "logs.sshd", "two")
	// A new durable starts from the start of the stream.
	got := receive(t, out, 2)
	if got[0].Message != "one" || got[1].Message != "two" {
		t.Fatalf("got %q %q", got[0].Message, got[1].Message)
	}
	select {
	case <-r.done:
		t.Fatalf("Run returned %v", r.err)
	default:
	}
}

// A server that comes back without its JetStream state (a redeploy without
// its volume): once the stream exists again, the source sets its durable
// up again and goes on, rather than waiting for ever on a consumer that is
// gone.
func TestJetStreamServerLostState(t *testing.T) {
	srv := startServer(t, 0, t.TempDir(), nil)
	port := testkit.NATSPort(srv)
	url := srv.ClientURL()
	_, js := jsSetup(t, url)
	jsPublish(t, js, "logs.sshd", "before")
	s := newSource(t, jsConfig(url, "lost"))
	s.consumerCheck = 200 * time.Millisecond
	out := make(chan ingest.Entry, 64)
	r := start(t, s, out)
	e := receive(t, out, 1)[0]
	e.Ack()

	testkit.StopNATS(srv)
	waitStats(t, s, func(st ingest.Stats) bool { return st.Reason != "connected" })
	srv = startServer(t, port, t.TempDir(), nil) // an empty store
	_, js = jsSetup(t, url)                      // the stream, created again
	jsPublish(t, js, "logs.sshd", "after")
	got := receive(t, out, 1)
	if got[0].Message != "after" {
		t.Fatalf("got %q", got[0].Message)
	}
	select {
	case <-r.done:
		t.Logf("Run returned %v (restarted by its supervisor in logjail)", r.err)
	default:
	}
}
