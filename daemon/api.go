package daemon

import (
	"time"

	"github.com/logjail/logjail/daemon/buildinfo"
	"github.com/logjail/logjail/ingest"
	"github.com/logjail/logjail/state"
)

// The control API's JSON documents: the stable schema of `--json` output.

// PipelineStatus is `logjail status PIPELINE --json`.
type PipelineStatus struct {
	Pipeline string `json:"pipeline"`
	// State is running, or stopped (logjail stop): its sources and
	// matching stopped, its bans kept.
	State string `json:"state"`
	// Overrides are the values logjail set changed, by key, until the
	// next reload or restart; {} when none.
	Overrides map[string]any `json:"overrides"`
	// Uncommitted counts processed entries whose source positions are not
	// stored yet (they are, within 50ms).
	Uncommitted uint64 `json:"uncommitted"`
	// CommitErrors counts commits the state store refused (disk full, I/O
	// errors); what they held is retried at the next commit.
	CommitErrors uint64         `json:"commit_errors"`
	Sources      []SourceStatus `json:"sources"`
	Filter       FilterStatus   `json:"filter"`
	Actions      ActionStatus   `json:"actions"`
	// RefusedByGate counts the addresses the gate refused (failures,
	// manual, fleet and restored bans), per rule: not_host, too_wide,
	// nats_server, ignoreself, ignoreip, ignorecommand.
	RefusedByGate map[string]uint64 `json:"refused_by_gate"`
	// Publishers are the pipeline's NATS publishers (ban events, fleet).
	Publishers []PublisherStatus `json:"publishers,omitempty"`
	// Mailers are the pipeline's mail enforcers (shared ones count for
	// every pipeline that uses them).
	Mailers []MailerStatus `json:"mailers,omitempty"`
}

// MailerStatus describes a mail enforcer.
type MailerStatus struct {
	Sent       int64  `json:"sent"`
	Failed     int64  `json:"failed"`
	Queued     int64  `json:"queued"`
	Suppressed int64  `json:"suppressed"`
	Dropped    int64  `json:"dropped"`
	LastError  string `json:"last_error,omitempty"`
}

// PublisherStatus describes a NATS publisher and its on-disk outbox.
type PublisherStatus struct {
	Sink    string `json:"sink"`
	State   string `json:"state"`
	Sent    uint64 `json:"sent"`
	Pending int    `json:"pending"`
	Dropped uint64 `json:"dropped"`
	Errors  uint64 `json:"errors"`
}

// SourceStatus describes one source.
type SourceStatus struct {
	Watching string `json:"watching"`
	Read     uint64 `json:"read"`
	Skipped  uint64 `json:"skipped"`
	Dropped  uint64 `json:"dropped"`
	Errors   uint64 `json:"errors"`
	// State is the source's health: reading, waiting, unavailable or
	// error (see ingest.State); Reason says why.
	State  string `json:"state,omitempty"`
	Reason string `json:"reason,omitempty"`
	// LastEntry is when the source last delivered an entry; absent when
	// it has not since logjail started.
	LastEntry *time.Time `json:"last_entry,omitempty"`
	// Rejected counts records refused by policy (syslog senders outside
	// allow, connections beyond max_connections or
	// max_connections_per_peer); HandshakeFailures failed or timed-out TLS
	// handshakes of a listener.
	Rejected          uint64 `json:"rejected"`
	HandshakeFailures uint64 `json:"tls_handshake_failures"`
}

// sourceStatus describes src.
func sourceStatus(src ingest.Source) SourceStatus {
	s := src.Stats()
	st := SourceStatus{Watching: src.Describe(), Read: s.Read, Skipped: s.Skipped, Dropped: s.Dropped, Errors: s.Errors,
		State: string(s.State), Reason: s.Reason, Rejected: s.Rejected, HandshakeFailures: s.HandshakeFailures}
	if !s.LastEntry.IsZero() {
		t := s.LastEntry.UTC()
		st.LastEntry = &t
	}
	return st
}

// FilterStatus is the match and window side, like fail2ban-client's "Filter".
type FilterStatus struct {
	CurrentlyFailed int    `json:"currently_failed"`
	TotalFailed     uint64 `json:"total_failed"`
	Matched         uint64 `json:"matched"`
	Missed          uint64 `json:"missed"`
	Ignored         uint64 `json:"ignored"`
	BadAddress      uint64 `json:"bad_address"`
	IgnoredAddress  uint64 `json:"ignoreip_failures"`
	Stale           uint64 `json:"stale_failures"`
	// Shared counts failures other nodes of the fleet recognised.
	Shared uint64 `json:"fleet_failures"`
	// TimedOut counts lines that matched nothing because a regex on the
	// backtracking engine ran out of time on them (not in Missed).
	TimedOut uint64 `json:"timed_out"`
	// RegexTimeouts counts regex matches that ran out of time (a line can
	// count more than once).
	RegexTimeouts uint64 `json:"regex_timeouts"`
	// ConnectionsEvicted counts the connections a filter tracking them
	// (<F-MLFID>) dropped from its full table before their time.
	ConnectionsEvicted uint64 `json:"connections_evicted"`
}

