package daemon

import (
	"github.com/logjail/logjail/pipelines"
	"github.com/logjail/logjail/state"
	"github.com/logjail/logjail/state/gate"
)

// status returns the pipeline's counters, policy and active bans (status
// PIPELINE) without its sources, publishers and mailers: on the runner
// goroutine, or once it has ended (a stopped pipeline, see withStopped).
func (r *runner) status() (st PipelineStatus, active state.Bans) {
	ts := r.stages.Tracker.Stats()
	st = PipelineStatus{
		Pipeline:      r.name,
		State:         stateRunning,
		Uncommitted:   r.uncommitted,
		CommitErrors:  r.commitErrors,
		RefusedByGate: map[string]uint64{},
		Filter: FilterStatus{
			CurrentlyFailed:    ts.CurrentlyFailed,
			TotalFailed:        ts.TotalFailed,
			Matched:            r.matched,
			Missed:             r.missed,
			Ignored:            r.ignored,
			BadAddress:         r.badAddr,
			IgnoredAddress:     ts.Ignored,
			Stale:              ts.Stale,
			Shared:             r.shared,
			TimedOut:           r.timedOut,
			RegexTimeouts:      r.regexTimeouts,
			ConnectionsEvicted: r.connEvicted,
		},
		Actions: ActionStatus{
			CurrentlyBanned: ts.CurrentlyBanned,
			TotalBanned:     ts.TotalBanned,
			EnforceErrors:   r.enforceErrors.Load(),
			Banned:          []string{},
			Bans:            []Ban{},
		},
		Sources: []SourceStatus{},
	}
	for _, why := range gate.Reasons {
		st.RefusedByGate[string(why)] = ts.Refused[why]
	}
	active = r.stages.Tracker.Snapshot() // sorted and written off the runner
	pol := r.stages.Tracker.Policy()
	st.Actions.BanTime = pipelines.FormatDuration(pol.BanTime)
	if inc := pol.Increment; inc != nil {
		st.Actions.Increment = inc.String()
	}
	return st, active
}

// stoppedStatus is status of a stopped pipeline (see withStopped).
func (d *Daemon) stoppedStatus(name string) (st PipelineStatus, active state.Bans, ok bool) {
	ok = d.withStopped(name, func(r *runner) { st, active = r.status() })
	st.State = stateStopped
	return st, active, ok
}
