package state

import (
	"hash/fnv"
	"net/netip"
	"time"
)

// What a tracker hands to the store and takes back at start, so a restart
// does not start a pipeline over: its windows, its totals (fail2ban's
// "Total failed", "Total banned") and the last failure lines of the
// prefixes being counted, which a later ban carries (ban events, the mail
// action). The store (state/store) keeps them; the tracker never sees it.

// WindowChange is one key's window as a commit writes it: the failure
// times, or nil when the key is no longer counted.
type WindowChange struct {
	Key   netip.Addr // the counted prefix's address (see Tracker.PrefixOf)
	Times []int64    // Unix nanoseconds
}

// Totals are a pipeline's cumulative counters.
type Totals struct {
	Failed  uint64 `json:"failed"`
	Banned  uint64 `json:"banned"`
	Ignored uint64 `json:"ignored"`
	Stale   uint64 `json:"stale"`
}

// LinesChange is one prefix's remembered lines as a commit writes them, or
// nil Lines when the prefix's lines are forgotten (taken by a ban, evicted).
type LinesChange struct {
	Prefix netip.Prefix
	Lines  []string
	// Marks are the lines' marks, one each; nil when none are known (the
	// lines of a store an older logjail wrote).
	Marks []LineMark
}

// LineMark is what `logjail explain` tells of a remembered failure line
// besides its text: when the failure happened and which failregex
// matched it. The zero LineMark knows nothing (a line stored by an older
// logjail).
type LineMark struct {
	// Time is the failure's time as the window counted it.
	Time time.Time
	// Regex is the index of the failregex that matched; NoRegex for a
	// failure recognised before the pipeline's filter (a fleet node's,
	// another pipeline's ban for recidive).
	Regex int
	// RegexSum is a checksum of that failregex's text (see RegexSum), so
	// that a line matched before the filter changed is told apart.
	RegexSum uint32
}

// NoRegex is LineMark.Regex of a failure no failregex matched here.
const NoRegex = -1

// Known reports whether the mark holds anything.
func (m LineMark) Known() bool { return !m.Time.IsZero() }

// RegexSum is the checksum LineMark.RegexSum holds of a failregex's text
// (FNV-1a, 32 bits).
func RegexSum(regex string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(regex))
	return h.Sum32()
}

// Totals returns the tracker's cumulative counters.
func (t *Tracker) Totals() Totals {
	return Totals{Failed: t.stats.TotalFailed, Banned: t.stats.TotalBanned, Ignored: t.stats.Ignored, Stale: t.stats.Stale}
}

// LoadTotals takes over stored counters (at start, after Restore, or from
// the tracker a reload replaces). Bans restored into the tracker are among
// the stored total already, so it only ever grows to cover them.
func (t *Tracker) LoadTotals(c Totals) {
	t.stats.TotalFailed = c.Failed
	t.stats.TotalBanned = max(c.Banned, t.stats.TotalBanned)
	t.stats.Ignored = c.Ignored
	t.stats.Stale = c.Stale
}

// TakeWindowChanges returns the windows changed since the last call.
func (t *Tracker) TakeWindowChanges() []WindowChange {
	var out []WindowChange
	t.window.TakeDirty(func(k [16]byte, times []int64) {
		out = append(out, WindowChange{Key: netip.AddrFrom16(k).Unmap(), Times: times})
	})
	return out
}

// LoadWindows puts back stored windows (at start).
func (t *Tracker) LoadWindows(ws []WindowChange) {
	for _, w := range ws {
		t.window.Load(w.Key.As16(), w.Times)
	}
}

// Failing lists the prefixes being counted with their failures within
// findtime before now.
func (t *Tracker) Failing(now time.Time) map[netip.Prefix]int {
	out := map[netip.Prefix]int{}
	t.window.Each(now, func(k [16]byte, n int) {
		if n > 0 {
			out[t.PrefixOf(netip.AddrFrom16(k).Unmap())] = n
		}
	})
	return out
}

// FailingOf returns the failures within findtime before now of addr's
// counting prefix (see PrefixOf): one window, not the whole of Failing.
func (t *Tracker) FailingOf(addr netip.Addr, now time.Time) int {
	return t.window.Count(t.PrefixOf(addr).Addr(), now)
}
