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

// commit stores, in one transaction, the positions of the processed
// entries with the windows and bans they produced, then acknowledges the
// entries that asked for it: an entry is acknowledged only after what it
// caused is stored. After a crash the store holds positions and state that
// match, so re-reading neither loses nor double-counts a failure.
func (r *runner) commit() error {
	r.enforcePending(context.Background())
	r.committedAt = time.Now()
	r.pending.Positions = r.dirty
	r.pending.Windows = append(r.pending.Windows, r.stages.Tracker.TakeWindowChanges()...)
	r.pending.Lines = append(r.pending.Lines, r.lines.changes()...)
	if t := r.stages.Tracker.Totals(); t != r.storedTotals {
		r.pending.Totals = &t
	}
	for _, o := range r.outboxes {
		r.pending.Outbox = append(r.pending.Outbox, o.TakeOutbox()...)
	}
	if err := r.store.Commit(r.name, &r.pending); err != nil {
		r.commitFailed(err)
		return err // kept, and tried again at the next commit
	}
	for _, o := range r.outboxes {
		o.Committed()
	}
	if r.pending.Totals != nil {
		r.storedTotals = *r.pending.Totals
	}
	clear(r.dirty)
	r.pending = store.Changes{}
	for _, ack := range r.acks {
		ack()
	}
	clear(r.acks)
	r.acks = r.acks[:0]
	r.uncommitted = 0
	return nil
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
// enforcers. When the store fails nothing changed anywhere (tracker,
// kernel, fleet) and the error says so. Whatever was pending is committed
// before, so a stored manual unban is never undone by an older ban
// committed after it.
func (r *runner) decideManual(ds []state.Decision) error {
	if len(ds) == 0 {
		return nil
	}
	if err := r.commit(); err != nil {
		return fmt.Errorf("the state store cannot commit, nothing was changed: %w", err)
	}
	ctx := context.Background()
	c := store.Changes{}
	for _, d := range ds {
		switch d.Kind {
		case state.Ban:
			c.Bans = append(c.Bans, d)
		case state.Unban:
			c.Unbans = append(c.Unbans, d.Prefix)
		}
	}
	// Outboxed enforcers only stage messages: staged here, they are
	// written with the decisions, and dropped unsent if that fails.
	var others []enforce.Enforcer
	enforce.Each(r.enforcer, func(e enforce.Enforcer) {
		o, ok := e.(enforce.Outboxed)
		if !ok {
			others = append(others, e)
			return
		}
		if err := e.Apply(ctx, ds); err != nil {
			r.enforceErrors++
			r.log.Error("enforcing", "err", err)
		}
		c.Outbox = append(c.Outbox, o.TakeOutbox()...)
	})
	if err := r.store.Commit(r.name, &c); err != nil {
		r.commitFailed(err)
		return fmt.Errorf("the state store cannot commit, nothing was changed: %w", err)
	}
	for _, o := range r.outboxes {
		o.Committed()
	}
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
	for _, e := range others {
		if err := e.Apply(ctx, ds); err != nil {
			// Stored: the firewall watch and the next start repair the
			// kernel from the store.
			r.enforceErrors++
			r.log.Error("enforcing", "err", err)
		}
	}
	// The windows the bans settled and the totals; failing here loses
	// nothing the client was told (the next commits retry).
	_ = r.commit()
	return nil
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
