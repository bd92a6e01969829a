// Package ingest defines what every log source produces: Entry values, each
// carrying the position it came from so that a consumer can commit it once
// the entry has been fully processed.
package ingest

import (
	"context"
	"net/netip"
	"time"
)

// Entry is one log record as read from a source.
type Entry struct {
	// Time is the record's own timestamp when the source supplies one
	// (journald, syslog); zero for plain text lines, whose date is found by
	// the match stage.
	Time time.Time
	// ReadAt is when the source read the record; the fallback time of a line
	// without a recognisable date.
	ReadAt time.Time
	// Host is the originating host name when the source knows it.
	Host string
	// Peer is the network address the record came from (syslog), if any.
	Peer netip.Addr
	// Message is the text the filters match: a file's line without its
	// newline; for structured sources (journald, syslog, NATS envelopes) the
	// record laid out by Layout as a syslog file line without its date,
	// "HOST TAG[PID]: MESSAGE", so one filter serves every source.
	Message string
	// Fields holds structured fields (journald, syslog, NATS envelopes)
	// when present.
	Fields map[string]string
	// Pos is the source position just after this entry.
	Pos Position
	// Recognised, when set, is a failure recognised before it reached the
	// pipeline (by another node of the fleet, or a ban another pipeline
	// decided): it is counted as it is, without matching; Message is its
	// line.
	Recognised *Recognised
	// Ack, when set, is called once the entry's effects (its failure, a ban
	// it caused, its position) are committed. Sources that redeliver
	// unacknowledged records (JetStream) acknowledge them here, so a crash
	// redelivers instead of losing.
	Ack func()
}

// Recognised is a failure that needs no filter: a failure another node of
// the fleet recognised, or a ban decided by another pipeline of this
// logjail, which a recidive pipeline counts as a failure. Its time is the
// entry's Time.
type Recognised struct {
	// Addr is the failing address (for a prefix ban, its first address).
	Addr netip.Addr
	User string
	// Fleet tells a failure another node of the fleet recognised: counted
	// as the fleet's, and never shared back. Node names that node.
	Fleet bool
	Node  string
}

// Position identifies how far a source has read. Key names the stream
// (a file path, a journal, a subject); Value is the source's own encoding of
// the position, opaque to everyone else.
type Position struct {
	Key   string
	Value []byte
}

// Source produces entries.
//
// Run blocks until ctx is done and then returns nil, or returns an error it
// cannot recover from. It never closes out (the caller owns it). Sending on
// out blocks when the consumer is busy: that is the backpressure, and a
// source that can wait (a file) must wait rather than drop.
type Source interface {
	Run(ctx context.Context, out chan<- Entry) error
	// Describe says what the source watches, for status output.
	Describe() string
	// Stats returns the source's counters.
	Stats() Stats
}

// Stats are a source's counters. They are cumulative since start.
type Stats struct {
	Read    uint64 // entries delivered
	Skipped uint64 // records that could not be delivered (bad input), counted and dropped
	Dropped uint64 // records dropped because the queue was full (only sources that cannot wait)
	Errors  uint64 // read errors (missing files, I/O errors, malformed records)
	// Rejected counts records refused by policy, not for what they hold:
	// syslog datagrams and connections from senders outside allow, and
	// connections beyond a listener's connection budgets.
	Rejected uint64
	// HandshakeFailures counts failed TLS handshakes of a listener (also
	// counted in Errors).
	HandshakeFailures uint64
	// State is the source's health (see State); Reason says why, in
	// words ("no journal files in /var/log/journal", "connected").
	State  State
	Reason string
	// LastEntry is when the source last delivered an entry; zero if it
	// has not since logjail started.
	LastEntry time.Time
}

// Positions loads positions a consumer committed earlier. A source consults
// it at start to resume where it stopped.
type Positions interface {
	// Position returns the last committed value for key, or nil.
	Position(key string) ([]byte, error)
}
