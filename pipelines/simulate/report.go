package simulate

import (
	"time"

	"github.com/logjail/logjail/state"
)

// Report is what a simulation found; as JSON (logjail simulate --json) its
// schema is stable and its lists are never null.
type Report struct {
	// Logs are the LOGs read, in the order given.
	Logs []LogSummary `json:"logs"`
	// Pipelines are the pipelines simulated, in the configuration's order.
	Pipelines []PipelineSummary `json:"pipelines"`
	// Bans are the bans decided, in the order of their times.
	Bans []Ban `json:"bans"`
}

// LogSummary is one LOG as it was read.
type LogSummary struct {
	Path string `json:"path"`
	// Lines counts its physical lines; Skipped those the file source
	// skips (longer than max_line).
	Lines   int `json:"lines"`
	Skipped int `json:"skipped"`
}

// PipelineSummary is one pipeline's counts.
type PipelineSummary struct {
	Pipeline string `json:"pipeline"`
	// Logs are the LOGs it read ([] for a pipeline that reads no log);
	// Follows the pipelines whose bans count as its failures (recidive).
	Logs    []string `json:"logs"`
	Follows []string `json:"follows"`
	// Lines are the lines its filter ran on; Matched those it recognised
	// as a failure of an address.
	Lines   uint64 `json:"lines"`
	Matched uint64 `json:"matched"`
	// Failures are the failures counted: matched lines and the bans of
	// the pipelines it follows.
	Failures uint64 `json:"failures"`
	// Refused counts the failures the gate refused, per rule (ignoreip,
	// ignoreself, ignorecommand, not_host, ...).
	Refused map[string]uint64 `json:"refused"`
	Bans    uint64            `json:"bans"`
}

// Ban is one ban the configuration would have decided.
type Ban struct {
	Pipeline string `json:"pipeline"`
	// Addr and Prefix are what is banned, as in ban events: an address
	// (prefix 32 or 128) or, with ipv4_prefix or ipv6_prefix, the network
	// starting at Addr.
	Addr   string `json:"addr"`
	Prefix int    `json:"prefix"`
	// Time is the log time of the failure that decided the ban; Until is
	// when it ends (null for a permanent ban) and BanTimeS its length in
	// seconds (-1 for ever), bantime_increment applied.
	Time     time.Time  `json:"time"`
	Until    *time.Time `json:"until"`
	BanTimeS int64      `json:"bantime_s"`
	// BanCount counts the address's bans in the simulation, this one
	// included; Failures the failures in the window that decided it.
	BanCount int    `json:"ban_count"`
	Failures int    `json:"failures"`
	Reason   string `json:"reason"`
	// Lines are the address's last failure lines, as a ban carries them
	// (at most maxretry, and 50).
	Lines []Line `json:"lines"`
}

// Line is a failure line: its LOG and 1-based line number there, or, for
// a ban of a followed pipeline, an empty log and line 0.
type Line struct {
	Log  string `json:"log"`
	Line int    `json:"line"`
	Text string `json:"text"`
}

// banOf is the report of decision d.
func banOf(d state.Decision, lines []Line) Ban {
	b := Ban{
		Pipeline: d.Pipeline,
		Addr:     d.Prefix.Addr().String(),
		Prefix:   d.Prefix.Bits(),
		Time:     d.Time.UTC(),
		BanTimeS: -1,
		BanCount: d.BanCount,
		Failures: d.Failures,
		Reason:   d.Reason,
		Lines:    lines,
	}
	if b.Lines == nil {
		b.Lines = []Line{}
	}
	if !d.Permanent() {
		until := d.Until.UTC()
		b.Until = &until
		b.BanTimeS = int64(d.Until.Sub(d.Time) / time.Second)
	}
	return b
}
