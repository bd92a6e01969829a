package state

import "time"

// Reconfigure adopts a changed policy (a reload) when its windows can be
// kept: same maxretry, findtime and cap. Bantime, ignoreip and the like
// change in place, and the active bans the new gate refuses (an address
// added to ignoreip, say; its ignorecommand aside, as at a restart) are
// lifted and returned, each Reason starting with RefusedReason, so the
// caller lifts them everywhere. It reports false when the windows cannot
// be kept; the caller then starts a new tracker and restores the bans into
// it (Restore, which checks them the same way).
func (t *Tracker) Reconfigure(p Policy, now time.Time) (lifted []Decision, kept bool) {
	old := t.policy
	if p.Pipeline != old.Pipeline || p.MaxRetry != old.MaxRetry || p.FindTime != old.FindTime || p.MaxTracked != old.MaxTracked ||
		p.IPv4Prefix != old.IPv4Prefix || p.IPv6Prefix != old.IPv6Prefix {
		return nil, false
	}
	t.policy, t.rules = p, p.rules()
	for _, d := range t.Active() {
		if why := t.rules.Check(d.Prefix); why != "" {
			t.refuse(d.Prefix, why)
			t.active.remove(d.Prefix)
			d.Kind, d.Time, d.Reason = Unban, now, RefusedReason+string(why)
			lifted = append(lifted, d)
		}
	}
	return lifted, true
}
