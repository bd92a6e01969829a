package daemon

import (
	"context"
	"sync"

	"github.com/logjail/logjail/enforce"
	"github.com/logjail/logjail/state"
)

// enforceQueueMost bounds the decisions waiting for the enforcers: past
// it the runner waits, so a slow enforcer (an exec action) holds the
// memory, the stop and the control commands that wait for their decisions
// to a fraction of a second of the firewall's work.
const enforceQueueMost = 64 * enforceBatch

// enforceQueue applies a runner's decisions on a goroutine of its own, in
// the order they were decided: the runner goes on matching and deciding
// while the firewall's netlink batches and the exec actions run, and the
// decisions queued meanwhile go together in the next batch. A ban and a
// later unban of the same address never swap. The goroutine runs only
// while there is work.
type enforceQueue struct {
	apply func([]state.Decision) // with the errors counted; on the goroutine

	mu        sync.Mutex
	roomy     sync.Cond // broadcast as decisions are applied
	items     []queued
	running   bool // the goroutine runs: items wait or are being applied
	unapplied int  // decisions queued or being applied

	buf []state.Decision // the goroutine's batch, reused
}

// queued is a batch of decisions, or a function to run once everything
// queued before it is applied.
type queued struct {
	ds   []state.Decision
	then func()
}

func newEnforceQueue(apply func([]state.Decision)) *enforceQueue {
	q := &enforceQueue{apply: apply}
	q.roomy.L = &q.mu
	return q
}

// push queues ds, which the queue owns from now on; it waits while the
// queue is full.
func (q *enforceQueue) push(ds []state.Decision) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.unapplied >= enforceQueueMost {
		q.roomy.Wait()
	}
	q.unapplied += len(ds)
	q.add(queued{ds: ds})
}

// then runs fn once every decision queued before is applied: on the
// queue's goroutine, or at once on the caller's when nothing waits.
func (q *enforceQueue) then(fn func()) {
	q.mu.Lock()
	if !q.running {
		q.mu.Unlock()
		fn()
		return
	}
	q.add(queued{then: fn})
	q.mu.Unlock()
}

// wait returns once every decision queued before is applied.
func (q *enforceQueue) wait() {
	done := make(chan struct{})
	q.then(func() { close(done) })
	<-done
}

// add queues it and starts the goroutine if it is not running. Called
// with q.mu held.
func (q *enforceQueue) add(it queued) {
	q.items = append(q.items, it)
	if !q.running {
		q.running = true
		go q.work()
	}
}

// work applies what is queued, all of it at each turn, until nothing is.
func (q *enforceQueue) work() {
	var taken []queued
	for {
		q.mu.Lock()
		if len(q.items) == 0 {
			q.running = false
			q.mu.Unlock()
			return
		}
		taken, q.items = q.items, taken[:0]
		q.mu.Unlock()
		n := 0 // decisions in q.buf
		for _, it := range taken {
			if it.then == nil {
				q.buf = append(q.buf, it.ds...)
				n += len(it.ds)
				continue
			}
			q.flush(n)
			n = 0
			it.then()
		}
		q.flush(n)
		clear(taken)
	}
}

// flush applies the batch gathered, n decisions, in one call.
func (q *enforceQueue) flush(n int) {
	if len(q.buf) > 0 {
		q.apply(q.buf)
		clear(q.buf) // their lines
		q.buf = q.buf[:0]
	}
	q.mu.Lock()
	q.unapplied -= n
	q.roomy.Broadcast()
	q.mu.Unlock()
}

// splitEnforcer parts e into the enforcers that only stage messages for
// the next commit (the NATS ban events, the fleet's share: applied on the
// runner goroutine, so a decision's messages are stored with it) and the
// ones that act (the firewall, exec actions, mail: applied by the queue),
// each as e is shaped (one enforcer, or a Multi), so that their errors are
// counted as e's are. Either is nil when there is none.
func splitEnforcer(e enforce.Enforcer) (staging, acting enforce.Enforcer) {
	m, ok := e.(enforce.Multi)
	if !ok {
		if stages(e) {
			return e, nil
		}
		return nil, e
	}
	var s, a enforce.Multi
	for _, x := range m {
		if stages(x) {
			s = append(s, x)
		} else {
			a = append(a, x)
		}
	}
	if len(s) > 0 {
		staging = s
	}
	if len(a) > 0 {
		acting = a
	}
	return staging, acting
}

// stages reports whether e holds an enforcer that stages messages.
func stages(e enforce.Enforcer) bool {
	return len(enforce.Outboxes(e)) > 0
}

// enforcePending hands the decisions taken since the last call to the
// enforcers, in one batch: the staging ones at once, the acting ones
// through the queue, where the firewall applies a wave of bans in a few
// netlink transactions instead of one each (a kernel commit costs
// milliseconds, whatever its size).
func (r *runner) enforcePending() {
	if len(r.toEnforce) == 0 {
		return
	}
	ds := r.toEnforce
	r.toEnforce, r.sinceDecision = make([]state.Decision, 0, cap(ds)), 0
	if r.staging != nil {
		r.enforceFailed(r.staging.Apply(context.Background(), ds))
	}
	if r.acting != nil {
		r.enforcing.push(ds)
	}
}

// applyActing applies ds with the acting enforcers; on the queue's
// goroutine.
func (r *runner) applyActing(ds []state.Decision) {
	r.enforceFailed(r.acting.Apply(context.Background(), ds))
}

// enforceFailed counts and logs each error of an Apply (one per enforcer
// that failed, or each of a lone enforcer's).
func (r *runner) enforceFailed(err error) {
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		r.enforceErrors.Add(1)
		r.log.Error("enforcing", "err", e)
	}
}
