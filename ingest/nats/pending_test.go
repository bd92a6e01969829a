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

	mu                     sync.Mutex
	acks, naks, progresses int
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

func (m *fakeMsg) Nak() error {
	m.mu.Lock()
	m.naks++
	m.mu.Unlock()
	return nil
}

// A message of several entries (a batch) is acknowledged once, after the
// last entry's Ack; when delivery stopped part way, it is returned (Nak)
// once the entries delivered are committed, and never acknowledged.
func TestMsgAck(t *testing.T) {
	s := newSource(t, Config{URL: "nats://127.0.0.1:4222", Subject: "x"})
	cases := []struct {
		name    string
		n       int
		acked   []int // entries whose Ack is called, in order (repeats allowed)
		abandon int   // entries not delivered (the last ones)
		acks    int
		naks    int
		held    bool
	}{
		{name: "one entry", n: 1, acked: []int{0}, acks: 1},
		{name: "batch, all committed", n: 3, acked: []int{2, 0, 0, 1}, acks: 1},
		{name: "batch, one not committed", n: 3, acked: []int{0, 1, 1, 0}, held: true},
		{name: "stopped after two delivered", n: 3, acked: []int{0, 1}, abandon: 1, naks: 1},
		{name: "stopped, delivered not committed", n: 3, acked: []int{0}, abandon: 1, held: true},
		{name: "stopped before the first", n: 3, abandon: 3, naks: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPendingAcks()
			m := &fakeMsg{seq: 9}
			key, _ := p.hold(m, time.Now())
			a := p.acker(s, key, m, tc.n)
			delivered := tc.n - tc.abandon
			acks := make([]func(), delivered)
			for i := range acks {
				acks[i] = a.entry()
			}
			if tc.abandon > 0 {
				a.abandon(tc.abandon)
			}
			for _, i := range tc.acked {
				acks[i]()
			}
			if m.acks != tc.acks || m.naks != tc.naks || (p.outstanding() == 1) != tc.held {
				t.Fatalf("acks %d naks %d outstanding %d, want acks %d naks %d held %v",
					m.acks, m.naks, p.outstanding(), tc.acks, tc.naks, tc.held)
			}
		})
	}
}
