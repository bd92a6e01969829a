package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/logjail/logjail/enforce"
	"github.com/logjail/logjail/state"
	"github.com/logjail/logjail/state/gate"
	"github.com/logjail/logjail/state/store"
)

// committer stores a pipeline's changes in one transaction: the state
// store (a test's may fail when told to).
type committer interface {
	Commit(pipeline string, c *store.Changes) error
}

// commitBatch is what one commit stores: the changes the runner handed
// over, the acknowledgements of the entries that caused them, and how many
// processed entries it settles. A failed commit's batch stays, and the
// next hand-over appends to it: its changes go in front of the newer ones,
// which win (a later position, window or totals replaces it).
type commitBatch struct {
	changes store.Changes
	acks    []func()
	entries uint64
}

// empty reports whether committing b has nothing to store nor to
// acknowledge.
func (b *commitBatch) empty() bool {
	return b.changes.Empty() && len(b.acks) == 0
}

// reset empties b after its commit, keeping its buffers for the next.
func (b *commitBatch) reset() {
	c := &b.changes
	clear(c.Positions)
	c.Windows, c.Decisions = truncate(c.Windows), truncate(c.Decisions)
	c.Outbox, c.Lines, c.Totals = truncate(c.Outbox), truncate(c.Lines), nil
	b.acks, b.entries = truncate(b.acks), 0
}

// truncate empties s, dropping what its elements refer to.
func truncate[S ~[]E, E any](s S) S {
	clear(s)
	return s[:0]
}

// commit stores, in one transaction, the positions of the processed
// entries with the windows and bans they produced, then acknowledges the
// entries that asked for it: an entry is acknowledged only after what it
// caused is stored. After a crash the store holds positions and state that
// match, so re-reading neither loses nor double-counts a failure.
// It waits for the commit (handOver does not): the stop, a reload and the
// manual decisions report what was stored.
func (r *runner) commit() error {
	r.handOver()
	if !r.committing {
		return nil
	}
	err := <-r.committed
	r.settle(err)
	return err
}

// handOver gives what the runner gathered since the last hand-over to a
// commit on a goroutine of its own, and goes on with empty buffers. One
// commit runs at a time: a hand-over waits for the one running.
func (r *runner) handOver() {
	r.enforcePending() // the staged messages of the decisions go with them
	if r.committing {
		r.settle(<-r.committed)
	}
	r.committedAt, r.handOverDue = time.Now(), false
	b := r.batch
	r.gatherInto(b)
	if b.empty() {
		r.settle(nil)
		return
	}
	r.committing = true
	go func() {
		err := r.commits.Commit(r.name, &b.changes)
		if err == nil {
			for _, o := range r.outboxes {
				o.Committed()
			}
			for _, ack := range b.acks {
				ack()
			}
		}
		r.committed <- err
	}()
}

// commitDue hands the changes over as the commit schedule asks, or, while
// a commit is being made, as soon as it is stored: the runner goes on
// meanwhile.
func (r *runner) commitDue(sched *commitSchedule) {
	if r.committing {
		r.handOverDue = true
		return
	}
	r.handOver()
	sched.committed()
}

// gatherInto appends to b what the runner gathered since the last hand-over.
func (r *runner) gatherInto(b *commitBatch) {
	c := &b.changes
	if c.Positions == nil {
		c.Positions = map[string][]byte{}
	}
	for k, v := range r.dirty {
		c.Positions[k] = v
	}
	clear(r.dirty)
	c.Windows = append(c.Windows, r.stages.Tracker.TakeWindowChanges()...)
	c.Decisions = append(c.Decisions, r.pending.Decisions...)
	c.Lines = append(c.Lines, r.lines.changes()...)
	if t := r.stages.Tracker.Totals(); t != r.storedTotals {
		c.Totals, r.storedTotals = &t, t
	}
	for _, o := range r.outboxes {
		c.Outbox = append(c.Outbox, o.TakeOutbox()...)
	}
	r.pending.Decisions = truncate(r.pending.Decisions)
	b.acks = append(b.acks, r.acks...)
	r.acks = truncate(r.acks)
	b.entries = r.uncommitted
}

// settle takes the outcome of the commit of r.batch: stored, the batch
// is emptied for the next; failed, it is counted, logged, and kept for the
// next hand-over.
func (r *runner) settle(err error) {
	r.committing = false
	if err != nil {
		r.commitFailed(err)
		return
	}
	r.uncommitted -= r.batch.entries
	r.batch.reset()
}

// commitLogEvery rate-limits the log of a failing store: a full disk fails
// every commit, twenty a second.
const commitLogEvery = time.Minute

// commitFailed counts a failed commit and logs it, at most once per
// commitLogEvery.
func (r *runner) commitFailed(err error) {
	r.commitErrors++
	if now := time.Now(); now.Sub(r.commitLogged) >= commitLogEvery {
		r.commitLogged = now
		r.log.Error("committing state", "err", err, "failed_commits", r.commitErrors)
	}
}

