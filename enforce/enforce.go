// Package enforce applies the state stage's decisions: to the kernel firewall
// (enforce/nftables), to commands (enforce/exec), to ban events
// (enforce/nats), to mail (enforce/mail), or only to the log (dry run).
package enforce

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/logjail/logjail/state"
	"github.com/logjail/logjail/state/store"
)

// Enforcer is one enforcer of one pipeline, for the pipeline's life: built
// when the pipeline starts, started once with the bans it holds, given
// every decision after, stopped when the pipeline stops or is reloaded
// (after the pipeline's last commit). Start and Apply are idempotent per
// decision: banning a banned prefix refreshes its remaining time,
// unbanning an absent one succeeds.
type Enforcer interface {
	// Start begins enforcing with the bans active at now (restored from
	// the store, or carried over by a reload). What that means is the
	// enforcer's: the firewall makes its sets hold exactly active, an exec
	// action runs its start command and bans each again (the external
	// system may have lost them, as fail2ban re-bans the tickets it
	// restores), ban events and mail announce nothing (a start decides
	// nothing).
	Start(ctx context.Context, active []state.Decision, now time.Time) error
	// Apply applies ds in order; one failing does not stop the others.
	Apply(ctx context.Context, ds []state.Decision) error
	// Stop ends the enforcer: an exec action's stop command, a publisher
	// sending what it holds. Bans stay where they are enforced.
	Stop()
}

// Repairer is an enforcer whose state another program can change behind
// logjail's back: the kernel firewall (nft flush ruleset, a firewall reload,
// an element deleted by hand). The firewall watch calls Repair often; an
// enforcer that only acts on decisions (exec, NATS, mail) is no Repairer,
// so its commands never run again for bans they already applied.
type Repairer interface {
	// Repair makes the enforcer's view of its pipeline equal active at now.
	Repair(ctx context.Context, active []state.Decision, now time.Time) error
}

// Repair repairs every Repairer within e and leaves the other enforcers
// alone.
func Repair(ctx context.Context, e Enforcer, active []state.Decision, now time.Time) error {
	var errs []error
	Each(e, func(x Enforcer) {
		if r, ok := x.(Repairer); ok {
			errs = append(errs, r.Repair(ctx, active, now))
		}
	})
	return errors.Join(errs...)
}

// OneByOne applies ds in order through ban and unban, for enforcers that
// act on one decision at a time; every decision is tried.
func OneByOne(ctx context.Context, ds []state.Decision, ban, unban func(context.Context, state.Decision) error) error {
	var errs []error
	for _, d := range ds {
		switch d.Kind {
		case state.Ban:
			errs = append(errs, ban(ctx, d))
		case state.Unban:
			errs = append(errs, unban(ctx, d))
		}
	}
	return errors.Join(errs...)
}

// Outboxed is an enforcer whose decisions become messages (NATS ban
// events): Apply stages them, the pipeline writes them with its state
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

// DryRun logs one pipeline's decisions and touches nothing.
type DryRun struct {
	Pipeline string
	Log      *slog.Logger
}

// Start logs how many bans would be restored.
func (e DryRun) Start(_ context.Context, active []state.Decision, _ time.Time) error {
	e.Log.Info("dry-run reconcile", "pipeline", e.Pipeline, "active", len(active))
	return nil
}

// Apply logs the decisions.
func (e DryRun) Apply(_ context.Context, ds []state.Decision) error {
	for _, d := range ds {
		switch d.Kind {
		case state.Ban:
			e.Log.Debug("dry-run ban", "pipeline", d.Pipeline, "addr", d.Prefix.String(), "until", untilText(d), "reason", d.Reason)
		case state.Unban:
			e.Log.Debug("dry-run unban", "pipeline", d.Pipeline, "addr", d.Prefix.String(), "reason", d.Reason)
		}
	}
	return nil
}

// Stop does nothing.
func (DryRun) Stop() {}

func untilText(d state.Decision) string {
	if d.Permanent() {
		return "permanent"
	}
	return d.Until.UTC().Format(time.RFC3339)
}

// Multi is a pipeline's enforcers (nftables and exec, say), each
// independent: one failing does not stop the others.
type Multi []Enforcer

// Start starts every enforcer.
func (m Multi) Start(ctx context.Context, active []state.Decision, now time.Time) error {
	var errs []error
	for _, e := range m {
		errs = append(errs, e.Start(ctx, active, now))
	}
	return errors.Join(errs...)
}

// Apply applies ds to every enforcer.
func (m Multi) Apply(ctx context.Context, ds []state.Decision) error {
	var errs []error
	for _, e := range m {
		errs = append(errs, e.Apply(ctx, ds))
	}
	return errors.Join(errs...)
}

// Stop stops every enforcer, in order.
func (m Multi) Stop() {
	for _, e := range m {
		e.Stop()
	}
}
