package daemon

import (
	"context"
	"strings"

	"github.com/logjail/logjail/state"
)

// restore loads the pipeline's stored bans, lifts those that expired while
// logjail was stopped, and makes the enforcer match the store.
func (r *runner) restore(ctx context.Context) error {
	bans, err := r.store.Bans(r.name)
	if err != nil {
		return err
	}
	windows, err := r.store.Windows(r.name)
	if err != nil {
		return err
	}
	r.stages.Tracker.LoadWindows(windows)
	now := r.now()
	for _, d := range r.stages.Tracker.Restore(bans, now) {
		if why, ok := strings.CutPrefix(d.Reason, state.RefusedReason); ok {
			// Imported, or stored before the gate or a setting refused it.
			// The enforcers' start below takes it out of the kernel.
			r.log.Warn("stored ban refused by the gate; lifted", "addr", d.Prefix.String(), "reason", why)
		} else {
			r.log.Info("ban expired while stopped", "addr", d.Prefix.String())
		}
		if err := r.store.DeleteBan(r.name, d.Prefix); err != nil {
			return err
		}
	}
	totals, err := r.store.Totals(r.name)
	if err != nil {
		r.log.Warn("stored totals unreadable; counting from zero", "err", err)
	}
	r.stages.Tracker.LoadTotals(totals)
	r.loadLines()
	active := r.stages.Tracker.Active()
	if len(active) > 0 {
		r.log.Info("restoring bans", "count", len(active))
	}
	// An enforcer that cannot restore (an exec action's server down) must
	// not keep the pipeline from starting: the bans are in the store, the
	// failure is counted and logged, and the firewall watch repairs the
	// kernel's side. Only the store's errors above are fatal.
	if err := r.enforcer.Start(ctx, active, now); err != nil {
		r.enforceErrors.Add(1)
		r.log.Error("restoring bans in an enforcer failed; the pipeline runs on", "err", err)
	}
	return nil
}

// loadLines puts back the failure lines remembered before a restart or a
// reload, so a ban decided now still carries the lines that led to it.
func (r *runner) loadLines() {
	stored, bad, err := r.store.Lines(r.name)
	if err != nil || bad > 0 {
		r.log.Warn("some remembered failure lines are unreadable; bans go on without them", "records", bad, "err", err)
	}
	r.lines.load(stored)
	r.storedTotals = r.stages.Tracker.Totals()
}
