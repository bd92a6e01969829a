// Package nats reads log records from NATS subjects for logjail.
//
// Two modes:
//
//   - Core NATS (the default) subscribes to a subject, optionally in a queue
//     group. Core NATS is at-most-once and cannot wait: when the pipeline's
//     queue is full a message is dropped and counted (Stats.Dropped), as are
//     messages the client library drops when the subscription's pending
//     limits are hit (slow consumer).
//   - JetStream consumes an existing stream through a durable pull consumer
//     with explicit acknowledgement. Delivery waits for the pipeline
//     (backpressure), and each Entry carries an Ack that the pipeline calls
//     once the entry's effects are committed; only then is the message
//     acknowledged, so a crash redelivers instead of losing.
//
// A payload is a raw log line or a JSON envelope, recognised automatically
// by its keys (payload.go), in the shapes log shippers send:
//
//   - journalctl -o json (MESSAGE, _HOSTNAME, SYSLOG_IDENTIFIER, _PID, ...;
//     also Vector's journald source, which renames MESSAGE, _HOSTNAME and
//     the time to message, host and timestamp): built by package
//     journalfields as the journald source builds entries, every field
//     kept in Entry.Fields within the same bounds;
//   - Vector's syslog source (timestamp, hostname, appname, procid,
//     message) and Fluent Bit's syslog parsers (time, host, ident, pid,
//     message): laid out by ingest.Layout, the other scalar fields kept in
//     Entry.Fields;
//   - {"time": RFC 3339, "host": "...", "message": "..."}: the message is
//     already a line ("sshd[PID]: ..."), cleaned by ingest.Layout but not
//     given a host; the host becomes Entry.Host.
//
// Anything else, including malformed JSON and JSON objects without a string
// "message" (a JSON-formatted application log line), is a raw line and
// counts as nothing special. A raw line's Message is the payload without
// its trailing newline (and carriage return), made valid UTF-8, NULs
// removed; its Time stays zero, so the match stage finds the date in the
// line. An envelope's time, when present and valid, becomes Entry.Time; a
// time that cannot be read, or a laid-out field of the wrong type, is
// counted in Stats.Errors and left out. A journal envelope without a usable
// MESSAGE is skipped and counted (Stats.Skipped). Payloads over 64 KiB are
// skipped and counted (Stats.Skipped); with JetStream, skipped payloads are
// terminated (Term) so that they are not redelivered.
//
// Fluent Bit's own nats output sends batches, [[time, {record}], ...] in
// one message: each record (up to 1024) is one entry, decoded as the same
// object alone would be, dated by the batch's time when it has no time of
// its own; the elements that are not usable records are skipped and counted
// one by one. With JetStream the message is acknowledged once, when the
// Acks of all its entries were called; every entry of a batch but the last
// carries a Position saying how many of its records are committed, the last
// one that the whole message is, so that a batch redelivered after a crash
// between two of the pipeline's commits delivers only the records not
// committed yet.
//
// The connection reconnects forever with backoff and jitter, also when the
// first connection attempt fails; Stats.Reason follows it ("connected",
// "disconnected", "reconnecting", with the last error) and Stats.State
// maps it: connected is reading; a connection being made for the first
// time, or a source not running, is waiting; a connection lost or never
// made (reconnecting after a failed attempt) and a Run that failed are
// errors. Core subscriptions are renewed by the
// client library after a reconnect; a JetStream consumer pulls again.
//
// JetStream details. The stream must exist (logjail never creates streams;
// Run returns an error naming it). The durable consumer is created when
// missing (AckExplicit, deliver all, AckWait 30s, MaxAckPending 4096, filter
// = the subject) and its AckWait, MaxAckPending and filter are updated when
// present; a push consumer or one without explicit acks is refused. Delivery
// is at least once: entries the pipeline holds are kept from redelivery by
// progress acknowledgements (+WPI) every AckWait/3, and a redelivery of an
// entry still held is ignored; a crash between the pipeline's commit and the
// acknowledgements reaching the server redelivers those entries (at most
// one commit interval's worth). When Run stops, messages pulled but not yet
// delivered are returned (Nak) for immediate redelivery, and the connection
// stays open (up to 10s) after Run returns for the acknowledgements of
// entries still in the pipeline, which the daemon commits after its
// sources stopped. Without UsePositions entries carry no Position: the
// consumer's state on the server is the position.
package nats

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/logjail/logjail/ingest"
)

