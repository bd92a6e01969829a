package nats

import (
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// fakeMsg is a JetStream message that records what was done to it.
type fakeMsg struct {
	jetstream.Msg
	seq uint64

	mu               sync.Mutex
	acks, progresses int
}

func (m *fakeMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: m.seq}}, nil
}

func (m *fakeMsg) Ack() error {
	m.mu.Lock()
	m.acks++
	m.mu.Unlock()
	return nil
}

func (m *fakeMsg) InProgress() error {
	m.mu.Lock()
	m.progresses++
	m.mu.Unlock()
	return nil
}

func TestPendingAcks(t *testing.T) {
	s := newSource(t, Config{URL: "nats://127.0.0.1:4222", Subject: "x"})
	p := newPendingAcks()
	t0 := time.Now()
	a, b := &fakeMsg{seq: 7}, &fakeMsg{seq: 8}
	ka, ok := p.hold(a, t0)
	if !ok {
		t.Fatal("first hold refused")
	}
	kb, _ := p.hold(b, t0.Add(time.Second))
	if _, ok := p.hold(&fakeMsg{seq: 7}, t0); ok {
		t.Fatal("a redelivery of a held entry was accepted")
	}
	ackA, ackB := p.acker(s, ka, a, 1).entry(), p.acker(s, kb, b, 1).entry()

	p.extend(t0.Add(1500*time.Millisecond), time.Second)
	if a.progresses != 1 || b.progresses != 0 {
		t.Fatalf("extend: %d %d", a.progresses, b.progresses)
	}
	ackA()
	ackA()
	if a.acks != 1 || p.outstanding() != 1 {
		t.Fatalf("acks %d, outstanding %d", a.acks, p.outstanding())
	}
	// Once acknowledged, a redelivery is a new entry again.
	if _, ok := p.hold(&fakeMsg{seq: 7}, t0); !ok {
		t.Fatal("hold after ack refused")
	}
	p.release(7)

	done := p.finish()
	select {
	case <-done:
		t.Fatal("finished with an entry held")
	default:
	}
	ackB()
	select {
	case <-done:
	default:
		t.Fatal("not finished after the last ack")
	}
}
