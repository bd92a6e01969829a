package nats

import (
	"context"
	"sync"
	"time"

	"github.com/logjail/logjail/enforce"
	"github.com/logjail/logjail/state"
	"github.com/logjail/logjail/state/store"
)

// BanEvents is the `nats` enforcer: every ban and unban of a pipeline
// becomes an event on Subject. Ban and Unban only stage the event; the
// pipeline writes it with its state at the next commit (TakeOutbox) and
// then wakes the publisher (Committed). The publisher runs from Start to
// Stop; what it could not send stays in the store's outbox.
type BanEvents struct {
	pub     *Publisher
	subject string
	origin  string

	// end stops the publisher and waits for it; nil until Start.
	end func()

	mu     sync.Mutex
	staged []store.OutboxRecord
}

var (
	_ enforce.Enforcer = (*BanEvents)(nil)
	_ enforce.Outboxed = (*BanEvents)(nil)
)

// NewBanEvents publishes events on subject through pub; origin names this
// node in the events.
func NewBanEvents(pub *Publisher, subject, origin string) *BanEvents {
	return &BanEvents{pub: pub, subject: subject, origin: origin}
}

// Ban stages a ban event. A ban adopted from the fleet is announced by the
// node that decided it, not again by every node.
func (b *BanEvents) Ban(_ context.Context, d state.Decision) error {
	if !d.Fleet {
		b.stage(d)
	}
	return nil
}

// Unban stages an unban event (not for one that came from the fleet).
func (b *BanEvents) Unban(_ context.Context, d state.Decision) error {
	if !d.Fleet {
		b.stage(d)
	}
	return nil
}

// Apply stages the events of ds.
func (b *BanEvents) Apply(ctx context.Context, ds []state.Decision) error {
	return enforce.OneByOne(ctx, ds, b.Ban, b.Unban)
}

// Start runs the publisher; it announces nothing: events describe
// decisions, and a start decides nothing.
func (b *BanEvents) Start(context.Context, []state.Decision, time.Time) error {
	if b.end != nil {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := b.pub.Run(ctx); err != nil {
			b.pub.log.Error("nats enforcer stopped", "err", err)
		}
	}()
	b.end = func() { cancel(); <-done }
	return nil
}

// Stop ends the publisher once it has sent what it can within a few
// seconds. The pipeline calls it after its last commit, so the last events
// are sent too.
func (b *BanEvents) Stop() {
	if b.end != nil {
		b.end()
		b.end = nil
	}
}

func (b *BanEvents) stage(d state.Decision) {
	rec := NewEvent(d, b.origin).Record(b.pub.cfg.Sink, b.subject)
	b.mu.Lock()
	b.staged = append(b.staged, rec)
	b.mu.Unlock()
}

// TakeOutbox returns the events staged since the last call.
func (b *BanEvents) TakeOutbox() []store.OutboxRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.staged
	b.staged = nil
	return out
}

// Committed wakes the publisher.
func (b *BanEvents) Committed() { b.pub.Notify() }

// Publishers returns the publisher the events go through.
func (b *BanEvents) Publishers() []*Publisher { return []*Publisher{b.pub} }
