// Package journalfields turns the fields of one systemd journal entry into
// an ingest.Entry. The journald source uses it for entries read from
// journal files, and the NATS source for entries shipped as journalctl's
// JSON, so that both lay a journal entry out, date it and bound it the same
// way.
//
// Journal fields are written by the logged programs, some of them driven by
// attackers, so every field is bounded: messages over MaxMessage bytes are
// not delivered, other fields over MaxField are left out of Entry.Fields,
// and bytes that are not UTF-8 are replaced.
package journalfields

import (
	"cmp"
	"strconv"
	"time"

	"github.com/logjail/logjail/ingest"
)

const (
	// MaxMessage is the longest MESSAGE delivered, in bytes; a source
	// skips longer entries and counts them.
	MaxMessage = 64 << 10
	// MaxField is the longest value copied into Entry.Fields; longer
	// fields (core dumps, binary blobs) are left out.
	MaxField = 4 << 10
)

// Entry builds the Entry for one journal entry from its fields, which it
// takes over (MESSAGE is removed from them, the others are bounded and
// cleaned and become Entry.Fields). The time is _SOURCE_REALTIME_TIMESTAMP
// when it is valid, else realtime (the entry's __REALTIME_TIMESTAMP; zero
// when unknown). The message is laid out as "HOST IDENT[PID]: MESSAGE"
// (ingest.Layout) from _HOSTNAME, SYSLOG_IDENTIFIER or _COMM, and
// SYSLOG_PID or _PID. It reports false when the message is longer than
// MaxMessage.
func Entry(fields map[string]string, realtime, now time.Time) (ingest.Entry, bool) {
	msg := fields["MESSAGE"]
	if len(msg) > MaxMessage {
		return ingest.Entry{}, false
	}
	delete(fields, "MESSAGE")

	t := realtime
	if v, err := strconv.ParseInt(fields["_SOURCE_REALTIME_TIMESTAMP"], 10, 64); err == nil && v > 0 {
		t = time.UnixMicro(v)
	}
	for k, v := range fields {
		if len(v) > MaxField {
			delete(fields, k)
			continue
		}
		if s := ingest.CleanField(v); s != v {
			fields[k] = s
		}
	}
	host := fields["_HOSTNAME"]
	ident := cmp.Or(fields["SYSLOG_IDENTIFIER"], fields["_COMM"])
	pid := cmp.Or(fields["SYSLOG_PID"], fields["_PID"])
	return ingest.Entry{
		Time:    t,
		ReadAt:  now,
		Host:    host,
		Message: ingest.Layout(host, ident, pid, msg),
		Fields:  fields,
	}, true
}