// banByHand bans prefix by hand for dur (see Tracker.PlanBan), unless the
// gate refuses it: why names the rule then. The whole gate is asked here,
// its last rule included, the ignorecommand, which runs a program the
// tracker never runs. The ban is stored before it is confirmed (see
// decideManual).
func (r *runner) banByHand(prefix netip.Prefix, dur time.Duration) (ban state.Decision, why gate.Reason, err error) {
	tr := r.stages.Tracker
	prefix = gate.Canonical(prefix)
	if ban, why = tr.PlanBan(prefix, dur, "manual", r.now(), tr.Gate().Admit(prefix)); why != "" {
		return state.Decision{}, why, nil
	}
	return ban, "", r.decideManual([]state.Decision{ban})
}

// decideManual carries out decisions asked for on the control socket (ban,
// unban) so that what the client is told is what holds: they are stored
// first, in their own transaction with their NATS messages, and only then
// recorded in the tracker and given to the firewall and the other
// enforcers, after every decision taken before them. When the store fails
// nothing changed anywhere (tracker, kernel, fleet) and the error says so.
// Whatever was pending is committed before, so a stored manual unban is
// never undone by an older ban committed after it.
func (r *runner) decideManual(ds []state.Decision) error {
	if len(ds) == 0 {
		return nil
	}
	if err := r.commit(); err != nil {
		return fmt.Errorf("the state store cannot commit, nothing was changed: %w", err)
	}
	c := store.Changes{Decisions: ds}
	// Outboxed enforcers only stage messages: staged here, they are
	// written with the decisions, and dropped unsent if that fails.
	r.eachManual(r.staging, ds)
	for _, o := range r.outboxes {
		c.Outbox = append(c.Outbox, o.TakeOutbox()...)
	}
	if err := r.commits.Commit(r.name, &c); err != nil {
		r.commitFailed(err)
		return fmt.Errorf("the state store cannot commit, nothing was changed: %w", err)
	}
	for _, o := range r.outboxes {
		o.Committed()
	}
	r.record(ds)
	// Stored: when an enforcer fails, the firewall watch and the next
	// start repair the kernel from the store.
	r.enforcing.then(func() { r.eachManual(r.acting, ds) })
	r.enforcing.wait()
	// The windows the bans settled and the totals; failing here loses
	// nothing the client was told (the next commits retry).
	r.handOver()
	return nil
}

// record enters stored manual decisions in the tracker and the log.
func (r *runner) record(ds []state.Decision) {
	for _, d := range ds {
		switch d.Kind {
		case state.Ban:
			r.stages.Tracker.Record(d)
			r.log.Info("ban", "addr", prefixText(d), "until", untilText(d), "reason", d.Reason)
			if r.onBan != nil && d.Origin == "" {
				r.onBan(d)
			}
		case state.Unban:
			r.stages.Tracker.Lift(d)
			r.log.Info("unban", "addr", prefixText(d), "reason", d.Reason)
			r.unbans++
		}
	}
}

// eachManual applies manual decisions with each enforcer of e (nil: none),
// an error counted once per enforcer that failed.
func (r *runner) eachManual(e enforce.Enforcer, ds []state.Decision) {
	if e == nil {
		return
	}
	enforce.Each(e, func(x enforce.Enforcer) {
		if err := x.Apply(context.Background(), ds); err != nil {
			r.enforceErrors.Add(1)
			r.log.Error("enforcing", "err", err)
		}
	})
}

// commitSchedule groups the commits of processed entries: the first entry
// after a commit arms it for commitDelay later; while entries keep waiting
// it waits until busyCommitDelay after the last commit, and once the queue
// empties past its time it is made at once.
type commitSchedule struct {
	timer *time.Timer
	armed bool      // a commit is due
	due   time.Time // when, as first armed
}

func newCommitSchedule() *commitSchedule {
	t := time.NewTimer(commitDelay)
	t.Stop()
	return &commitSchedule{timer: t}
}

// processed is told that entries were applied; it reports whether to
// commit now.
func (c *commitSchedule) processed(idle bool, now time.Time) bool {
	if !c.armed {
		c.armed, c.due = true, now.Add(commitDelay)
		c.timer.Reset(commitDelay)
		return false
	}
	return idle && !now.Before(c.due)
}

// fired is told the timer fired; it reports whether to commit now, or
// waits longer while entries are waiting.
func (c *commitSchedule) fired(idle bool, now, committedAt time.Time) bool {
	if wait := committedAt.Add(busyCommitDelay).Sub(now); !idle && wait > 0 {
		c.timer.Reset(wait)
		return false
	}
	return true
}

// committed disarms the schedule after a commit.
func (c *commitSchedule) committed() {
	c.armed = false
	c.timer.Stop()
}
