// Package enforce applies the state stage's decisions: to the kernel firewall
// (enforce/nftables), or only to the log (dry run).
package enforce

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/logjail/logjail/state"
	"github.com/logjail/logjail/state/store"
)

// Enforcer applies decisions. Ban and Unban are idempotent: banning a banned
// prefix refreshes its remaining time, unbanning an absent one succeeds.
type Enforcer interface {
	// Ban blocks d.Prefix for d.Pipeline until d.Until (forever when zero).
	Ban(ctx context.Context, d state.Decision) error
	// Unban lifts the ban of d.Prefix for d.Pipeline.
	Unban(ctx context.Context, d state.Decision) error
	// Reconcile makes the enforcer's view of pipeline equal active: missing
	// bans are added with their remaining time at now, others removed.
	Reconcile(ctx context.Context, pipeline string, active []state.Decision, now time.Time) error
}

// Repairer is an enforcer whose state another program can change behind
// logjail's back: the kernel firewall (nft flush ruleset, a firewall reload,
// an element deleted by hand). The firewall watch calls Repair often; an
// enforcer that only acts on decisions (exec, NATS, mail) is no Repairer,
// so its commands never run again for bans they already applied.
type Repairer interface {
	// Repair makes the enforcer's view of pipeline equal active at now.
	Repair(ctx context.Context, pipeline string, active []state.Decision, now time.Time) error
}

// Repair repairs every Repairer within e and leaves the other enforcers
// alone.
func Repair(ctx context.Context, e Enforcer, pipeline string, active []state.Decision, now time.Time) error {
	var errs []error
	Each(e, func(x Enforcer) {
		if r, ok := x.(Repairer); ok {
			errs = append(errs, r.Repair(ctx, pipeline, active, now))
		}
	})
	return errors.Join(errs...)
}

// Batcher is an enforcer that applies many decisions at once (nftables: one
// netlink transaction), far faster than one by one.
type Batcher interface {
	// Apply applies ds in order.
	Apply(ctx context.Context, ds []state.Decision) error
}

// ApplyAll applies ds to e in order: in batches when e can, else one by one.
func ApplyAll(ctx context.Context, e Enforcer, ds []state.Decision) error {
	if b, ok := e.(Batcher); ok {
		return b.Apply(ctx, ds)
	}
	var errs []error
	for _, d := range ds {
		switch d.Kind {
		case state.Ban:
			errs = append(errs, e.Ban(ctx, d))
		case state.Unban:
			errs = append(errs, e.Unban(ctx, d))
		}
	}
	return errors.Join(errs...)
}

// Apply applies ds to every enforcer, each independently.
func (m Multi) Apply(ctx context.Context, ds []state.Decision) error {
	var errs []error
	for _, e := range m {
		errs = append(errs, ApplyAll(ctx, e, ds))
	}
	return errors.Join(errs...)
}

// Outboxed is an enforcer whose decisions become messages (NATS ban
// events): Ban and Unban stage them, the pipeline writes them with its state
// at its next commit, so a crash loses none, and then calls Committed so
// they are sent.
type Outboxed interface {
	TakeOutbox() []store.OutboxRecord
	Committed()
}

// Each calls fn for every enforcer within e: e itself, or each of a
// Multi's, however nested.
func Each(e Enforcer, fn func(Enforcer)) {
	if m, ok := e.(Multi); ok {
		for _, x := range m {
			Each(x, fn)
		}
		return
	}
	fn(e)
}

// Outboxes lists the Outboxed enforcers within e.
func Outboxes(e Enforcer) []Outboxed {
	var out []Outboxed
	Each(e, func(x Enforcer) {
		if o, ok := x.(Outboxed); ok {
			out = append(out, o)
		}
	})
	return out
}

// DryRun logs decisions and touches nothing.
type DryRun struct {
	Log *slog.Logger
}

// Ban logs the ban.
func (e DryRun) Ban(_ context.Context, d state.Decision) error {
	e.Log.Debug("dry-run ban", "pipeline", d.Pipeline, "addr", d.Prefix.String(), "until", untilText(d), "reason", d.Reason)
	return nil
}

// Unban logs the unban.
func (e DryRun) Unban(_ context.Context, d state.Decision) error {
	e.Log.Debug("dry-run unban", "pipeline", d.Pipeline, "addr", d.Prefix.String(), "reason", d.Reason)
	return nil
}

// Reconcile logs how many bans would be restored.
func (e DryRun) Reconcile(_ context.Context, pipeline string, active []state.Decision, _ time.Time) error {
	e.Log.Info("dry-run reconcile", "pipeline", pipeline, "active", len(active))
	return nil
}

func untilText(d state.Decision) string {
	if d.Permanent() {
		return "permanent"
	}
	return d.Until.UTC().Format(time.RFC3339)
}

// Multi applies every decision to several enforcers (nftables and exec),
// each independently: one failing does not stop the others.
type Multi []Enforcer

// Ban bans in every enforcer.
func (m Multi) Ban(ctx context.Context, d state.Decision) error {
	var errs []error
	for _, e := range m {
		errs = append(errs, e.Ban(ctx, d))
	}
	return errors.Join(errs...)
}

// Unban unbans in every enforcer.
func (m Multi) Unban(ctx context.Context, d state.Decision) error {
	var errs []error
	for _, e := range m {
		errs = append(errs, e.Unban(ctx, d))
	}
	return errors.Join(errs...)
}

// Reconcile reconciles every enforcer.
func (m Multi) Reconcile(ctx context.Context, pipeline string, active []state.Decision, now time.Time) error {
	var errs []error
	for _, e := range m {
		errs = append(errs, e.Reconcile(ctx, pipeline, active, now))
	}
	return errors.Join(errs...)
}
