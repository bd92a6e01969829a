package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	ingestnats "github.com/logjail/logjail/ingest/nats"
	"github.com/logjail/logjail/state/store"
)

// Outbox is the part of the state store a Publisher sends from.
type Outbox interface {
	OutboxPeek(sink string, max int) ([]store.OutboxItem, error)
	OutboxDelete(sink string, seq uint64) error
	OutboxLen(sink string) int
	OutboxDropped(sink string) uint64
	SetOutboxLimit(sink string, n int)
}

// StreamSpec is a JetStream stream the publisher makes sure exists.
type StreamSpec struct {
	Name     string
	Subjects []string
	// MaxAge is the shortest retention acceptable (0: unlimited). A stream
	// that keeps messages for less is given this age; a longer one is left
	// alone.
	MaxAge time.Duration
	// MaxMsgsPerSubject keeps only the newest messages of each subject
	// (0: no limit).
	MaxMsgsPerSubject int64
	// Replicas is how many servers of a cluster keep the stream (0: 1).
	// An existing stream with fewer is raised to it; one with more is left
	// alone.
	Replicas int
}

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	// Conn is the server and credentials (url, creds, nkey, user,
	// password, token, tls), as for a nats source; Subject and JetStream
	// are not used.
	Conn ingestnats.Config
	// Sink names the outbox queue this publisher drains.
	Sink string
	// JetStream publishes with JetStream acknowledgements: a record leaves
	// the outbox only once a stream stored it. Streams are created (or
	// their retention raised) at every connection.
	JetStream bool
	Streams   []StreamSpec
	// MaxBuffer bounds the outbox (default store.DefaultOutboxLimit); when
	// NATS is unreachable for so long that it fills, the oldest records are
	// dropped and counted.
	MaxBuffer int
}

// Stats are a publisher's counters.
type Stats struct {
	Sent    uint64 // messages the server acknowledged
	Errors  uint64 // failed publish rounds (retried)
	Pending int    // records waiting in the outbox
	Dropped uint64 // records dropped because the outbox was full
	State   string // connected, disconnected, reconnecting
}

// Publisher sends a sink's outbox to NATS, oldest first, deleting each
// record once the server has it. It retries for ever: records written while
// NATS is unreachable are sent when it returns.
type Publisher struct {
	cfg     PublisherConfig
	servers string
	opts    []natsgo.Option
	store   Outbox
	log     *slog.Logger

	wake       chan struct{}
	sent, errs atomic.Uint64
	state      atomic.Value // string

	warnMu   sync.Mutex
	lastWarn time.Time

	// streamsMu guards cfg.Streams, which SetStreams replaces.
	streamsMu sync.Mutex
	restream  atomic.Bool
}

// SetStreams replaces the streams to make sure of (a reload); they are set
// up at the next round.
func (p *Publisher) SetStreams(s []StreamSpec) {
	p.streamsMu.Lock()
	p.cfg.Streams = s
	p.streamsMu.Unlock()
	p.restream.Store(true)
	p.Notify()
}

const (
	batchSize  = 256
	ackTimeout = 5 * time.Second
	retryEvery = time.Second
	warnEvery  = 30 * time.Second
	dupWindow  = 10 * time.Minute
	// ensureEvery spaces the attempts to set the streams up.
	ensureEvery = 5 * time.Second
)

// ensureTimeout bounds a round of stream setup (a var for tests).
var ensureTimeout = 10 * time.Second