// ActionStatus is the ban side, like fail2ban-client's "Actions".
type ActionStatus struct {
	CurrentlyBanned int      `json:"currently_banned"`
	TotalBanned     uint64   `json:"total_banned"`
	EnforceErrors   uint64   `json:"enforce_errors"`
	Banned          []string `json:"banned"`
	// Bans details every active ban (until, ban count).
	Bans []Ban `json:"bans"`
	// BanTime is the pipeline's bantime; Increment describes
	// bantime_increment ("" when off).
	BanTime   string `json:"bantime"`
	Increment string `json:"increment,omitempty"`
}

// Status is `logjail status --json`.
type Status struct {
	Pipelines []string `json:"pipelines"`
	// Failed lists enabled pipelines that could not start, with the reason.
	Failed map[string]string `json:"failed,omitempty"`
	// Stopped lists the pipelines logjail stop stopped (not in Pipelines).
	Stopped []string `json:"stopped,omitempty"`
	// FirewallRestores counts the times logjail rebuilt its nftables table
	// after another program flushed or changed it.
	FirewallRestores uint64 `json:"firewall_restores"`
	// StoreError, when set, says why the state store refuses writes (bbolt
	// panicked on a damaged page): bans are enforced but not kept.
	StoreError string `json:"store_error,omitempty"`
	// Build is the daemon's build (its version); absent in a reload's
	// answer, and from a daemon older than the field.
	Build *buildinfo.Info `json:"build,omitempty"`
}

// Pong is `logjail ping --json`: the daemon answered, and its build.
type Pong struct {
	Build buildinfo.Info `json:"build"`
}

// Ban is one active ban, in `logjail banned --json`.
type Ban struct {
	Pipeline string     `json:"pipeline"`
	Addr     string     `json:"addr"`
	Time     time.Time  `json:"time"`
	Until    *time.Time `json:"until"` // null when permanent
	// RemainingS is the seconds left; -1 for a permanent ban.
	RemainingS int64  `json:"remaining_s"`
	Failures   int    `json:"failures"`
	BanCount   int    `json:"ban_count"`
	Reason     string `json:"reason"`
	// Origin is the fleet node that decided the ban; empty for this one.
	Origin string `json:"origin,omitempty"`
	// PipelineStopped tells that the pipeline is stopped (logjail stop):
	// the ban stays enforced, and unban lifts it.
	PipelineStopped bool `json:"pipeline_stopped,omitempty"`
}

// BanRequest is the body of POST /ban.
type BanRequest struct {
	Pipeline string `json:"pipeline"`
	Addr     string `json:"addr"`
	// For is a duration in fail2ban's units; empty for the pipeline's bantime, "-1" for ever.
	For string `json:"for,omitempty"`
}

// UnbanRequest is the body of POST /unban.
type UnbanRequest struct {
	Addr     string `json:"addr,omitempty"`
	Pipeline string `json:"pipeline,omitempty"` // empty: every pipeline
	// All lifts every ban (of Pipeline, or of every pipeline); Addr is empty then.
	All bool `json:"all,omitempty"`
}

// UnbanResult lists the pipelines the address was unbanned from.
type UnbanResult struct {
	Addr      string   `json:"addr,omitempty"`
	Pipelines []string `json:"pipelines"`
	// Count is the number of bans lifted.
	Count int `json:"count"`
}

func banOf(d state.Decision, now time.Time) Ban {
	b := Ban{
		Pipeline:   d.Pipeline,
		Addr:       prefixText(d),
		Time:       d.Time.UTC(),
		RemainingS: -1,
		Failures:   d.Failures,
		BanCount:   d.BanCount,
		Reason:     d.Reason,
		Origin:     d.Origin,
	}
	if !d.Permanent() {
		u := d.Until.UTC()
		b.Until = &u
		b.RemainingS = int64(d.Remaining(now).Round(time.Second) / time.Second)
	}
	return b
}

// prefixText writes a single address without its /32 or /128.
func prefixText(d state.Decision) string {
	if d.Prefix.IsSingleIP() {
		return d.Prefix.Addr().String()
	}
	return d.Prefix.String()
}
