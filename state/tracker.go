package state

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/logjail/logjail/match"
	"github.com/logjail/logjail/state/gate"
)

// PermanentBan is the BanTime of bans that never expire.
const PermanentBan time.Duration = -1

// Policy is one pipeline's ban policy.
type Policy struct {
	Pipeline string
	MaxRetry int
	FindTime time.Duration
	BanTime  time.Duration // PermanentBan for ever
	IgnoreIP []netip.Prefix
	// Self are the host's own addresses (ignoreself), followed live, kept
	// apart from IgnoreIP so that a refusal can name the setting
	// responsible; nil when ignoreself is off.
	Self gate.Addresses
	// Servers are the NATS servers logjail uses: never banned, or
	// logjail would cut itself off; nil for none.
	Servers gate.Addresses
	// IgnoreCheck, when set, is asked before a ban (fail2ban's
	// ignorecommand): true means the address is never banned. It is the
	// gate's last rule (gate.Rules.Command). It runs a program, which the
	// tracker never does: its callers ask it (see Fail, PlanBan and
	// PlanAdopt).
	IgnoreCheck func(netip.Addr) bool
	MaxTracked  int
	// IPv4Prefix and IPv6Prefix are the prefix lengths failures are
	// counted and bans are decided by: an attacker rotating addresses
	// inside its /64 is one offender with ipv6_prefix 64. 0 means the
	// whole address (32, 128).
	IPv4Prefix, IPv6Prefix int
	// Increment lengthens the bans of prefixes banned before (fail2ban's
	// bantime.increment); nil for fixed ban times.
	Increment *Increment
	// DBPurgeAge is how long the store keeps a pipeline's ban history
	// (fail2ban's dbpurgeage); the tracker does not use it, the store's
	// purge does.
	DBPurgeAge time.Duration
}

// History answers how often a prefix was banned before: the store's ban
// history, consulted when a ban is decided. Count returns the ban count of
// the history records of pipeline that overlap p (contain it or lie in it);
// with all, the records of every pipeline.
type History interface {
	Count(pipeline string, p netip.Prefix, all bool) (int, error)
}

// Stats are a pipeline's counters, like fail2ban-client status.
type Stats struct {
	CurrentlyFailed int    // addresses with failures in the window
	TotalFailed     uint64 // failures seen (ignored and old ones included)
	Ignored         uint64 // failures of ignoreip addresses
	Stale           uint64 // failures older than findtime when read: counted, never banned
	CurrentlyBanned int
	TotalBanned     uint64
	// HistoryErrors counts bans decided without their history (the store
	// failed to answer): they got the count and time of a first ban.
	HistoryErrors uint64
	// Refused counts the addresses the gate refused (failures, manual
	// bans, fleet bans, restored bans), per rule.
	Refused map[gate.Reason]uint64
}

// rules is the policy's gate.
func (p Policy) rules() gate.Rules {
	return gate.Rules{IPv4Bits: p.IPv4Prefix, IPv6Bits: p.IPv6Prefix, Servers: p.Servers, Self: p.Self, IgnoreIP: p.IgnoreIP, Command: p.IgnoreCheck}
}

// Tracker is one pipeline's state: the failure window and the active bans.
// It is owned by the pipeline's goroutine and never reads the clock.
type Tracker struct {
	policy Policy
	rules  gate.Rules
	window *Window
	active activeBans
	// nextExpiry is no later than the earliest end of an active ban (zero
	// when none ends): Expire walks the bans, a million after a flood,
	// only once it has come, not at every tick.
	nextExpiry time.Time
	stats      Stats
	history    History
	rnd        func() float64
	// refused counts the gate's refusals; lastRefused is the latest, for
	// the log.
	refused     map[gate.Reason]uint64
	lastRefused Refusal
	// reasons holds the Reason texts of the bans decided, by failures
	// (nearly always maxretry): a flood's bans share one string instead
	// of formatting one each.
	reasons map[int]string
}

// Refusal is an address the gate refused, and why.
type Refusal struct {
	Prefix netip.Prefix
	Reason gate.Reason
}

// NewTracker returns an empty tracker, without history (every ban is a
// first ban) until SetHistory.
func NewTracker(p Policy) *Tracker {
	return &Tracker{
		policy:  p,
		rules:   p.rules(),
		refused: map[gate.Reason]uint64{},
		window:  NewWindow(p.MaxRetry, p.FindTime, p.MaxTracked),
		active:  newActiveBans(),
		rnd:     rand.Float64,
	}
}

// SetHistory gives the tracker the ban history it counts earlier bans in
// (the daemon passes its *Store). Call it before the first failure.
func (t *Tracker) SetHistory(h History) { t.history = h }

