package state

import (
	"net/netip"
	"time"

	"github.com/logjail/logjail/state/gate"
)

// Kind says whether a decision bans or lifts a ban.
type Kind uint8

const (
	// Ban blocks a prefix.
	Ban Kind = iota + 1
	// Unban lifts a ban.
	Unban
)

func (k Kind) String() string {
	switch k {
	case Ban:
		return "ban"
	case Unban:
		return "unban"
	}
	return "unknown"
}

// Decision is the state stage's output: ban or unban one prefix (a single
// address is a /32 or /128 prefix) for one pipeline.
type Decision struct {
	Kind     Kind
	Pipeline string
	Prefix   netip.Prefix
	// Time is when the decision was taken.
	Time time.Time
	// Until is when the ban ends; zero for a permanent ban.
	Until time.Time
	// Failures is the number of failures that led to the ban.
	Failures int
	// BanCount counts this prefix's bans in this pipeline, this one included.
	BanCount int
	// Reason is a short human text ("5 failures in 10m0s", "manual", "expired").
	Reason string
	// Lines are the log lines of the failures that led to the ban.
	Lines []string
	// Origin is the fleet node that decided the ban; empty when this
	// logjail decided it.
	Origin string
	// Fleet marks a decision adopted from the fleet (another node's ban or
	// unban): it is enforced here but never published again.
	Fleet bool
}

// HostAddress reports whether a can be banned: not unspecified, loopback,
// multicast, link-local or the IPv4 broadcast address, none of which is an
// attacker's own address (see gate.HostAddress).
func HostAddress(a netip.Addr) bool { return gate.HostAddress(a) }

// Permanent reports whether the ban never expires.
func (d Decision) Permanent() bool { return d.Until.IsZero() }

// Remaining is the time left of the ban at now; zero when expired, and zero
// as well for a permanent ban (check Permanent first).
func (d Decision) Remaining(now time.Time) time.Duration {
	if d.Until.IsZero() || !d.Until.After(now) {
		return 0
	}
	return d.Until.Sub(now)
}
