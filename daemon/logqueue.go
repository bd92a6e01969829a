package daemon

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// logQueue formats and writes a runner's found and ban lines on a
// goroutine of its own, in the order they were made: in a flood, a line
// for each failure formatted on the runner made the log most of the
// runner's work, and the runner is the pipeline's one serial stage. It
// holds at most logQueueMax records; beyond, the runner waits, as it
// waited for a slow log before.
type logQueue struct {
	mu      sync.Mutex
	room    *sync.Cond // signalled when the writer takes what waits
	pending []queuedRecord
	spare   []queuedRecord // the writer's slice, given back empty
	wake    chan struct{}  // one token: pending has records
	stopped bool
	done    chan struct{}
}

// logQueueMax bounds the records a logQueue holds (a few MiB).
const logQueueMax = 8192

type queuedRecord struct {
	h slog.Handler
	r slog.Record
}

func startLogQueue() *logQueue {
	q := &logQueue{wake: make(chan struct{}, 1), done: make(chan struct{})}
	q.room = sync.NewCond(&q.mu)
	go q.write()
	return q
}

// handle queues r for h; after stop it writes it at once.
func (q *logQueue) handle(h slog.Handler, r slog.Record) {
	q.mu.Lock()
	for !q.stopped && len(q.pending) >= logQueueMax {
		q.room.Wait()
	}
	if q.stopped {
		q.mu.Unlock()
		<-q.done // every queued record is out first
		_ = h.Handle(context.Background(), r)
		return
	}
	q.pending = append(q.pending, queuedRecord{h: h, r: r.Clone()})
	select {
	case q.wake <- struct{}{}: // under mu: stop closes wake under it too
	default:
	}
	q.mu.Unlock()
}

// write is the queue's goroutine: it hands what waits to the handlers
// until stop, and what waits then.
func (q *logQueue) write() {
	defer close(q.done)
	for range q.wake {
		q.flush()
	}
	q.flush()
}

// flush hands the records waiting to their handlers.
func (q *logQueue) flush() {
	q.mu.Lock()
	batch := q.pending
	q.pending, q.spare = q.spare, nil
	q.room.Broadcast()
	q.mu.Unlock()
	for i := range batch {
		_ = batch[i].h.Handle(context.Background(), batch[i].r) // as Logger.Info: an error is not reported
		batch[i] = queuedRecord{}
	}
	q.mu.Lock()
	q.spare = batch[:0]
	q.mu.Unlock()
}

// handleLog hands a record the runner made to the runner's log queue, or
// to h at once when none runs (before and after run).
func (r *runner) handleLog(h slog.Handler, rec slog.Record) {
	if r.logq != nil {
		r.logq.handle(h, rec)
		return
	}
	_ = h.Handle(context.Background(), rec) // as Logger.Info: an error is not reported
}

// stop writes what waits and ends the goroutine; records handled later
// are written at once.
func (q *logQueue) stop() {
	q.mu.Lock()
	q.stopped = true
	q.room.Broadcast()
	close(q.wake)
	q.mu.Unlock()
	<-q.done
}

// logInfo logs msg at info level, as Logger.Info would, on the runner's
// log queue: in order with the found and ban lines.
func (r *runner) logInfo(msg string, attrs ...slog.Attr) {
	h := r.log.Handler()
	if !h.Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	rec := slog.NewRecord(time.Now(), slog.LevelInfo, msg, 0)
	rec.AddAttrs(attrs...)
	r.handleLog(h, rec)
}
