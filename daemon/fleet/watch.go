package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	enfnats "github.com/logjail/logjail/enforce/nats"
	ingestnats "github.com/logjail/logjail/ingest/nats"
)

// ensureStreams creates the fleet's streams at start when NATS is
// reachable, so the pipelines' consumers find them at once; otherwise the
// publisher creates them when it connects.
func (f *Fleet) ensureStreams(ctx context.Context) {
	servers, opts, err := ingestnats.ConnectOptions(f.spec.NATS.Conn())
	if err != nil {
		return
	}
	nc, err := natsgo.Connect(servers, append(opts, natsgo.Timeout(2*time.Second))...)
	if err != nil {
		f.log.Warn("fleet: NATS unreachable at start; local enforcement goes on and the fleet catches up when it is back", "err", err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := f.bans.EnsureStreams(ctx, js); err != nil {
		f.log.Warn("fleet: stream setup", "err", err)
	}
}

// watchBans follows the fleet's bans until ctx is done: at start it
// replays the newest decision of every address, then applies new ones as
// they come. The ordered consumer resumes by itself after a reconnect.
func (f *Fleet) watchBans(ctx context.Context, apply func([]enfnats.Event)) {
	servers, opts, err := ingestnats.ConnectOptions(f.spec.NATS.Conn())
	if err != nil {
		f.log.Error("fleet: bans watch", "err", err)
		return
	}
	nc, err := natsgo.Connect(servers, append(opts,
		natsgo.Name("logjail fleet "+f.spec.Node),
		natsgo.MaxReconnects(-1),
		natsgo.RetryOnFailedConnect(true),
		natsgo.ReconnectWait(500*time.Millisecond),
	)...)
	if err != nil {
		f.log.Error("fleet: bans watch", "err", err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return
	}
	for ctx.Err() == nil {
		err := f.followBans(ctx, js, apply)
		if ctx.Err() != nil {
			return
		}
		f.log.Debug("fleet: bans watch restarting", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// streamCheck is how often the bans watch checks its stream.
var streamCheck = 10 * time.Second

// adoptBatch bounds the fleet decisions applied in one call of a pipeline.
const adoptBatch = 512

func (f *Fleet) followBans(ctx context.Context, js jetstream.JetStream, apply func([]enfnats.Event)) error {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	cons, err := js.OrderedConsumer(sctx, bansStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{bansSubject + ">"},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	cancel()
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	var created time.Time
	if st, err := js.Stream(ctx, bansStream); err == nil {
		created = st.CachedInfo().Created
	}
	watch, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go f.watchStream(watch, js, it, created)
	var batch []enfnats.Event
	for {
		// Wait for a message, then take what else has arrived, so a
		// replay or a wave of bans is applied in batches.
		wait := []jetstream.NextOpt{}
		if len(batch) > 0 {
			wait = append(wait, jetstream.NextMaxWait(5*time.Millisecond))
		}
		msg, err := it.Next(wait...)
		if err != nil {
			if len(batch) > 0 && (errors.Is(err, natsgo.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)) {
				apply(batch)
				batch = batch[:0]
				continue
			}
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) && ctx.Err() != nil {
				return nil
			}
			return err
		}
		ev, ok := f.event(msg)
		if !ok {
			continue
		}
		if batch = append(batch, ev); len(batch) >= adoptBatch {
			apply(batch)
			batch = batch[:0]
		}
	}
}

// watchStream stops it when the bans stream was made anew after created
// (a server back without its JetStream state starts the sequences over,
// and the ordered consumer, following them, would wait for ever), so the
// watch starts again with a replay; and when ctx is done.
func (f *Fleet) watchStream(ctx context.Context, js jetstream.JetStream, it jetstream.MessagesContext, created time.Time) {
	t := time.NewTicker(streamCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			it.Stop()
			return
		case <-t.C:
		}
		st, err := js.Stream(ctx, bansStream)
		if errors.Is(err, jetstream.ErrStreamNotFound) || err == nil && !st.CachedInfo().Created.Equal(created) {
			f.log.Warn("fleet: the bans stream was made anew; replaying it")
			it.Stop()
			return
		}
	}
}

// event decodes a ban message. This node's own decisions are replayed
// too: after its state was lost, they come back from the fleet like any
// other.
func (f *Fleet) event(msg jetstream.Msg) (enfnats.Event, bool) {
	var ev enfnats.Event
	if err := json.Unmarshal(msg.Data(), &ev); err != nil {
		f.log.Warn("fleet: malformed ban message skipped", "subject", msg.Subject(), "err", err)
		return ev, false
	}
	// The server's time of the message orders it against this node's own
	// bans; the deciding node's clock may be off.
	ev.Received = ev.Time
	if md, err := msg.Metadata(); err == nil {
		ev.Received = md.Timestamp
	}
	return ev, true
}
