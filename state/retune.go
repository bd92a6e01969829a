package state

import (
	"maps"
	"time"
)

// Retune adopts a policy changed at run time (`logjail set`): as
// Reconfigure, the active bans the new gate refuses are lifted and
// returned; unlike it, a new maxretry or findtime keeps the failures
// counted so far, as fail2ban's `set` does: each key keeps its newest
// failures (at most maxretry-1 of them: one more failure bans), so
// lowering maxretry below a key's count bans it at its next failure. It
// reports false, changing nothing, for a change Retune cannot make in
// place (another pipeline, cap or prefix length).
func (t *Tracker) Retune(p Policy, now time.Time) (lifted []Decision, ok bool) {
	old := t.policy
	if p.Pipeline != old.Pipeline || p.MaxTracked != old.MaxTracked || p.IPv4Prefix != old.IPv4Prefix || p.IPv6Prefix != old.IPv6Prefix {
		return nil, false
	}
	if p.MaxRetry != old.MaxRetry || p.FindTime != old.FindTime {
		t.window = t.window.reshaped(p.MaxRetry, p.FindTime)
		t.policy.MaxRetry, t.policy.FindTime = p.MaxRetry, p.FindTime
	}
	return t.Reconfigure(p, now)
}

// reshaped returns a window of the same keys, in the same recency order,
// counting maxRetry failures within findTime; what the store holds of each
// key and the changes not yet taken by TakeDirty carry over.
func (w *Window) reshaped(maxRetry int, findTime time.Duration) *Window {
	nw := NewWindow(maxRetry, findTime, w.pool.Max)
	for i := w.pool.Tail; i != none; i = w.slot(i).Prev { // stalest first: the last loaded is the most recent
		s := w.slot(i)
		nw.Load(s.key, w.stamps(i)[:s.n])
		if j, ok := nw.index[s.key]; ok {
			nw.slot(j).stored, nw.slot(j).dirty = s.stored, s.dirty
		}
	}
	nw.dirty = maps.Clone(w.dirty)
	return nw
}
