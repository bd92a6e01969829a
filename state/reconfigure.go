package state

// Reconfigure adopts a changed policy (a reload) when its windows can be
// kept: same maxretry, findtime and cap. Bantime, ignoreip and the like
// change in place. It reports false when the windows cannot be kept; the
// caller then starts a new tracker and restores the bans into it.
func (t *Tracker) Reconfigure(p Policy) bool {
	old := t.policy
	if p.Pipeline != old.Pipeline || p.MaxRetry != old.MaxRetry || p.FindTime != old.FindTime || p.MaxTracked != old.MaxTracked ||
		p.IPv4Prefix != old.IPv4Prefix || p.IPv6Prefix != old.IPv6Prefix {
		return false
	}
	t.policy, t.rules = p, p.rules()
	return true
}
