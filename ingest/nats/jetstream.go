package nats

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/logjail/logjail/ingest"
)

// errConsumeEnded says the message iterator ended without cancellation
// (consumer deleted, connection closed): set up again.
var errConsumeEnded = errors.New("message iterator ended")

// runJetStream sets up the durable consumer and consumes it, setting it up
// again when it goes away, until ctx is done.
func (s *Source) runJetStream(ctx context.Context, c *conn, out chan<- ingest.Entry, p *pendingAcks) error {
	js, err := jetstream.New(c.nc)
	if err != nil {
		return fmt.Errorf("nats: %s: %w", s.desc, err)
	}
	// While the pipeline holds entries (a full queue, a slow commit), keep
	// the server from redelivering them.
	extendCtx, stopExtend := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		every := max(s.ackWait/3, 10*time.Millisecond)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-extendCtx.Done():
				return
			case now := <-t.C:
				p.extend(now, every)
			}
		}
	}()
	defer wg.Wait()
	defer stopExtend()

	attempt := 0
	consumed := false // set up once: a refusal after that is the server's state lost, retried
	for {
		// JetStream API calls need a connection; wait for one.
		select {
		case <-ctx.Done():
			return nil
		case <-c.closed:
			return c.closedError()
		case <-c.upCh():
		}
		cons, err := s.setupConsumer(ctx, js)
		if err == nil {
			attempt, consumed = 0, true
			err = s.consume(ctx, cons, out, p)
			if err == nil || ctx.Err() != nil {
				return nil
			}
			select {
			case <-c.closed:
				return c.closedError()
			default:
			}
			s.warn("consume", "nats: consuming stopped; setting up again", "err", err)
		} else {
			if ctx.Err() != nil {
				return nil
			}
			if permanent(err) && !consumed {
				return err
			}
			s.warn("setup", "nats: cannot set up the JetStream consumer; retrying", "err", err)
		}
		attempt++
		t := time.NewTimer(s.backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-c.closed:
			t.Stop()
			return c.closedError()
		case <-t.C:
		}
	}
}

// permanent reports whether a setup error is a refusal by the server (no
// such stream, JetStream disabled, invalid consumer) rather than trouble
// reaching it.
func permanent(err error) bool {
	var apiErr *jetstream.APIError
	var refused *refusedError
	return errors.As(err, &apiErr) || errors.As(err, &refused)
}

// refusedError is a setup problem that waiting does not solve.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

func refused(format string, args ...any) error {
	return &refusedError{msg: fmt.Sprintf(format, args...)}
}

// setupConsumer finds the stream and creates the durable consumer, or
// updates the ack settings and filter of an existing one.
func (s *Source) setupConsumer(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, error) {
	jsc := s.cfg.JetStream
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	stream, err := js.Stream(ctx, jsc.Stream)
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, refused("nats: %s: jetstream.stream %q does not exist on the server (logjail does not create streams; create it, e.g. `nats stream add %s --subjects '%s'`)",
				s.desc, jsc.Stream, jsc.Stream, orAll(s.cfg.Subject))
		}
		return nil, fmt.Errorf("nats: %s: looking up jetstream.stream %q: %w", s.desc, jsc.Stream, err)
	}
	cons, err := stream.Consumer(ctx, jsc.Durable)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		cons, err = stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:       jsc.Durable,
			Description:   "logjail ingest",
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       s.ackWait,
			MaxAckPending: s.maxAckPending,
			FilterSubject: s.cfg.Subject,
		})
		if err != nil {
			return nil, fmt.Errorf("nats: %s: creating jetstream.durable %q: %w", s.desc, jsc.Durable, err)
		}
		s.log.Info("nats: created durable consumer", "source", s.desc, "stream", jsc.Stream, "durable", jsc.Durable)
		return cons, nil
	case err != nil:
		return nil, fmt.Errorf("nats: %s: looking up jetstream.durable %q: %w", s.desc, jsc.Durable, err)
	}
	cfg := cons.CachedInfo().Config
	if cfg.DeliverSubject != "" {
		return nil, refused("nats: %s: jetstream.durable %q is a push consumer; logjail needs a pull consumer (delete it or choose another name)", s.desc, jsc.Durable)
	}
	if cfg.AckPolicy != jetstream.AckExplicitPolicy {
		return nil, refused("nats: %s: jetstream.durable %q has ack policy %s; logjail needs explicit acks (delete it or choose another name)", s.desc, jsc.Durable, cfg.AckPolicy)
	}
	want := cfg
	want.AckWait = s.ackWait
	want.MaxAckPending = s.maxAckPending
	if s.cfg.Subject != "" {
		want.FilterSubject = s.cfg.Subject
		want.FilterSubjects = nil
	}
	if want.AckWait == cfg.AckWait && want.MaxAckPending == cfg.MaxAckPending &&
		want.FilterSubject == cfg.FilterSubject && len(want.FilterSubjects) == len(cfg.FilterSubjects) {
		return cons, nil
	}
	cons, err = stream.UpdateConsumer(ctx, want)
	if err != nil {
		return nil, fmt.Errorf("nats: %s: updating jetstream.durable %q: %w", s.desc, jsc.Durable, err)
	}
	s.log.Info("nats: updated durable consumer", "source", s.desc, "stream", jsc.Stream, "durable", jsc.Durable)
	return cons, nil
}