// NewPublisher checks cfg; Run connects.
func NewPublisher(cfg PublisherConfig, store Outbox, log *slog.Logger) (*Publisher, error) {
	servers, opts, err := ingestnats.ConnectOptions(cfg.Conn)
	if err != nil {
		return nil, err
	}
	if cfg.Sink == "" {
		return nil, errors.New("nats publisher without a sink")
	}
	for _, s := range cfg.Streams {
		if err := ingestnats.CheckName(s.Name); err != nil {
			return nil, fmt.Errorf("nats: stream: %q: %w", s.Name, err)
		}
	}
	if cfg.MaxBuffer > 0 {
		store.SetOutboxLimit(cfg.Sink, cfg.MaxBuffer)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Publisher{cfg: cfg, servers: servers, opts: opts, store: store, log: log.With("nats", servers, "sink", cfg.Sink), wake: make(chan struct{}, 1)}
	p.state.Store("disconnected")
	return p, nil
}

// Notify tells the publisher that records were committed.
func (p *Publisher) Notify() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Sink is the outbox queue the publisher drains.
func (p *Publisher) Sink() string { return p.cfg.Sink }

// Stats returns the counters.
func (p *Publisher) Stats() Stats {
	return Stats{
		Sent:    p.sent.Load(),
		Errors:  p.errs.Load(),
		Pending: p.store.OutboxLen(p.cfg.Sink),
		Dropped: p.store.OutboxDropped(p.cfg.Sink),
		State:   p.state.Load().(string),
	}
}

// Run publishes until ctx is done. When it is, what can be sent within a
// few seconds is sent; the rest stays in the outbox for the next start.
func (p *Publisher) Run(ctx context.Context) error {
	nc, err := natsgo.Connect(p.servers, p.connectOptions()...)
	if err != nil {
		return fmt.Errorf("nats %s: %w", p.servers, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	tick := time.NewTicker(retryEvery)
	defer tick.Stop()
	// Stream setup runs beside the publishing: while a cluster elects a
	// new stream leader a setup request can wait for seconds, and the
	// publishing must go on retrying meanwhile.
	// The first setup is waited for, so that the first records do not
	// fail for want of a stream about to be made.
	ensured, ensuring, settled := false, false, false
	ensureDone := make(chan error, 1)
	var lastEnsure time.Time
	for {
		if nc.IsConnected() {
			// A new stream spec (a reload) is taken once no setup is in
			// flight: one running now may have read the old spec, and its
			// end must not count as the new one's.
			if !ensuring && p.restream.Swap(false) {
				ensured, lastEnsure = false, time.Time{}
			}
			if !ensured && !ensuring && p.cfg.JetStream && time.Since(lastEnsure) >= ensureEvery {
				lastEnsure, ensuring = time.Now(), true
				go func() { ensureDone <- p.EnsureStreams(ctx, js) }()
			}
			// A stream that cannot be created or updated (a user allowed
			// to publish only) is no reason not to publish: the server
			// may well store the messages.
			if (settled || !ensuring) && !p.publish(ctx, nc, js) {
				ensured = false // the stream may have been deleted
			}
		}
		select {
		case <-ctx.Done():
			if ensuring {
				<-ensureDone
			}
			p.finish(nc, js)
			return nil
		case err := <-ensureDone:
			ensuring, settled = false, true
			if err != nil {
				p.errs.Add(1)
				p.warn("nats publisher: stream setup failed; publishing anyway and retrying", "err", err)
			} else {
				ensured = true
			}
		case <-p.wake:
		case <-tick.C:
		}
	}
}

// connectOptions are the client's options: reconnect for ever, no buffer
// but the outbox, the connection's state kept for Stats.
func (p *Publisher) connectOptions() []natsgo.Option {
	return append([]natsgo.Option{
		natsgo.Name("logjail publisher"),
		natsgo.MaxReconnects(-1),
		natsgo.RetryOnFailedConnect(true),
		natsgo.ReconnectWait(500 * time.Millisecond),
		// The outbox is the buffer; the client's own in-memory one would
		// only hide a lost connection.
		natsgo.ReconnectBufSize(-1),
		natsgo.NoCallbacksAfterClientClose(),
		natsgo.ConnectHandler(func(*natsgo.Conn) { p.up("connected") }),
		natsgo.ReconnectHandler(func(*natsgo.Conn) { p.up("reconnected") }),
		natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) {
			p.state.Store("disconnected")
			p.log.Warn("nats publisher disconnected; records are kept in the outbox", "err", err)
		}),
		natsgo.ReconnectErrHandler(func(_ *natsgo.Conn, err error) {
			p.state.Store("reconnecting")
			p.warn("nats publisher cannot connect; retrying", "err", err)
		}),
	}, p.opts...)
}

// publish sends what the outbox holds; false when that failed (counted
// and logged, retried on the next round).
func (p *Publisher) publish(ctx context.Context, nc *natsgo.Conn, js jetstream.JetStream) bool {
	err := p.flush(ctx, nc, js)
	if err == nil || ctx.Err() != nil {
		return true
	}
	p.errs.Add(1)
	p.warn("nats publisher: publishing failed; retrying", "err", err)
	return false
}

// finish sends, as Run ends, what can go within a few seconds; the rest
// waits in the outbox for the next start.
func (p *Publisher) finish(nc *natsgo.Conn, js jetstream.JetStream) {
	if nc.IsConnected() {
		final, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_ = p.flush(final, nc, js)
		cancel()
	}
	if n := p.store.OutboxLen(p.cfg.Sink); n > 0 {
		p.log.Info("nats publisher stopped; records kept for the next start", "pending", n)
	}
}

func (p *Publisher) up(how string) {
	p.state.Store("connected")
	p.log.Info("nats publisher " + how)
	p.Notify()
}

// flush sends the outbox until it is empty or a round fails.
func (p *Publisher) flush(ctx context.Context, nc *natsgo.Conn, js jetstream.JetStream) error {
	for ctx.Err() == nil {
		items, err := p.store.OutboxPeek(p.cfg.Sink, batchSize)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return nil
		}
		var last uint64
		var sendErr error
		if p.cfg.JetStream {
			last, sendErr = p.sendJetStream(ctx, js, items)
		} else {
			last, sendErr = p.sendCore(nc, items)
		}
		if last != 0 {
			if err := p.store.OutboxDelete(p.cfg.Sink, last); err != nil {
				return err
			}
		}
		if sendErr != nil {
			return sendErr
		}
	}
	return ctx.Err()
}

