package state

import (
	"net/netip"
	"time"

	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/state/gate"
)

func failure(addr string, at time.Time) match.Failure {
	return match.Failure{Pipeline: "sshd", Addr: netip.MustParseAddr(addr), Time: at, Line: "line of " + addr}
}

// failThroughGate hands f to tr as the daemon's runner does: Fail, then,
// when a ban is due, Decide with the whole gate's answer.
func failThroughGate(tr *Tracker, f match.Failure, now time.Time) (Decision, bool) {
	c, full := tr.Fail(f, now)
	if !full {
		return Decision{}, false
	}
	return tr.Decide(c, tr.Gate().Admit(gate.Single(c.Addr)))
}

// banThroughGate bans prefix by hand as the daemon does: the whole gate's
// answer, then Ban.
func banThroughGate(tr *Tracker, prefix netip.Prefix, dur time.Duration, now time.Time) (Decision, gate.Reason) {
	p := gate.Canonical(prefix)
	return tr.Ban(p, dur, "manual", now, tr.Gate().Admit(p))
}

// adoptThroughGate adopts a fleet ban as the daemon does: PlanAdopt, then,
// for a ban new here, Adopt with the whole gate's answer.
func adoptThroughGate(tr *Tracker, d Decision, now time.Time) (Decision, bool) {
	a, ok := tr.PlanAdopt(d, now)
	if !ok {
		return Decision{}, false
	}
	return tr.Adopt(a, tr.Gate().Admit(a.Prefix))
}
