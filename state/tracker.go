package state

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/logjail/logjail/match"
)

// PermanentBan is the BanTime of bans that never expire.
const PermanentBan time.Duration = -1

// Policy is one pipeline's ban policy.
type Policy struct {
	Pipeline   string
	MaxRetry   int
	FindTime   time.Duration
	BanTime    time.Duration // PermanentBan for ever
	IgnoreIP   []netip.Prefix
	MaxTracked int
}

// Stats are a pipeline's counters, like fail2ban-client status.
type Stats struct {
	CurrentlyFailed int    // addresses with failures in the window
	TotalFailed     uint64 // failures seen (ignored and old ones included)
	Ignored         uint64 // failures of ignoreip addresses
	Stale           uint64 // failures older than findtime when read: counted, never banned
	CurrentlyBanned int
	TotalBanned     uint64
}

// Tracker is one pipeline's state: the failure window and the active bans.
// It is owned by the pipeline's goroutine and never reads the clock.
type Tracker struct {
	policy Policy
	window *Window
	active map[netip.Prefix]Decision
	stats  Stats
}

// NewTracker returns an empty tracker.
func NewTracker(p Policy) *Tracker {
	return &Tracker{
		policy: p,
		window: NewWindow(p.MaxRetry, p.FindTime, p.MaxTracked),
		active: map[netip.Prefix]Decision{},
	}
}

// Policy returns the tracker's policy.
func (t *Tracker) Policy() Policy { return t.policy }

// Ignored reports whether addr is covered by ignoreip.
func (t *Tracker) Ignored(addr netip.Addr) bool {
	for _, p := range t.policy.IgnoreIP {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Fail counts failure f, read at now, and returns a ban when it completes
// maxretry failures within findtime. A failure dated in the future (a remote
// clock running ahead) counts as now; one already older than findtime at now
// (an old log read for the first time) is counted but never bans.
func (t *Tracker) Fail(f match.Failure, now time.Time) (Decision, bool) {
	t.stats.TotalFailed++
	addr := f.Addr.Unmap()
	if t.Ignored(addr) {
		t.stats.Ignored++
		return Decision{}, false
	}
	prefix := netip.PrefixFrom(addr, addr.BitLen())
	if _, banned := t.active[prefix]; banned {
		return Decision{}, false // lines still in flight from a banned address
	}
	at := f.Time
	if at.After(now) {
		at = now
	}
	if now.Sub(at) > t.policy.FindTime {
		t.stats.Stale++
		return Decision{}, false
	}
	n, full := t.window.Add(addr, at)
	if !full {
		return Decision{}, false
	}
	d := Decision{
		Kind:     Ban,
		Pipeline: t.policy.Pipeline,
		Prefix:   prefix,
		Time:     now,
		Failures: n,
		BanCount: 1,
		Reason:   fmt.Sprintf("%d failures within %s", n, shortDuration(t.policy.FindTime)),
		Lines:    []string{f.Line},
	}
	if t.policy.BanTime != PermanentBan {
		d.Until = now.Add(t.policy.BanTime)
	}
	t.add(d)
	return d, true
}

// Ban bans prefix by hand for dur (PermanentBan for ever; 0 for the
// pipeline's bantime). Banning an already banned prefix renews its time.
func (t *Tracker) Ban(prefix netip.Prefix, dur time.Duration, reason string, now time.Time) Decision {
	if dur == 0 {
		dur = t.policy.BanTime
	}
	prefix = canonical(prefix)
	d := Decision{Kind: Ban, Pipeline: t.policy.Pipeline, Prefix: prefix, Time: now, BanCount: 1, Reason: reason}
	if old, ok := t.active[prefix]; ok {
		d.BanCount = old.BanCount
		d.Failures = old.Failures
	}
	if dur != PermanentBan {
		d.Until = now.Add(dur)
	}
	t.window.Forget(prefix.Addr())
	t.add(d)
	return d
}

func (t *Tracker) add(d Decision) {
	if _, ok := t.active[d.Prefix]; !ok {
		t.stats.TotalBanned++
	}
	t.active[d.Prefix] = d
}

// Unban lifts prefix's ban; false when it was not banned.
func (t *Tracker) Unban(prefix netip.Prefix, reason string, now time.Time) (Decision, bool) {
	prefix = canonical(prefix)
	old, ok := t.active[prefix]
	if !ok {
		return Decision{}, false
	}
	delete(t.active, prefix)
	old.Kind, old.Time, old.Reason = Unban, now, reason
	return old, true
}

// Expire lifts the bans whose time is up at now and forgets stale windows.
func (t *Tracker) Expire(now time.Time) []Decision {
	var out []Decision
	for p, d := range t.active {
		if !d.Permanent() && !d.Until.After(now) {
			delete(t.active, p)
			d.Kind, d.Time, d.Reason = Unban, now, "expired"
			out = append(out, d)
		}
	}
	t.window.Expire(now)
	return out
}

// Restore loads bans kept in the store (at start). Bans that expired
// meanwhile are returned so the caller can lift them everywhere.
func (t *Tracker) Restore(bans []Decision, now time.Time) (expired []Decision) {
	for _, d := range bans {
		d.Prefix = canonical(d.Prefix)
		if !d.Permanent() && !d.Until.After(now) {
			d.Kind, d.Time, d.Reason = Unban, now, "expired while stopped"
			expired = append(expired, d)
			continue
		}
		t.add(d)
	}
	return expired
}

// Active returns the active bans, ordered by prefix.
func (t *Tracker) Active() []Decision {
	out := make([]Decision, 0, len(t.active))
	for _, d := range t.active {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Decision) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return a.Prefix.Bits() - b.Prefix.Bits()
	})
	return out
}

// Stats returns the counters.
func (t *Tracker) Stats() Stats {
	s := t.stats
	s.CurrentlyFailed = t.window.Len()
	s.CurrentlyBanned = len(t.active)
	return s
}

// canonical unmaps IPv4-mapped IPv6 and masks the host bits.
func canonical(p netip.Prefix) netip.Prefix {
	a := p.Addr()
	bits := p.Bits()
	if a.Is4In6() {
		a = a.Unmap()
		bits -= 96
		if bits < 0 {
			bits = 0
		}
	}
	return netip.PrefixFrom(a, bits).Masked()
}

// shortDuration writes 10m rather than 10m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