const (
	// MaxPayload is the largest payload delivered; larger ones are skipped.
	MaxPayload = 64 << 10

	defaultAckWait       = 30 * time.Second
	defaultMaxAckPending = 4096
	// pullBatch is how many messages one pull asks for. Pulled messages
	// wait in the client until the pipeline takes them, and their AckWait
	// runs meanwhile, so the batch is kept small.
	pullBatch = 128

	defaultPendingMsgs  = 64 << 10
	defaultPendingBytes = 64 << 20

	defaultReconnectBase = 250 * time.Millisecond
	reconnectMax         = 10 * time.Second
	setupTimeout         = 10 * time.Second

	// linger is how long a JetStream connection stays open after Run
	// returns, for the acknowledgements of entries still in the pipeline
	// (the pipeline commits and acknowledges after its sources stopped).
	defaultLinger = 10 * time.Second
	// nakTimeout bounds returning pulled-but-undelivered messages at stop.
	nakTimeout = time.Second
	// flushTimeout bounds the final flush before closing.
	flushTimeout = 2 * time.Second

	warnEvery = time.Minute

	stateConnected    = "connected"
	stateDisconnected = "disconnected"
	stateReconnecting = "reconnecting"
)

// Source reads one subject (or stream). It implements ingest.Source.
type Source struct {
	cfg     Config
	servers string
	opts    []natsgo.Option
	desc    string
	log     *slog.Logger
	running atomic.Bool

	read, skipped, dropped, errs atomic.Uint64
	health                       ingest.Health // the last entry's time

	mu         sync.Mutex
	state      string
	lastErr    string               // why the connection is down, while it is
	runErr     string               // why the last Run failed, until Run starts again
	current    *conn                // the connection of the active Run
	sub        *natsgo.Subscription // the active core subscription
	subDropped uint64               // slow-consumer drops of earlier subscriptions
	lastWarn   map[string]time.Time // rate limit of repeated warnings
	suppressed map[string]int

	// positions, when set (UsePositions), holds the stream sequences
	// committed by earlier runs; committed is what was read of it.
	positions ingest.Positions
	committed map[uint64]int

	// Settings tests shorten or shrink.
	ackWait       time.Duration
	maxAckPending int
	linger        time.Duration
	pendingMsgs   int
	reconnectBase time.Duration
	consumerCheck time.Duration

	// Test hooks, called on library goroutines when set.
	onState      func(string) // every state change
	onSubscribed func()       // core: subscription confirmed by the server; JetStream: consuming
	inDeliver    func()       // core: at the start of each message callback
	onClosed     func()       // the connection of a finished Run was closed
}

var _ ingest.Source = (*Source)(nil)

// New checks cfg and returns a Source. It does not connect; Run does. log
// may be nil (discard).
func New(cfg Config, log *slog.Logger) (*Source, error) {
	if cfg.JetStream != nil {
		js := *cfg.JetStream
		cfg.JetStream = &js
	}
	p, err := prepare(&cfg)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{
		cfg:           cfg,
		servers:       p.servers,
		opts:          p.opts,
		desc:          p.desc,
		log:           log,
		state:         stateDisconnected,
		lastWarn:      map[string]time.Time{},
		suppressed:    map[string]int{},
		ackWait:       defaultAckWait,
		maxAckPending: defaultMaxAckPending,
		linger:        defaultLinger,
		pendingMsgs:   defaultPendingMsgs,
		reconnectBase: defaultReconnectBase,
		consumerCheck: 10 * time.Second,
	}, nil
}

// Describe says what is read, e.g.
// "nats nats://127.0.0.1:4222 logs.sshd (jetstream LOGS/logjail-sshd)".
// It never includes credentials.
func (s *Source) Describe() string { return s.desc }

// Stats returns the counters; safe to call from any goroutine.
func (s *Source) Stats() ingest.Stats {
	s.mu.Lock()
	state, reason := s.condition()
	slow := s.subDropped
	if s.sub != nil {
		if n, err := s.sub.Dropped(); err == nil && n > 0 {
			slow += uint64(n)
		}
	}
	s.mu.Unlock()
	return ingest.Stats{
		Read:      s.read.Load(),
		Skipped:   s.skipped.Load(),
		Dropped:   s.dropped.Load() + slow,
		Errors:    s.errs.Load(),
		State:     state,
		Reason:    reason,
		LastEntry: s.health.LastEntry(),
	}
}