// SetRand replaces the random source of rndtime (a number in [0, 1)); for
// tests.
func (t *Tracker) SetRand(f func() float64) { t.rnd = f }

// Policy returns the tracker's policy.
func (t *Tracker) Policy() Policy { return t.policy }

// Ignored reports whether the gate refuses addr (its ignorecommand
// aside, which only the caller of a ban decision asks: see Fail).
func (t *Tracker) Ignored(addr netip.Addr) bool {
	return t.rules.Check(gate.Single(addr)) != ""
}

// refuse counts a refusal of the gate.
func (t *Tracker) refuse(p netip.Prefix, why gate.Reason) {
	t.refused[why]++
	t.lastRefused = Refusal{Prefix: p, Reason: why}
}

// LastRefused is the latest address the gate refused.
func (t *Tracker) LastRefused() Refusal { return t.lastRefused }

// PrefixOf returns the prefix the failures of addr are counted and banned
// by: addr masked to ipv4_prefix or ipv6_prefix.
func (t *Tracker) PrefixOf(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap()
	bits := addr.BitLen()
	switch {
	case addr.Is4() && t.policy.IPv4Prefix > 0:
		bits = min(bits, t.policy.IPv4Prefix)
	case addr.Is6() && t.policy.IPv6Prefix > 0:
		bits = min(bits, t.policy.IPv6Prefix)
	}
	p, _ := addr.WithZone("").Prefix(bits)
	return p
}

// banned reports whether failures of addr are already covered by a ban:
// its counting prefix's, or its own address's.
func (t *Tracker) banned(addr netip.Addr, prefix netip.Prefix) bool {
	if t.active.has(prefix) {
		return true
	}
	return !prefix.IsSingleIP() && t.active.has(netip.PrefixFrom(addr, addr.BitLen()))
}

// earlier returns the number of earlier bans of p in the history.
func (t *Tracker) earlier(p netip.Prefix) int {
	if t.history == nil {
		return 0
	}
	all := t.policy.Increment != nil && t.policy.Increment.OverallJails
	n, err := t.history.Count(t.policy.Pipeline, p, all)
	if err != nil {
		t.stats.HistoryErrors++
		return 0
	}
	return max(n, 0)
}

// banTime is the duration of a ban with n earlier bans.
func (t *Tracker) banTime(n int) time.Duration {
	return t.policy.Increment.BanTime(t.policy.BanTime, n, t.rnd)
}

// Candidate is a failure that completed maxretry failures within
// findtime: a ban once the gate's last rule, the ignorecommand, has let its
// address through (see Fail and Decide).
type Candidate struct {
	// Addr is the failing address (unmapped, without a zone): the one
	// the ignorecommand is asked about.
	Addr     netip.Addr
	prefix   netip.Prefix
	failures int
	line     string
	now      time.Time
}

// Fail counts failure f, read at now, and returns a Candidate when it
// completes maxretry failures within findtime. Failures are counted per
// prefix (see PrefixOf). An address the gate refuses is not counted. A
// failure dated in the future (a remote clock running ahead) counts as
// now; one already older than findtime at now (an old log read for the
// first time) is counted but never bans.
//
// Fail asks the gate every rule but the ignorecommand, which runs a
// program: the tracker runs none. The caller asks it about the
// candidate's address, once, and hands the answer to Decide:
//
//	if c, full := tr.Fail(f, now); full {
//		d, ok := tr.Decide(c, tr.Gate().Admit(gate.Single(c.Addr)))
//	}
func (t *Tracker) Fail(f match.Failure, now time.Time) (Candidate, bool) {
	t.stats.TotalFailed++
	addr := f.Addr.Unmap().WithZone("")
	if why := t.rules.Check(gate.Single(addr)); why != "" {
		t.refuseFailure(addr, why)
		return Candidate{}, false
	}
	prefix := t.PrefixOf(addr)
	if t.banned(addr, prefix) {
		return Candidate{}, false // lines still in flight from a banned address
	}
	at := f.Time
	if at.After(now) {
		at = now
	}
	if now.Sub(at) > t.policy.FindTime {
		t.stats.Stale++
		return Candidate{}, false
	}
	n, full := t.window.Add(prefix.Addr(), at)
	if !full {
		return Candidate{}, false
	}
	return Candidate{Addr: addr, prefix: prefix, failures: n, line: f.Line, now: now}, true
}

