package state

import (
	"net/netip"
	"time"

	"github.com/logjail/logjail/state/gate"
)

// Bans decided elsewhere: a fleet node's bans, adopted here once the gate
// lets them through, never longer than this pipeline would ban.

// adoptSlack is how much later a ban decided elsewhere must end than the
// active one to be adopted over it.
const adoptSlack = time.Minute

// Adoption is a ban decided elsewhere (another node of the fleet) that
// this pipeline adopts once the gate's last rule, the ignorecommand, has
// let its prefix through (see PlanAdopt and Adopt).
type Adoption struct {
	// Prefix is the ban's prefix (canonical): the one the whole gate is
	// asked about.
	Prefix netip.Prefix
	d      Decision
}

// PlanAdopt takes a ban decided elsewhere, with its own until, and returns
// the Adoption to decide; false when the prefix is refused by the gate's
// rules (the ignorecommand aside), already banned at least as long
// (nothing to do), or the ban is over.
//
// The ignorecommand runs a program: the tracker runs none. The caller asks
// the whole gate about the adoption's prefix, once and only for a ban that
// is new here, and hands the answer to Adopt:
//
//	if a, ok := tr.PlanAdopt(d, now); ok {
//		d, ok := tr.Adopt(a, tr.Gate().Admit(a.Prefix))
//	}
func (t *Tracker) PlanAdopt(d Decision, now time.Time) (Adoption, bool) {
	d.Prefix = canonical(d.Prefix)
	d.Kind, d.Pipeline, d.Fleet = Ban, t.policy.Pipeline, true
	// The gate, after unmapping: never wider than this pipeline bans (a
	// /0 from a confused or hostile publisher would cut the host off),
	// never a non-host address, a NATS server, nor one this pipeline
	// ignores.
	if why := t.rules.Check(d.Prefix); why != "" {
		t.refuse(d.Prefix, why)
		return Adoption{}, false
	}
	// Never longer than this pipeline would ban, nor decided in our future.
	if d.Time.After(now) {
		d.Time = now
	}
	if longest := t.policy.LongestBan(); longest > 0 && (d.Permanent() || d.Until.After(now.Add(longest))) {
		d.Until = now.Add(longest)
	}
	if !d.Permanent() && !d.Until.After(now) {
		return Adoption{}, false
	}
	// Already covered by a ban here (its own or its counting prefix's);
	// nodes banning the same attacker at about the same time decide bans
	// that end a moment apart, so only a real extension is adopted.
	if t.banned(d.Prefix.Addr(), t.PrefixOf(d.Prefix.Addr())) {
		if old, ok := t.active.get(d.Prefix); !ok || old.Permanent() || (!d.Permanent() && old.Until.Add(adoptSlack).After(d.Until)) {
			return Adoption{}, false
		}
	}
	return Adoption{Prefix: d.Prefix, d: d}, true
}

// Adopt records an adoption of PlanAdopt, given the whole gate's answer
// about its prefix (why, "" to let it through), and returns the decision
// to enforce; false when the gate refused it (counted).
func (t *Tracker) Adopt(a Adoption, why gate.Reason) (Decision, bool) {
	if !a.d.Prefix.IsValid() {
		return Decision{}, false // not one of PlanAdopt's
	}
	if why != "" {
		t.refuse(a.d.Prefix, why)
		return Decision{}, false
	}
	t.add(a.d)
	return a.d, true
}

// LongestBan is the longest ban the policy decides; 0 when unbounded
// (permanent bans, or an increment without maxtime).
func (p Policy) LongestBan() time.Duration {
	if p.BanTime <= 0 {
		return 0
	}
	if inc := p.Increment; inc != nil {
		if inc.MaxTime <= 0 {
			return 0
		}
		return max(p.BanTime, inc.MaxTime+inc.RndTime)
	}
	return p.BanTime
}