// condition maps the connection state to the source's state; s.mu is held.
func (s *Source) condition() (ingest.State, string) {
	switch {
	case s.state == stateConnected:
		return ingest.StateReading, stateConnected
	case s.runErr != "":
		return ingest.StateError, s.runErr
	case s.lastErr != "":
		return ingest.StateError, s.state + ": " + s.lastErr
	case s.state == stateReconnecting:
		return ingest.StateError, s.state
	}
	return ingest.StateWaiting, s.state
}

// ran records how Run ended: the error is the source's until Run starts
// again.
func (s *Source) ran(err error) error {
	s.mu.Lock()
	s.lastErr = ""
	if err != nil {
		s.runErr = err.Error()
	}
	s.mu.Unlock()
	return err
}

// connError records why c, the current connection, is down; nil when it
// is up.
func (s *Source) connError(c *conn, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current != c {
		return
	}
	s.lastErr = ""
	if err != nil {
		s.lastErr = err.Error()
	}
}

// Run reads until ctx is done, then returns nil. Only one Run may be active
// at a time. It returns an error for what retrying cannot fix by itself:
// the connection was closed by the client library (for example after the
// server rejected the credentials twice), the stream does not exist, the
// server refused the consumer. A server that cannot be reached is not such
// an error: Run keeps trying, with backoff, and Stats.State says so.
func (s *Source) Run(ctx context.Context, out chan<- ingest.Entry) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("nats: Run is already running")
	}
	defer s.running.Store(false)

	c := newConn(s)
	s.mu.Lock()
	s.current = c
	s.runErr, s.lastErr = "", ""
	s.mu.Unlock()
	s.setState(c, stateDisconnected)

	nc, err := natsgo.Connect(s.servers, s.connectOptions(c)...)
	if err != nil {
		// With RetryOnFailedConnect only bad options end up here.
		s.detach(c)
		return s.ran(errors.New("nats: " + s.desc + ": " + err.Error()))
	}
	c.nc = nc // a failed first attempt is logged by the reconnect handler

	if s.cfg.JetStream == nil {
		err = s.runCore(ctx, c, out)
		c.stop()
		s.detach(c)
		c.close(false)
		return s.ran(err)
	}
	p := newPendingAcks()
	err = s.runJetStream(ctx, c, out, p)
	c.stop()
	s.detach(c)
	// Entries still in the pipeline are acknowledged through this
	// connection after Run returns; close it when they all are, or after
	// the linger time (the rest is redelivered after AckWait).
	done := p.finish()
	select {
	case <-done:
		c.close(true)
	default:
		go func() {
			t := time.NewTimer(s.linger)
			defer t.Stop()
			select {
			case <-done:
			case <-t.C:
				s.log.Debug("nats: closing with unacknowledged entries; the server will redeliver them", "source", s.desc, "count", p.outstanding())
			}
			c.close(true)
		}()
	}
	return s.ran(err)
}

// detach makes c no longer the current connection: its handlers stop
// touching the state.
func (s *Source) detach(c *conn) {
	s.mu.Lock()
	changed := false
	if s.current == c {
		s.current = nil
		changed = s.state != stateDisconnected
		s.state = stateDisconnected
	}
	s.mu.Unlock()
	if changed && s.onState != nil {
		s.onState(stateDisconnected)
	}
}

func (s *Source) setState(c *conn, st string) {
	s.mu.Lock()
	if s.current != c || s.state == st {
		s.mu.Unlock()
		return
	}
	s.state = st
	s.mu.Unlock()
	if s.onState != nil {
		s.onState(st)
	}
}

// warn logs a recurring problem at most once per warnEvery per key, and
// at debug level in between.
func (s *Source) warn(key, msg string, args ...any) {
	now := time.Now()
	s.mu.Lock()
	last, seen := s.lastWarn[key]
	loud := !seen || now.Sub(last) >= warnEvery
	var n int
	if loud {
		s.lastWarn[key] = now
		n = s.suppressed[key]
		s.suppressed[key] = 0
	} else {
		s.suppressed[key]++
	}
	s.mu.Unlock()
	args = append([]any{"source", s.desc}, args...)
	if !loud {
		s.log.Debug(msg, args...)
		return
	}
	if n > 0 {
		args = append(args, "repeated", n)
	}
	s.log.Warn(msg, args...)
}

// backoff is the reconnect delay after the n-th pass over the server list:
// doubling from reconnectBase up to reconnectMax, with ±25 % jitter so that
// a fleet does not reconnect in lockstep.
func (s *Source) backoff(n int) time.Duration {
	d := s.reconnectBase << min(max(n-1, 0), 16)
	if d <= 0 || d > reconnectMax {
		d = reconnectMax
	}
	return d*3/4 + rand.N(d/2+1)
}

