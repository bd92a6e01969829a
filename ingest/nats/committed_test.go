package nats

import (
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/internal/testkit"
)

// A crash after the commit but before the acknowledgements reach the
// server: the redelivered messages are recognised from the committed
// positions and acknowledged, not counted again; new messages still come.
func TestJetStreamCommittedNotCountedTwice(t *testing.T) {
	srv := startServer(t, 0, t.TempDir(), nil)
	_, js := jsSetup(t, srv.ClientURL())
	jsPublishAll(t, js, "logs.sshd", lines("msg", 10))
	pos := &testkit.Positions{}

	s1 := committingSource(t, srv.ClientURL(), "dur", pos)
	out1 := make(chan ingest.Entry)
	r1 := start(t, s1, out1)
	for i, e := range receive(t, out1, 10) {
		if e.Pos.Key == "" {
			t.Fatalf("entry %d carries no position", i)
		}
		pos.Commit(e.Pos.Key, e.Pos.Value) // the daemon's commit: all ten are counted
		if i < 5 {
			e.Ack() // the crash comes before the other five acknowledgements
		}
	}
	waitConsumer(t, js, "dur", "five acks at the server", func(i *jetstream.ConsumerInfo) bool { return i.AckFloor.Stream == 5 })
	if err := r1.stop(t); err != nil {
		t.Fatal(err)
	}

	s2 := committingSource(t, srv.ClientURL(), "dur", pos)
	out2 := make(chan ingest.Entry, 16)
	start(t, s2, out2)
	waitConsumer(t, js, "dur", "the five committed ones acknowledged on redelivery", func(i *jetstream.ConsumerInfo) bool {
		return i.NumAckPending == 0 && i.AckFloor.Stream == 10
	})
	select {
	case e := <-out2:
		t.Fatalf("a committed entry was delivered again: %q", e.Message)
	default:
	}
	jsPublish(t, js, "logs.sshd", "after")
	if e := receive(t, out2, 1)[0]; e.Message != "after" {
		t.Fatalf("got %q, want the new message", e.Message)
	}
}