// Decide bans a candidate of Fail, given the gate's answer about its
// address (why, "" to let it through): a refused address is counted and
// not banned. The ban is the prefix's; but a prefix the gate refuses (one
// holding an ignoreip address, say) is never banned whole: the offending
// address alone is. The ban lasts bantime, incremented by the prefix's
// earlier bans in the history.
func (t *Tracker) Decide(c Candidate, why gate.Reason) (Decision, bool) {
	if why != "" {
		t.refuseFailure(c.Addr, why)
		return Decision{}, false
	}
	prefix := c.prefix
	if !prefix.IsSingleIP() && t.rules.Check(prefix) != "" {
		prefix = gate.Single(c.Addr)
	}
	earlier := t.earlier(prefix)
	d := Decision{
		Kind:     Ban,
		Pipeline: t.policy.Pipeline,
		Prefix:   prefix,
		Time:     c.now,
		Failures: c.failures,
		BanCount: earlier + 1,
		Reason:   t.reason(c.failures),
		Lines:    []string{c.line},
	}
	if dur := t.banTime(earlier); dur != PermanentBan {
		d.Until = c.now.Add(dur)
	}
	t.add(d)
	return d, true
}

// reason is the Reason of a ban decided after n failures.
func (t *Tracker) reason(n int) string {
	r, ok := t.reasons[n]
	if !ok {
		r = fmt.Sprintf("%d failures within %s", n, shortDuration(t.policy.FindTime))
		if t.reasons == nil || len(t.reasons) >= 64 {
			t.reasons = map[int]string{} // bounded: failures can exceed maxretry
		}
		t.reasons[n] = r
	}
	return r
}

// refuseFailure counts a failure of addr the gate refused; a refusal of
// an ignore rule counts as ignored too (fail2ban's count).
func (t *Tracker) refuseFailure(addr netip.Addr, why gate.Reason) {
	t.refuse(gate.Single(addr), why)
	if why == gate.IgnoreIP || why == gate.IgnoreSelf || why == gate.IgnoreCommand {
		t.stats.Ignored++
	}
}

// Gate returns the tracker's gate, its ignorecommand included (see Fail).
func (t *Tracker) Gate() *gate.Rules { return &t.rules }

// Ban bans prefix by hand for dur (PermanentBan for ever; 0 for the
// pipeline's bantime, incremented by the prefix's earlier bans), given the
// whole gate's answer about it (see PlanBan). Banning an already banned
// prefix renews its time and keeps its ban count. A prefix the gate
// refuses is not banned: the rule that refused it is returned.
func (t *Tracker) Ban(prefix netip.Prefix, dur time.Duration, reason string, now time.Time, why gate.Reason) (Decision, gate.Reason) {
	d, why := t.PlanBan(prefix, dur, reason, now, why)
	if why != "" {
		return Decision{}, why
	}
	t.Record(d)
	return d, ""
}

// PlanBan returns the ban Ban would decide without recording it: a manual
// ban is stored first and recorded (Record) only once the store has it. A
// prefix the gate refuses gets no decision, and the rule that refused it.
//
// why is the whole gate's answer about prefix, asked by the caller: its
// last rule, the ignorecommand, runs a program, and the tracker runs
// none. The tracker asks the other rules again whatever the answer, so no
// caller can slip a refused prefix past them:
//
//	p := gate.Canonical(prefix)
//	d, why := tr.PlanBan(p, dur, "manual", now, tr.Gate().Admit(p))
func (t *Tracker) PlanBan(prefix netip.Prefix, dur time.Duration, reason string, now time.Time, why gate.Reason) (Decision, gate.Reason) {
	prefix = canonical(prefix)
	if why == "" {
		why = t.rules.Check(prefix)
	}
	if why != "" {
		t.refuse(prefix, why)
		return Decision{}, why
	}
	d := Decision{Kind: Ban, Pipeline: t.policy.Pipeline, Prefix: prefix, Time: now, Reason: reason}
	if old, ok := t.active.get(prefix); ok {
		d.BanCount = old.BanCount
		d.Failures = old.Failures
	} else {
		d.BanCount = t.earlier(prefix) + 1
	}
	if dur == 0 {
		dur = t.banTime(d.BanCount - 1)
	}
	if dur != PermanentBan {
		d.Until = now.Add(dur)
	}
	return d, ""
}

// Record makes a ban from PlanBan active.
func (t *Tracker) Record(d Decision) {
	// The failures counted towards this prefix are settled by the ban.
	if counted := t.PrefixOf(d.Prefix.Addr()); d.Prefix.Bits() <= counted.Bits() {
		t.window.Forget(counted.Addr())
	}
	t.add(d)
}

func (t *Tracker) add(d Decision) {
	if !t.active.has(d.Prefix) {
		t.stats.TotalBanned++
	}
	t.active.put(d)
	t.noteExpiry(d)
}

// noteExpiry lowers nextExpiry to d's end.
func (t *Tracker) noteExpiry(d Decision) {
	if !d.Permanent() && (t.nextExpiry.IsZero() || d.Until.Before(t.nextExpiry)) {
		t.nextExpiry = d.Until
	}
}