func orAll(subject string) string {
	if subject == "" {
		return ">"
	}
	return subject
}

// consume delivers messages until ctx is done (nil) or the iterator ends
// (an error). Sending on out waits: JetStream keeps what is not pulled yet.
func (s *Source) consume(ctx context.Context, cons jetstream.Consumer, out chan<- ingest.Entry, p *pendingAcks) error {
	it, err := cons.Messages(
		jetstream.PullMaxMessages(pullBatch),
		// A missed heartbeat makes the iterator pull again by itself.
		jetstream.WithMessagesErrOnMissingHeartbeat(false),
	)
	if err != nil {
		return err
	}
	if s.committed == nil {
		if s.committed, err = s.loadCommitted(); err != nil {
			it.Stop()
			return fmt.Errorf("nats: %s: reading committed positions: %w", s.desc, err)
		}
	}
	if s.onSubscribed != nil {
		s.onSubscribed()
	}
	watch, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go s.watchConsumer(watch, cons, it)
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				s.returnPulled(it)
				return nil
			}
			it.Stop()
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return errConsumeEnded
			}
			return err
		}
		if !s.handle(ctx, it, msg, out, p) {
			return nil
		}
	}
}

// watchConsumer stops it when the durable consumer vanished (deleted, or a
// server back without its JetStream state), which does not always end the
// iterator by itself, so that it is set up again. It looks now and then,
// until ctx is done.
func (s *Source) watchConsumer(ctx context.Context, cons jetstream.Consumer, it jetstream.MessagesContext) {
	t := time.NewTicker(s.consumerCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ictx, cancel := context.WithTimeout(ctx, setupTimeout)
		_, err := cons.Info(ictx)
		cancel()
		if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
			s.warn("gone", "nats: the durable consumer is gone from the server; setting it up again", "err", err)
			it.Stop()
			return
		}
	}
}

// handle decodes one message and delivers its entries, or settles it at
// once (bad, skipped, or committed before a crash). It reports false when
// ctx ended a delivery; the iterator is stopped then.
func (s *Source) handle(ctx context.Context, it jetstream.MessagesContext, msg jetstream.Msg, out chan<- ingest.Entry, p *pendingAcks) bool {
	seq, from, settled := s.redelivered(msg)
	if settled {
		return true
	}
	ds, v := s.decode(msg.Headers(), msg.Data(), time.Now(), from)
	switch v {
	case Bad:
		// Bad input is counted and must not come back forever.
		if err := msg.Term(); err != nil {
			s.errs.Add(1)
		}
		return true
	case Skip:
		if err := msg.Ack(); err != nil {
			s.errs.Add(1)
		}
		return true
	}
	key, fresh := p.hold(msg, ds[0].ReadAt)
	if !fresh {
		s.log.Debug("nats: redelivery of an entry still in the pipeline ignored", "source", s.desc)
		return true
	}
	// One acknowledgement for the message, once every entry of it (all the
	// records of a batch) is committed.
	acks := p.acker(s, key, msg, len(ds))
	for i, d := range ds {
		e := d.Entry
		e.Ack = acks.entry()
		if seq != 0 && s.positions != nil {
			if i == len(ds)-1 {
				e.Pos = s.committedPos(seq)
			} else {
				e.Pos = s.partPos(seq, d.rec+1)
			}
		}
		select {
		case out <- e:
			s.read.Add(1)
			s.health.Entry(e.ReadAt)
		case <-ctx.Done():
			// The entries not delivered come back with the message,
			// once those delivered are committed (Nak).
			acks.abandon(len(ds) - i)
			s.returnPulled(it)
			return false
		}
	}
	return true
}

// redelivered looks msg up among the positions committed before a crash:
// its stream sequence (0 without metadata), the records of a batch already
// committed (to be skipped), and whether it was committed whole, which
// acknowledges it here and now.
func (s *Source) redelivered(msg jetstream.Msg) (seq uint64, from int, settled bool) {
	md, err := msg.Metadata()
	if err != nil {
		return 0, 0, false
	}
	seq = md.Sequence.Stream
	if md.NumDelivered <= 1 {
		return seq, 0, false
	}
	done := s.committed[seq]
	if done != allRecords {
		return seq, done, false
	}
	// Its effects were committed before a crash kept the acknowledgement
	// from the server: acknowledge, count nothing again.
	s.log.Debug("nats: committed entry redelivered; acknowledged", "source", s.desc, "seq", seq)
	if err := msg.Ack(); err != nil {
		s.errs.Add(1)
	}
	return seq, 0, true
}

