package nats

import (
	"context"
	"fmt"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/logjail/logjail/ingest"
)

// runCore subscribes and waits. The library resubscribes after every
// reconnect by itself.
func (s *Source) runCore(ctx context.Context, c *conn, out chan<- ingest.Entry) error {
	handler := func(m *natsgo.Msg) { s.deliverCore(c, m, out) }
	var (
		sub *natsgo.Subscription
		err error
	)
	if s.cfg.Queue != "" {
		sub, err = c.nc.QueueSubscribe(s.cfg.Subject, s.cfg.Queue, handler)
	} else {
		sub, err = c.nc.Subscribe(s.cfg.Subject, handler)
	}
	if err != nil {
		return fmt.Errorf("nats: %s: subscribing: %w", s.desc, err)
	}
	// The callback never blocks, so the pending queue only fills when this
	// process cannot keep up at all; then the library drops (counted).
	if err := sub.SetPendingLimits(s.pendingMsgs, defaultPendingBytes); err != nil {
		sub.Unsubscribe()
		return fmt.Errorf("nats: %s: %w", s.desc, err)
	}
	s.mu.Lock()
	s.sub = sub
	s.mu.Unlock()
	defer func() {
		n, _ := sub.Dropped()
		_ = sub.Unsubscribe()
		s.mu.Lock()
		s.sub = nil
		s.subDropped += uint64(max(n, 0))
		s.mu.Unlock()
	}()

	if c.nc.IsConnected() {
		// A round trip makes sure the server has the subscription (and
		// reports a permission error now rather than silently later).
		if err := c.nc.FlushTimeout(5 * time.Second); err == nil && s.onSubscribed != nil {
			s.onSubscribed()
		}
	}
	select {
	case <-ctx.Done():
		return nil
	case <-c.closed:
		return c.closedError()
	}
}

// deliverCore hands a message's entries to the pipeline without waiting:
// core NATS has no flow control, so a full queue means an entry is dropped.
func (s *Source) deliverCore(c *conn, m *natsgo.Msg, out chan<- ingest.Entry) {
	if s.inDeliver != nil {
		s.inDeliver()
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.stopped {
		return
	}
	ds, v := s.decode(m.Header, m.Data, time.Now(), 0)
	if v != Deliver {
		return
	}
	for _, d := range ds {
		select {
		case out <- d.Entry:
			s.read.Add(1)
			s.health.Entry(d.ReadAt)
		default:
			s.dropped.Add(1)
			s.warn("full", "nats: pipeline queue full; core NATS entry dropped (counted)")
		}
	}
}