func (s *Source) connectOptions(c *conn) []natsgo.Option {
	opts := []natsgo.Option{
		natsgo.Name("logjail"),
		natsgo.MaxReconnects(-1),
		natsgo.RetryOnFailedConnect(true),
		natsgo.CustomReconnectDelay(s.backoff),
		natsgo.PingInterval(20 * time.Second),
		natsgo.MaxPingsOutstanding(3),
		natsgo.NoCallbacksAfterClientClose(),
		natsgo.ConnectHandler(func(nc *natsgo.Conn) {
			s.connError(c, nil)
			s.setState(c, stateConnected)
			c.markUp(true)
			s.log.Info("nats: connected", "source", s.desc, "server", nc.ConnectedUrlRedacted())
		}),
		natsgo.ReconnectHandler(func(nc *natsgo.Conn) {
			s.connError(c, nil)
			s.setState(c, stateConnected)
			c.markUp(true)
			s.log.Info("nats: reconnected", "source", s.desc, "server", nc.ConnectedUrlRedacted())
		}),
		natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) {
			s.setState(c, stateDisconnected)
			c.markUp(false)
			if err == nil {
				err = errors.New("connection lost")
			}
			s.connError(c, err)
			s.log.Warn("nats: disconnected; reconnecting", "source", s.desc, "err", err)
		}),
		natsgo.ReconnectErrHandler(func(_ *natsgo.Conn, err error) {
			s.connError(c, err)
			s.setState(c, stateReconnecting)
			s.warn("connect", "nats: cannot connect; retrying", "err", err)
		}),
		natsgo.ClosedHandler(func(nc *natsgo.Conn) {
			s.setState(c, stateDisconnected)
			c.markClosed(nc.LastError())
		}),
		natsgo.ErrorHandler(func(_ *natsgo.Conn, sub *natsgo.Subscription, err error) {
			if errors.Is(err, natsgo.ErrSlowConsumer) {
				s.warn("slow", "nats: client dropping messages (slow consumer; counted as dropped)")
				return
			}
			s.errs.Add(1)
			s.warn("async:"+err.Error(), "nats: server reported an error", "err", err)
		}),
	}
	return append(opts, s.opts...)
}

// conn is the connection of one Run.
type conn struct {
	s  *Source
	nc *natsgo.Conn

	// stopped, under mu, keeps core callbacks from delivering after Run.
	mu      sync.RWMutex
	stopped bool

	upMu     sync.Mutex
	up       chan struct{} // closed while connected
	closed   chan struct{} // closed when the library closed the connection
	closeErr error
	once     sync.Once
	ncOnce   sync.Once
}

func newConn(s *Source) *conn {
	return &conn{s: s, up: make(chan struct{}), closed: make(chan struct{})}
}

func (c *conn) markUp(up bool) {
	c.upMu.Lock()
	defer c.upMu.Unlock()
	select {
	case <-c.up:
		if !up {
			c.up = make(chan struct{})
		}
	default:
		if up {
			close(c.up)
		}
	}
}

// upCh returns a channel that is closed while connected.
func (c *conn) upCh() <-chan struct{} {
	c.upMu.Lock()
	defer c.upMu.Unlock()
	return c.up
}

func (c *conn) markClosed(err error) {
	c.once.Do(func() {
		c.upMu.Lock()
		c.closeErr = err
		c.upMu.Unlock()
		close(c.closed)
	})
}

// closedError describes why the library closed the connection.
func (c *conn) closedError() error {
	c.upMu.Lock()
	err := c.closeErr
	c.upMu.Unlock()
	if err == nil {
		return errors.New("nats: " + c.s.desc + ": connection closed")
	}
	return errors.New("nats: " + c.s.desc + ": connection closed: " + err.Error())
}

// stop keeps further core callbacks from delivering; it waits for one in
// progress (they never block).
func (c *conn) stop() {
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
}

// close closes the connection, with flush after a round trip to the
// server, so that buffered acknowledgements are known to have arrived.
func (c *conn) close(flush bool) {
	c.ncOnce.Do(func() {
		if flush && c.nc.IsConnected() {
			_ = c.nc.FlushTimeout(flushTimeout)
		}
		c.nc.Close()
		if c.s.onClosed != nil {
			c.s.onClosed()
		}
	})
}