func message(it store.OutboxItem) *natsgo.Msg {
	m := natsgo.NewMsg(it.Subject)
	m.Data = it.Data
	for k, v := range it.Header {
		m.Header.Set(k, v)
	}
	if it.MsgID != "" {
		m.Header.Set(jetstream.MsgIDHeader, it.MsgID)
	}
	return m
}

// sendCore publishes a batch and waits for the server to have read it
// (a flush round trip). It returns the last sequence sent.
func (p *Publisher) sendCore(nc *natsgo.Conn, items []store.OutboxItem) (uint64, error) {
	for _, it := range items {
		if err := nc.PublishMsg(message(it)); err != nil {
			return 0, err
		}
	}
	if err := nc.FlushTimeout(ackTimeout); err != nil {
		return 0, err
	}
	p.sent.Add(uint64(len(items)))
	return items[len(items)-1].Seq, nil
}

// sendJetStream publishes a batch asynchronously and returns the last
// sequence of the acknowledged prefix: a record is deleted only when it and
// every one before it are stored, so the order survives retries.
func (p *Publisher) sendJetStream(ctx context.Context, js jetstream.JetStream, items []store.OutboxItem) (uint64, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(items))
	var pubErr error
	for _, it := range items {
		f, err := js.PublishMsgAsync(message(it))
		if err != nil {
			pubErr = err
			break
		}
		futures = append(futures, f)
	}
	timeout := time.NewTimer(ackTimeout)
	defer timeout.Stop()
	var last uint64
	for i, f := range futures {
		select {
		case <-f.Ok():
			last = items[i].Seq
			p.sent.Add(1)
		case err := <-f.Err():
			return last, err
		case <-timeout.C:
			return last, errors.New("no acknowledgement from JetStream within 5s")
		case <-ctx.Done():
			return last, ctx.Err()
		}
	}
	return last, pubErr
}

// EnsureStreams creates the configured streams, or raises the retention of
// existing ones to what the bans need.
func (p *Publisher) EnsureStreams(ctx context.Context, js jetstream.JetStream) error {
	ctx, cancel := context.WithTimeout(ctx, ensureTimeout)
	defer cancel()
	p.streamsMu.Lock()
	streams := p.cfg.Streams
	p.streamsMu.Unlock()
	for _, want := range streams {
		s, err := js.Stream(ctx, want.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			_, err = js.CreateStream(ctx, jetstream.StreamConfig{
				Name:              want.Name,
				Description:       "logjail",
				Subjects:          want.Subjects,
				MaxAge:            want.MaxAge,
				MaxMsgsPerSubject: want.MaxMsgsPerSubject,
				Storage:           jetstream.FileStorage,
				Duplicates:        min(dupWindow, ageOr(want.MaxAge, dupWindow)),
				Replicas:          max(want.Replicas, 1),
			})
			if err != nil {
				return fmt.Errorf("creating stream %s: %w", want.Name, err)
			}
			p.log.Info("nats: created stream", "stream", want.Name, "subjects", want.Subjects, "max_age", want.MaxAge, "replicas", max(want.Replicas, 1))
			continue
		}
		if err != nil {
			return fmt.Errorf("stream %s: %w", want.Name, err)
		}
		cfg := s.CachedInfo().Config
		changed := false
		if cfg.MaxAge != 0 && (want.MaxAge == 0 || cfg.MaxAge < want.MaxAge) {
			cfg.MaxAge = want.MaxAge
			changed = true
		}
		if cfg.Replicas < want.Replicas {
			cfg.Replicas = want.Replicas
			changed = true
		}
		for _, subj := range want.Subjects {
			if !slices.Contains(cfg.Subjects, subj) {
				cfg.Subjects = append(cfg.Subjects, subj)
				changed = true
			}
		}
		if !changed {
			continue
		}
		if _, err := js.UpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("updating stream %s (max age %s, subjects %v, replicas %d): %w", want.Name, cfg.MaxAge, cfg.Subjects, cfg.Replicas, err)
		}
		p.log.Info("nats: updated stream", "stream", want.Name, "subjects", cfg.Subjects, "max_age", cfg.MaxAge, "replicas", cfg.Replicas)
	}
	return nil
}

func ageOr(age, def time.Duration) time.Duration {
	if age <= 0 {
		return def
	}
	return age
}

// warn logs at most once per warnEvery, so a long outage is not a flood.
func (p *Publisher) warn(msg string, args ...any) {
	p.warnMu.Lock()
	now := time.Now()
	if now.Sub(p.lastWarn) < warnEvery {
		p.warnMu.Unlock()
		return
	}
	p.lastWarn = now
	p.warnMu.Unlock()
	p.log.Warn(msg, args...)
}
