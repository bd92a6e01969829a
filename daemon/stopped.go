package daemon

import (
	"context"
	"slices"
)

// A stopped pipeline (logjail stop) keeps its runner as it ended: its
// sources and matching are gone, its tracker and enforcers stay, so its
// bans stay in the kernel. banned, explain, ban and unban reach those bans
// through the same runner and the same decision path as a running
// pipeline's (runner.decideManual: stored before reported, then enforced),
// under the lock a start takes (rt.work) instead of on the runner's
// goroutine.

// withRunner runs fn with pipeline name's runner and says whether the
// pipeline is stopped: on the runner's goroutine while it runs (see
// runner.call), under the lock a start takes while it is stopped (see
// withStopped). found is false when the pipeline neither runs nor is
// stopped.
func (d *Daemon) withRunner(ctx context.Context, name string, fn func(r *runner, stopped bool)) (found bool, err error) {
	if r, ok := d.pipeline(name); ok {
		return true, r.call(ctx, func() { fn(r, false) })
	}
	return d.withStopped(name, func(r *runner) { fn(r, true) }), nil
}

// withStopped runs fn with a stopped pipeline's runner, whose goroutine
// has ended, under the lock a start and a reload take before they take the
// runner away (rt.work, also held by the firewall watch's repair of the
// stopped pipelines): nothing else touches the runner meanwhile. First the
// bans whose time is up are expired as the runner's tick would (the
// kernel's timeouts lifted them already); after fn, the decisions it took
// are handed to the enforcers and applied, and what is pending is
// committed, so a start finds the store as the tracker is.
func (d *Daemon) withStopped(name string, fn func(r *runner)) bool {
	d.rt.work.Lock()
	defer d.rt.work.Unlock()
	s, ok := d.stopped(name)
	if !ok {
		return false
	}
	s.r.expire()
	fn(s.r)
	s.r.enforcePending()
	s.r.enforcing.wait()
	_ = s.r.commit() // a failure is counted and logged; its changes wait for the next commit
	return true
}

// expire applies the unbans of the bans whose time is up, as a tick does.
func (r *runner) expire() {
	for _, dec := range r.stages.Tracker.Expire(r.now()) {
		r.apply(dec)
	}
}

// allPipelines lists the running and the stopped pipelines, sorted.
func (d *Daemon) allPipelines() []string {
	names := append(d.pipelineNames(), d.stoppedNames()...)
	slices.Sort(names)
	return slices.Compact(names)
}

// known reports whether a pipeline runs or is stopped.
func (d *Daemon) known(name string) bool {
	if _, ok := d.pipeline(name); ok {
		return true
	}
	_, ok := d.stopped(name)
	return ok
}
