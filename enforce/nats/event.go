// Package nats publishes logjail's decisions to NATS: ban events in the
// DESIGN.md schema (the `nats` enforcer) and, for fleet mode, any message a
// pipeline stages. Messages go through the state store's outbox, written in
// the same transaction as the state that produced them, so neither a crash
// nor an unreachable server loses one.
package nats

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/logjail/logjail/state"
	"github.com/logjail/logjail/state/store"
)

// Event is a ban event as published (one JSON object per decision).
type Event struct {
	Type     string     `json:"type"` // "ban" or "unban"
	Pipeline string     `json:"pipeline"`
	Addr     string     `json:"addr"`
	Prefix   int        `json:"prefix"`
	Time     time.Time  `json:"time"`
	Until    *time.Time `json:"until"`     // null for a permanent ban (and for an unban)
	BantimeS int64      `json:"bantime_s"` // -1 for a permanent ban, 0 for an unban
	Failures int        `json:"failures"`
	BanCount int        `json:"ban_count"`
	Reason   string     `json:"reason,omitempty"`
	Origin   string     `json:"origin"`
	Lines    []string   `json:"lines"`
	// Received is when the NATS server stored the event (set by a
	// consumer, not published).
	Received time.Time `json:"-"`
}

// Bounds on what an event carries, so one stays far below NATS's default
// 1 MiB payload limit whatever the logs contain.
const (
	maxEventLines    = 20
	maxEventLineSize = 2048
)

// NewEvent describes d; origin names the deciding node when d does not.
func NewEvent(d state.Decision, origin string) Event {
	e := Event{
		Type:     "ban",
		Pipeline: d.Pipeline,
		Addr:     d.Prefix.Addr().String(),
		Prefix:   d.Prefix.Bits(),
		Time:     d.Time.UTC(),
		Failures: d.Failures,
		BanCount: d.BanCount,
		Reason:   d.Reason,
		Origin:   origin,
		Lines:    []string{},
	}
	if d.Origin != "" {
		e.Origin = d.Origin
	}
	if d.Kind == state.Unban {
		e.Type = "unban"
		return e
	}
	if d.Permanent() {
		e.BantimeS = -1
	} else {
		u := d.Until.UTC()
		e.Until = &u
		e.BantimeS = int64(d.Until.Sub(d.Time).Round(time.Second) / time.Second)
	}
	lines := d.Lines
	if len(lines) > maxEventLines {
		lines = lines[len(lines)-maxEventLines:]
	}
	for _, l := range lines {
		if len(l) > maxEventLineSize {
			l = l[:maxEventLineSize]
		}
		e.Lines = append(e.Lines, l)
	}
	return e
}

// MsgID identifies the event for JetStream's deduplication: the same
// decision published twice (a retry, a replay of the outbox after a crash)
// has the same id.
func (e Event) MsgID() string {
	return e.Origin + "|" + e.Type + "|" + e.Pipeline + "|" + e.Addr + "/" + strconv.Itoa(e.Prefix) + "|" + strconv.FormatInt(e.Time.UnixNano(), 10)
}

// Record is the event as an outbox record for sink.
func (e Event) Record(sink, subject string) store.OutboxRecord {
	data, _ := json.Marshal(e) // plain types: cannot fail
	return store.OutboxRecord{Sink: sink, Subject: subject, MsgID: e.MsgID(), Header: map[string]string{HeaderOrigin: e.Origin}, Data: data}
}

// HeaderOrigin carries the deciding node, so subscribers can filter
// without decoding.
const HeaderOrigin = "Logjail-Origin"
