package daemon

import (
	"context"
	"errors"
	"time"

	"github.com/logjail/logjail/ingest"
)

// feed runs src until ctx is done, its entries going to the match stage in
// batches: a batch source's as it sends them; the entries of a source that
// sends them one by one through queue, gathered into batches of what is
// waiting.
func (r *runner) feed(ctx context.Context, src ingest.Source, queue chan ingest.Entry) {
	if bs, ok := src.(ingest.BatchSource); ok {
		r.supervise(ctx, src, func(ctx context.Context) error { return bs.RunBatches(ctx, r.in) })
		return
	}
	gathered := make(chan struct{})
	go func() {
		defer close(gathered)
		r.gather(queue)
	}()
	r.supervise(ctx, src, func(ctx context.Context) error { return src.Run(ctx, queue) })
	// The source has stopped: what it left in the queue is still handed
	// on (see drain).
	close(queue)
	<-gathered
}

// gather hands the entries of queue to the match stage until queue is
// closed, in batches of whatever is waiting when the stage takes one: a
// lone entry goes at once, a flood in full batches.
func (r *runner) gather(queue <-chan ingest.Entry) {
	for e := range queue {
		b := append(ingest.NewBatch(), e)
	more:
		for len(b) < ingest.BatchSize {
			select {
			case e, ok := <-queue:
				if !ok {
					break more
				}
				b = append(b, e)
			default:
				break more
			}
		}
		r.in <- b
	}
}

// supervise runs a source (through run) and restarts it with backoff when
// it fails.
func (r *runner) supervise(ctx context.Context, src ingest.Source, run func(context.Context) error) {
	backoff := time.Second
	for {
		started := time.Now()
		err := run(ctx)
		if time.Since(started) > time.Minute {
			backoff = time.Second // it ran well for a while: a new failure, not the same one
		}
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("stopped unexpectedly")
		}
		r.log.Error("source failed; restarting", "source", src.Describe(), "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Minute)
	}
}

// queueDepth counts the entries waiting between the sources and the
// runner: in the sources' queues and in the match stage (the batches
// between a batch source and the stage are not counted: a few at most).
func (r *runner) queueDepth() int64 {
	n := r.stage.queued.Load()
	for _, q := range r.queues {
		n += int64(len(q))
	}
	return n
}