// returnPulled stops the iterator and gives the messages it pulled but did
// not deliver back to the server (Nak), so they are redelivered at once
// rather than after AckWait.
func (s *Source) returnPulled(it jetstream.MessagesContext) {
	it.Drain()
	deadline := time.Now().Add(nakTimeout)
	for {
		wait := time.Until(deadline)
		if wait <= 0 {
			it.Stop()
			return
		}
		msg, err := it.Next(jetstream.NextMaxWait(wait))
		if err != nil {
			it.Stop()
			return
		}
		_ = msg.Nak()
	}
}

// pendingAcks tracks the entries handed to the pipeline and not
// acknowledged yet, by stream sequence: so that the connection outlives Run
// until they are acknowledged, that their AckWait can be extended while the
// pipeline holds them, and that a redelivery of one of them (after a stall
// longer than AckWait) is not delivered a second time.
type pendingAcks struct {
	mu      sync.Mutex
	m       map[uint64]*held
	anon    uint64 // keys for messages without metadata, counting down
	closing bool
	done    chan struct{}
}

type held struct {
	msg   jetstream.Msg
	since time.Time // delivered or last extended
}

func newPendingAcks() *pendingAcks {
	return &pendingAcks{m: map[uint64]*held{}, anon: ^uint64(0), done: make(chan struct{})}
}

// hold registers msg as delivered. It reports false when a message with the
// same stream sequence is already held: a redelivery of an entry still in
// the pipeline, whose own acknowledgement will settle it.
func (p *pendingAcks) hold(msg jetstream.Msg, now time.Time) (uint64, bool) {
	var key uint64
	if md, err := msg.Metadata(); err == nil {
		key = md.Sequence.Stream
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if key == 0 {
		key = p.anon
		p.anon--
	}
	if _, dup := p.m[key]; dup {
		return 0, false
	}
	p.m[key] = &held{msg: msg, since: now}
	return key, true
}

// acker returns the acknowledgement of the message held under key, which
// was delivered as n entries.
func (p *pendingAcks) acker(s *Source, key uint64, msg jetstream.Msg, n int) *msgAck {
	return &msgAck{s: s, p: p, key: key, msg: msg, left: n}
}

// msgAck acknowledges a message once all its entries are committed: a
// crash before that redelivers the whole message (a batch's records
// already committed are then recognised by their position).
type msgAck struct {
	s   *Source
	p   *pendingAcks
	key uint64
	msg jetstream.Msg

	mu   sync.Mutex
	left int  // entries not committed yet
	nak  bool // not all entries were delivered: return the message
}

// entry returns the Ack of one entry; calls after the first do nothing.
func (a *msgAck) entry() func() {
	var once atomic.Bool
	return func() {
		if once.CompareAndSwap(false, true) {
			a.done(1)
		}
	}
}

// abandon says the last n entries will not be delivered: once the others
// are committed, the message is returned for redelivery rather than
// acknowledged.
func (a *msgAck) abandon(n int) {
	a.mu.Lock()
	a.nak = true
	a.mu.Unlock()
	a.done(n)
}

func (a *msgAck) done(n int) {
	a.mu.Lock()
	a.left -= n
	last, nak := a.left == 0, a.nak
	a.mu.Unlock()
	if !last {
		return
	}
	if nak {
		_ = a.msg.Nak() // best effort: a lost one means a redelivery after AckWait
	} else if err := a.msg.Ack(); err != nil {
		a.s.errs.Add(1)
		a.s.warn("ack", "nats: acknowledgement failed; the server will redeliver the message", "err", err)
	}
	a.p.release(a.key)
}

func (p *pendingAcks) release(key uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.m[key]; !ok {
		return
	}
	delete(p.m, key)
	if p.closing && len(p.m) == 0 {
		close(p.done)
	}
}

// extend tells the server that entries held for longer than age are still
// being worked on, restarting their AckWait.
func (p *pendingAcks) extend(now time.Time, age time.Duration) {
	var msgs []jetstream.Msg
	p.mu.Lock()
	for _, h := range p.m {
		if now.Sub(h.since) >= age {
			h.since = now
			msgs = append(msgs, h.msg)
		}
	}
	p.mu.Unlock()
	for _, m := range msgs {
		_ = m.InProgress() // best effort: a lost one means a redelivery
	}
}

// finish marks the end of delivery; the channel is closed once every
// delivered entry is acknowledged.
func (p *pendingAcks) finish() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closing = true
	if len(p.m) == 0 {
		close(p.done)
	}
	return p.done
}

func (p *pendingAcks) outstanding() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}