// BanOf returns prefix's active ban.
func (t *Tracker) BanOf(prefix netip.Prefix) (Decision, bool) {
	return t.active.get(canonical(prefix))
}

// Unban lifts prefix's ban; false when it was not banned. A single address
// that is not banned itself lifts the narrowest ban that covers it (the
// /64 its failures were counted in), so `unban ADDR` works for prefix bans.
func (t *Tracker) Unban(prefix netip.Prefix, reason string, now time.Time) (Decision, bool) {
	d, ok := t.PlanUnban(prefix, reason, now)
	if ok {
		t.Lift(d)
	}
	return d, ok
}

// PlanUnban returns the unban Unban would decide without lifting the ban.
func (t *Tracker) PlanUnban(prefix netip.Prefix, reason string, now time.Time) (Decision, bool) {
	prefix = canonical(prefix)
	old, ok := t.active.get(prefix)
	if !ok && prefix.IsSingleIP() {
		t.active.each(func(d Decision) {
			if d.Prefix.Contains(prefix.Addr()) && (!ok || d.Prefix.Bits() > old.Prefix.Bits()) {
				old, ok = d, true
			}
		})
	}
	if !ok {
		return Decision{}, false
	}
	old.Kind, old.Time, old.Reason, old.Fleet = Unban, now, reason, false
	return old, true
}

// Lift ends the ban of an unban from PlanUnban.
func (t *Tracker) Lift(d Decision) { t.active.remove(d.Prefix) }

// Expire lifts the bans whose time is up at now and forgets stale windows.
func (t *Tracker) Expire(now time.Time) []Decision {
	var out []Decision
	if !t.nextExpiry.IsZero() && !t.nextExpiry.After(now) {
		t.nextExpiry = time.Time{}
		t.active.each(func(d Decision) {
			if !d.Permanent() && !d.Until.After(now) {
				t.active.remove(d.Prefix)
				d.Kind, d.Time, d.Reason = Unban, now, "expired"
				out = append(out, d)
				return
			}
			t.noteExpiry(d)
		})
	}
	t.window.Expire(now)
	return out
}

// Restore loads bans kept in the store (at start, and bans imported into
// it). Bans that expired meanwhile, and those the gate refuses now (its
// ignorecommand aside: a restart does not run it for every ban), are
// returned so the caller can lift them everywhere; a refused one's Reason
// starts with RefusedReason.
func (t *Tracker) Restore(bans []Decision, now time.Time) (lifted []Decision) {
	for _, d := range bans {
		d.Prefix = canonical(d.Prefix)
		if !d.Permanent() && !d.Until.After(now) {
			d.Kind, d.Time, d.Reason = Unban, now, "expired while stopped"
			lifted = append(lifted, d)
			continue
		}
		if why := t.rules.Check(d.Prefix); why != "" {
			t.refuse(d.Prefix, why)
			d.Kind, d.Time, d.Reason = Unban, now, RefusedReason+string(why)
			lifted = append(lifted, d)
			continue
		}
		t.add(d)
	}
	return lifted
}

// RefusedReason starts the Reason of a stored ban the gate refused.
const RefusedReason = "refused by the gate: "

// Active returns the active bans, ordered by prefix.
func (t *Tracker) Active() []Decision {
	out := t.ActiveUnsorted()
	SortByPrefix(out)
	return out
}

// ActiveUnsorted returns the active bans in no order: the copy is all the
// tracker's goroutine has to make; the caller sorts (SortByPrefix) on its
// own, which for a million bans takes longer than the copy.
func (t *Tracker) ActiveUnsorted() []Decision {
	out := make([]Decision, 0, t.active.len())
	t.active.each(func(d Decision) { out = append(out, d) })
	return out
}

// SortByPrefix orders ds by prefix: by address, the shorter prefix first.
func SortByPrefix(ds []Decision) {
	slices.SortFunc(ds, func(a, b Decision) int { return comparePrefixes(a.Prefix, b.Prefix) })
}

// Snapshot returns the active bans as they are now, to read on another
// goroutine: it costs the tracker's goroutine a few microseconds however
// many bans there are (see activeBans).
func (t *Tracker) Snapshot() Bans { return t.active.snapshot() }

// Stats returns the counters.
func (t *Tracker) Stats() Stats {
	s := t.stats
	s.CurrentlyFailed = t.window.Len()
	s.CurrentlyBanned = t.active.len()
	s.Refused = maps.Clone(t.refused)
	return s
}

// canonical unmaps IPv4-mapped IPv6, drops a zone and masks the host bits.
func canonical(p netip.Prefix) netip.Prefix { return gate.Canonical(p) }

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
