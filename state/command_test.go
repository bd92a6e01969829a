package state

import (
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/logjail/logjail/state/gate"
)

// commandSpy is an ignorecommand that passes one address and notes every
// run, and any run made from inside the tracker.
type commandSpy struct {
	pass   netip.Addr
	asked  []netip.Addr
	inside []string // the tracker methods on the stack of a run
}

func (c *commandSpy) check(a netip.Addr) bool {
	c.asked = append(c.asked, a)
	if m := trackerOnStack(); m != "" {
		c.inside = append(c.inside, m)
	}
	return a == c.pass
}

// trackerOnStack names the first method of Tracker on the caller's stack;
// "" when there is none (inlined calls are reported as their own frames).
func trackerOnStack() string {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	for {
		f, more := frames.Next()
		if strings.Contains(f.Function, "/state.(*Tracker).") {
			return f.Function
		}
		if !more {
			return ""
		}
	}
}

// runCommand runs the ignorecommand from inside the tracker, which no
// method of it may do: the spy must notice.
func (t *Tracker) runCommand(a netip.Addr) bool { return t.policy.IgnoreCheck(a) }

func TestCommandSpySeesTheTracker(t *testing.T) {
	spy := &commandSpy{}
	tr := NewTracker(Policy{Pipeline: "sshd", MaxRetry: 2, FindTime: time.Hour, BanTime: time.Hour, MaxTracked: 10, IgnoreCheck: spy.check})
	tr.runCommand(netip.MustParseAddr("203.0.113.1"))
	if len(spy.inside) != 1 || !strings.HasSuffix(spy.inside[0], ".runCommand") {
		t.Fatalf("a run from inside the tracker went unseen: %q", spy.inside)
	}
}

// The tracker runs no program on any path a ban takes: the ignorecommand
// is asked by the caller (as the daemon asks it), once per ban due, and
// its refusal counted by the tracker. A restored ban is not asked about
// (a restart does not run the command for every ban). Every other method
// runs with the ban in place, and runs no command either.
func TestTrackerRunsNoCommand(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)
	const passed, other = "203.0.113.1", "203.0.113.2"
	paths := []struct {
		name         string
		ban          func(tr *Tracker, a netip.Addr) bool
		asks         int  // runs of the command, all by the caller
		keepsIgnored bool // the path bans what the command passes
	}{
		{"log line", func(tr *Tracker, a netip.Addr) bool {
			failThroughGate(tr, failure(a.String(), t0), t0)
			_, ok := failThroughGate(tr, failure(a.String(), t0), t0)
			return ok
		}, 1, false},
		{"manual", func(tr *Tracker, a netip.Addr) bool {
			_, why := banThroughGate(tr, netip.PrefixFrom(a, a.BitLen()), 0, t0)
			return why == ""
		}, 1, false},
		{"fleet", func(tr *Tracker, a netip.Addr) bool {
			_, ok := adoptThroughGate(tr, Decision{Prefix: netip.PrefixFrom(a, a.BitLen()), Time: t0, Until: t0.Add(time.Hour), Origin: "node9"}, t0)
			return ok
		}, 1, false},
		{"restore", func(tr *Tracker, a netip.Addr) bool {
			return len(tr.Restore([]Decision{{Kind: Ban, Pipeline: "sshd", Prefix: netip.PrefixFrom(a, a.BitLen()), Time: t0, Until: t0.Add(time.Hour)}}, t0)) == 0
		}, 0, true},
	}
	for _, p := range paths {
		for _, addr := range []string{passed, "::ffff:" + passed, other} {
			t.Run(p.name+"/"+addr, func(t *testing.T) {
				spy := &commandSpy{pass: netip.MustParseAddr(passed)}
				tr := NewTracker(Policy{Pipeline: "sshd", MaxRetry: 2, FindTime: time.Hour, BanTime: time.Hour, MaxTracked: 10, IgnoreCheck: spy.check})
				a := netip.MustParseAddr(addr)
				banned := p.ban(tr, a)
				exerciseTracker(tr, a, t0)
				if len(spy.inside) != 0 {
					t.Fatalf("the tracker ran the ignorecommand from %q", spy.inside)
				}
				if len(spy.asked) != p.asks || p.asks > 0 && spy.asked[0] != a.Unmap() {
					t.Errorf("the caller asked the command about %v, want %d run(s) for %s", spy.asked, p.asks, a.Unmap())
				}
				ignored := a.Unmap() == spy.pass && !p.keepsIgnored
				if banned == ignored {
					t.Errorf("banned %v, want %v", banned, !ignored)
				}
				if n := tr.Stats().Refused[gate.IgnoreCommand]; ignored && n != 1 || !ignored && n != 0 {
					t.Errorf("ignorecommand refusals %d", n)
				}
			})
		}
	}
}

// exerciseTracker runs the tracker's other methods about a, its ban in
// place, then lifted.
func exerciseTracker(tr *Tracker, a netip.Addr, now time.Time) {
	tr.Ignored(a)
	tr.Failing(now)
	tr.BanOf(tr.PrefixOf(a))
	tr.Active()
	tr.Stats()
	tr.Restore(tr.Active(), now)
	tr.Reconfigure(tr.Policy(), time.Now())
	tr.TakeWindowChanges()
	if d, ok := tr.PlanUnban(gate.Single(a), "manual", now); ok {
		tr.Lift(d)
		tr.Record(Decision{Kind: Ban, Pipeline: d.Pipeline, Prefix: d.Prefix, Time: now, Until: now.Add(time.Minute)})
	}
	tr.Unban(gate.Single(a), "manual", now)
	tr.Expire(now.Add(2 * time.Hour))
}
