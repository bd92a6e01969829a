// Package ingest defines what every log source produces: Entry values, each
// carrying the position it came from so that a consumer can commit it once
// the entry has been fully processed.
package ingest

import (
	"context"
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
	// Message is the log line without its trailing newline.
	Message string
	// Fields holds structured fields (journald, syslog) when present.
	Fields map[string]string
	// Pos is the source position just after this entry.
	Pos Position
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
	Errors  uint64 // read errors (missing files, I/O errors)
}

// Positions loads positions a consumer committed earlier. A source consults
// it at start to resume where it stopped.
type Positions interface {
	// Position returns the last committed value for key, or nil.
	Position(key string) ([]byte, error)
}
