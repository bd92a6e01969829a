package daemon

import (
	"testing"
	"time"
)

// The commit schedule: the first entries arm it, a quiet queue commits
// once commitDelay has passed, and a busy one waits until busyCommitDelay
// after the last commit.
func TestCommitSchedule(t *testing.T) {
	t0 := time.Now()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	for _, tc := range []struct {
		name string
		// steps: processed (timer false) or fired (timer true), idle or
		// busy, when; want is whether to commit then.
		steps []step
	}{
		{"quiet log: committed when the timer fires", []step{
			{at: 0, idle: true, want: false},
			{timer: true, at: commitDelay, idle: true, want: true},
		}},
		{"the queue empties past the due time: at once", []step{
			{at: 0, idle: false, want: false},
			{at: commitDelay / 2, idle: true, want: false},
			{at: commitDelay + time.Millisecond, idle: true, want: true},
		}},
		{"busy: waits for busyCommitDelay after the last commit", []step{
			{at: 0, idle: false, want: false},
			{timer: true, at: commitDelay, idle: false, want: false},
			{timer: true, at: busyCommitDelay, idle: false, want: true},
		}},
		{"busy, then quiet: committed when the timer fires", []step{
			{at: 0, idle: false, want: false},
			{timer: true, at: commitDelay, idle: false, want: false},
			{timer: true, at: 2 * commitDelay, idle: true, want: true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCommitSchedule()
			defer c.committed()
			for i, s := range tc.steps {
				var got bool
				if s.timer {
					got = c.fired(s.idle, at(s.at), t0)
				} else {
					got = c.processed(s.idle, at(s.at))
				}
				if got != s.want {
					t.Fatalf("step %d (%+v): commit %v, want %v", i, s, got, s.want)
				}
				if !c.armed {
					t.Fatalf("step %d: not armed", i)
				}
			}
		})
	}
}

type step struct {
	timer, idle, want bool
	at                time.Duration
}
